// test_depthwise_conv.cpp — depthwise conv forward / backward-data / backward-weights against the
// plain reference loops, for every ISA this CPU runs, over strides, dilations, 'same'-style
// asymmetric padding, channel counts off the 8- and 16-lane vectors (1, 5, 9, 13, 17, 33, 70),
// multipliers 1-3 and batches past the 4-image weight chunk; bitwise equality for 1 and 2
// threads; and NaN propagating to exactly the outputs it reaches.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/depthwise_conv.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;

struct Case {
    int64_t N, H, W, C, M, R, S, SH, SW, DH, DW, PT, PB, PL, PR;
};

DepthwiseShape shape_of(const Case& c) {
    DepthwiseShape s{c.N, c.H, c.W, c.C, c.M, c.R, c.S, c.SH, c.SW, c.DH, c.DW,
                     c.PT, c.PB, c.PL, c.PR, 0, 0};
    s.P = conv2d_output_size(s.H, s.R, s.SH, s.DH, s.PT, s.PB);
    s.Q = conv2d_output_size(s.W, s.S, s.SW, s.DW, s.PL, s.PR);
    return s;
}

const std::vector<Case> kCases = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {2, 7, 6, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {3, 9, 8, 17, 1, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1},
    {5, 6, 7, 33, 1, 3, 2, 1, 1, 2, 2, 2, 2, 1, 1},
    {2, 5, 5, 70, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
    {9, 4, 4, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 6, 5, 3, 2, 3, 3, 1, 2, 1, 1, 1, 1, 0, 1},
    {1, 1, 11, 7, 3, 1, 4, 1, 3, 1, 1, 0, 0, 2, 1},
    {2, 3, 19, 13, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  // 8-pixel interior runs, channel tails
    {1, 4, 23, 9, 1, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1},   // ... with stride 2
    {1, 2, 12, 40, 1, 1, 3, 1, 1, 1, 2, 0, 0, 2, 2},  // dilated taps, whole 8- and 16-lane vectors
};

void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); i++)
        ASSERT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::fabs(want[i]))) << what << " at " << i;
}

TEST(DepthwiseConv, MatchesReferenceOnEveryIsa) {
    testing_util::Restore restore;
    for (Isa isa : testing_util::runnable_isas()) {
        set_isa(isa);
        for (const Case& c : kCases) {
            const DepthwiseShape s = shape_of(c);
            const int64_t O = s.C * s.M;
            const std::string what = std::string(isa_name(isa)) + " C" + std::to_string(s.C) +
                                     " M" + std::to_string(s.M) + " N" + std::to_string(s.N);
            auto x = random_vec(s.N * s.H * s.W * s.C, 1), w = random_vec(s.R * s.S * O, 2);
            auto b = random_vec(O, 3), dy = random_vec(s.N * s.P * s.Q * O, 4);
            std::vector<float> y(dy.size()), y_ref(dy.size());
            depthwise_conv2d_forward(y.data(), x.data(), w.data(), b.data(), s);
            depthwise_conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), s);
            expect_close(y, y_ref, "forward " + what);
            std::vector<float> dx(x.size()), dx_ref(x.size());
            depthwise_conv2d_backward_data(dx.data(), dy.data(), w.data(), s);
            depthwise_conv2d_backward_data_reference(dx_ref.data(), dy.data(), w.data(), s);
            expect_close(dx, dx_ref, "backward_data " + what);
            std::vector<float> dw(w.size()), dw_ref(w.size()), db(O), db_ref(O);
            depthwise_conv2d_backward_weights(dw.data(), db.data(), dy.data(), x.data(), s);
            depthwise_conv2d_backward_weights_reference(dw_ref.data(), db_ref.data(), dy.data(),
                                                        x.data(), s);
            expect_close(dw, dw_ref, "backward_weights " + what);
            expect_close(db, db_ref, "bias gradient " + what);
        }
    }
}

TEST(DepthwiseConv, BitIdenticalForAnyThreadCount) {
    testing_util::Restore restore;
    const DepthwiseShape s = shape_of({9, 20, 20, 40, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1});
    const int64_t O = s.C * s.M;
    auto x = random_vec(s.N * s.H * s.W * s.C, 5), w = random_vec(s.R * s.S * O, 6);
    auto dy = random_vec(s.N * s.P * s.Q * O, 7);
    for (Isa isa : testing_util::runnable_isas()) {
        set_isa(isa);
        std::vector<float> outs[2][3];
        for (int t = 0; t < 2; t++) {
            set_num_threads(t + 1);
            outs[t][0].resize(dy.size());
            outs[t][1].resize(x.size());
            outs[t][2].resize(w.size());
            depthwise_conv2d_forward(outs[t][0].data(), x.data(), w.data(), nullptr, s);
            depthwise_conv2d_backward_data(outs[t][1].data(), dy.data(), w.data(), s);
            depthwise_conv2d_backward_weights(outs[t][2].data(), nullptr, dy.data(), x.data(), s);
        }
        for (int k = 0; k < 3; k++) EXPECT_EQ(outs[0][k], outs[1][k]) << isa_name(isa) << k;
    }
}

// A NaN in x (or dy) reaches exactly the outputs whose taps read it, on every ISA: the masked
// channel tails must neither drop it nor spread it to neighbours.
TEST(DepthwiseConv, NanReachesExactlyItsOutputsOnEveryIsa) {
    testing_util::Restore restore;
    const DepthwiseShape s = shape_of({2, 3, 19, 13, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1});
    const int64_t O = s.C;
    auto x = random_vec(s.N * s.H * s.W * s.C, 8), w = random_vec(s.R * s.S * O, 9);
    auto dy = random_vec(s.N * s.P * s.Q * O, 10);
    x[((1 * s.H + 1) * s.W + 9) * s.C + 12] = NAN;  // the last (tail) channel, mid-row
    dy[((0 * s.P + 2) * s.Q + 4) * O + 3] = NAN;
    for (Isa isa : testing_util::runnable_isas()) {
        set_isa(isa);
        std::vector<float> y(dy.size()), y_ref(dy.size()), dx(x.size()), dx_ref(x.size());
        depthwise_conv2d_forward(y.data(), x.data(), w.data(), nullptr, s);
        depthwise_conv2d_forward_reference(y_ref.data(), x.data(), w.data(), nullptr, s);
        depthwise_conv2d_backward_data(dx.data(), dy.data(), w.data(), s);
        depthwise_conv2d_backward_data_reference(dx_ref.data(), dy.data(), w.data(), s);
        int nans = 0;
        for (size_t i = 0; i < y.size(); i++) {
            ASSERT_EQ(std::isnan(y[i]), std::isnan(y_ref[i])) << isa_name(isa) << " y " << i;
            nans += std::isnan(y[i]);
        }
        for (size_t i = 0; i < dx.size(); i++)
            ASSERT_EQ(std::isnan(dx[i]), std::isnan(dx_ref[i])) << isa_name(isa) << " dx " << i;
        EXPECT_EQ(nans, 9) << isa_name(isa);  // the 3x3 outputs around it
    }
}

}  // namespace
}  // namespace grebe
