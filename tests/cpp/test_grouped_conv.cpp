// test_grouped_conv.cpp — grouped conv forward / backward-data / backward-weights against the
// plain conv2d reference run group by group on sliced copies, for every ISA this CPU runs, over
// groups 1-4, strides, dilations, padding, odd channel counts and batches that span several
// lowering chunks; and bitwise equality for 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/grouped_conv.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;

struct Case {
    int64_t N, H, W, C, K, G, R, S, SH, SW, DH, DW, PT, PB, PL, PR;
};

Conv2dShape shape_of(const Case& c) {
    Conv2dShape s{c.N, c.H, c.W, c.C, c.K, c.R, c.S, c.SH, c.SW, c.DH, c.DW,
                  c.PT, c.PB, c.PL, c.PR, 0, 0};
    s.P = conv2d_output_size(s.H, s.R, s.SH, s.DH, s.PT, s.PB);
    s.Q = conv2d_output_size(s.W, s.S, s.SW, s.DW, s.PL, s.PR);
    return s;
}

// Channels [c0, c0 + n) of the last axis of a (rows, total) array.
std::vector<float> slice(const std::vector<float>& a, int64_t total, int64_t c0, int64_t n) {
    const int64_t rows = static_cast<int64_t>(a.size()) / total;
    std::vector<float> out(rows * n);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t k = 0; k < n; k++) out[i * n + k] = a[i * total + c0 + k];
    return out;
}

void unslice(std::vector<float>& a, const std::vector<float>& part, int64_t total, int64_t c0,
             int64_t n) {
    const int64_t rows = static_cast<int64_t>(a.size()) / total;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t k = 0; k < n; k++) a[i * total + c0 + k] = part[i * n + k];
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); i++)
        ASSERT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::fabs(want[i]))) << what << " at " << i;
}

const std::vector<Case> kCases = {
    {1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {2, 7, 6, 6, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {3, 9, 8, 8, 4, 4, 3, 2, 2, 2, 1, 1, 0, 1, 1, 0},
    {2, 8, 7, 10, 6, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
    {12, 24, 24, 24, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  // two lowering chunks (8 + 4 images)
    {2, 1, 13, 6, 6, 1, 1, 5, 1, 1, 1, 1, 0, 0, 4, 0},
};

TEST(GroupedConv, MatchesPerGroupReference) {
    testing_util::Restore restore;
    for (Isa isa : testing_util::runnable_isas()) {
        set_isa(isa);
        for (const Case& c : kCases) {
            const Conv2dShape s = shape_of(c);
            const int64_t G = c.G, Cg = s.C / G, Kg = s.K / G;
            const std::string what = std::string(isa_name(isa)) + " G" + std::to_string(G) +
                                     " N" + std::to_string(s.N);
            auto x = random_vec(s.N * s.H * s.W * s.C, 1), w = random_vec(s.R * s.S * Cg * s.K, 2);
            auto b = random_vec(s.K, 3), dy = random_vec(s.N * s.P * s.Q * s.K, 4);
            std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(s.K);
            grouped_conv2d_forward(y.data(), x.data(), w.data(), b.data(), s, G);
            grouped_conv2d_backward_data(dx.data(), dy.data(), w.data(), s, G);
            grouped_conv2d_backward_weights(dw.data(), db.data(), dy.data(), x.data(), s, G);
            std::vector<float> y_ref(y.size()), dx_ref(dx.size()), dw_ref(dw.size()), db_ref(s.K);
            Conv2dShape sg = s;
            sg.C = Cg, sg.K = Kg;
            for (int64_t g = 0; g < G; g++) {
                auto xg = slice(x, s.C, g * Cg, Cg), wg = slice(w, s.K, g * Kg, Kg);
                auto bg = slice(b, s.K, g * Kg, Kg), dyg = slice(dy, s.K, g * Kg, Kg);
                std::vector<float> yg(dyg.size()), dxg(xg.size()), dwg(wg.size()), dbg(Kg);
                conv2d_forward_reference(yg.data(), xg.data(), wg.data(), bg.data(), false, sg);
                conv2d_backward_data_reference(dxg.data(), dyg.data(), nullptr, wg.data(), sg);
                conv2d_backward_weights_reference(dwg.data(), dbg.data(), dyg.data(), nullptr,
                                                  xg.data(), sg);
                unslice(y_ref, yg, s.K, g * Kg, Kg);
                unslice(dx_ref, dxg, s.C, g * Cg, Cg);
                unslice(dw_ref, dwg, s.K, g * Kg, Kg);
                unslice(db_ref, dbg, s.K, g * Kg, Kg);
            }
            expect_close(y, y_ref, "forward " + what);
            expect_close(dx, dx_ref, "backward_data " + what);
            expect_close(dw, dw_ref, "backward_weights " + what);
            expect_close(db, db_ref, "bias gradient " + what);
        }
    }
}

TEST(GroupedConv, BitIdenticalForAnyThreadCount) {
    testing_util::Restore restore;
    const Conv2dShape s = shape_of({40, 24, 24, 16, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1});
    auto x = random_vec(s.N * s.H * s.W * s.C, 5), w = random_vec(s.R * s.S * 4 * s.K, 6);
    auto dy = random_vec(s.N * s.P * s.Q * s.K, 7);
    std::vector<float> outs[2][3];
    for (int t = 0; t < 2; t++) {
        set_num_threads(t + 1);
        outs[t][0].resize(dy.size());
        outs[t][1].resize(x.size());
        outs[t][2].resize(w.size());
        grouped_conv2d_forward(outs[t][0].data(), x.data(), w.data(), nullptr, s, 4);
        grouped_conv2d_backward_data(outs[t][1].data(), dy.data(), w.data(), s, 4);
        grouped_conv2d_backward_weights(outs[t][2].data(), nullptr, dy.data(), x.data(), s, 4);
    }
    for (int k = 0; k < 3; k++) EXPECT_EQ(outs[0][k], outs[1][k]) << k;
}

}  // namespace
}  // namespace grebe
