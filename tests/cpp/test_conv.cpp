// test_conv.cpp — conv2d forward / backward-data / backward-weights against the plain 7-loop
// reference (conv2d_*_reference), for every ISA this CPU runs, over strides, valid and same
// padding, dilations, odd sizes, 1x1 kernels, C = 1 and 3, batch 1 and batches on both sides of
// the backward-data algorithm switch, ResNet's 16/32/64-channel 'same' and strided layers and
// channel counts one off every register-tile width; bitwise equality for any thread count; and
// NaN / Inf reaching the same outputs through every ISA as through the portable kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

struct Case {
    int64_t N, H, W, C, K, R, S, SH, SW, DH, DW;
    bool same;
};

// TensorFlow's 'same': pad_total = max((ceil(in/s) - 1)*s + (k-1)*d + 1 - in, 0), the extra
// pixel at the bottom/right.
void same_pads(int64_t in, int64_t k, int64_t s, int64_t d, int64_t* before, int64_t* after) {
    const int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - total / 2;
}

Conv2dShape shape_of(const Case& c) {
    Conv2dShape s{};
    s.N = c.N, s.H = c.H, s.W = c.W, s.C = c.C, s.K = c.K, s.R = c.R, s.S = c.S;
    s.SH = c.SH, s.SW = c.SW, s.DH = c.DH, s.DW = c.DW;
    if (c.same) {
        same_pads(c.H, c.R, c.SH, c.DH, &s.PT, &s.PB);
        same_pads(c.W, c.S, c.SW, c.DW, &s.PL, &s.PR);
    }
    s.P = conv2d_output_size(s.H, s.R, s.SH, s.DH, s.PT, s.PB);
    s.Q = conv2d_output_size(s.W, s.S, s.SW, s.DW, s.PL, s.PR);
    return s;
}

std::string name_of(const Case& c) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "N%lld H%lld W%lld C%lld K%lld R%lld S%lld stride %lldx%lld dil %lldx%lld %s",
                  (long long)c.N, (long long)c.H, (long long)c.W, (long long)c.C,
                  (long long)c.K, (long long)c.R, (long long)c.S, (long long)c.SH,
                  (long long)c.SW, (long long)c.DH, (long long)c.DW, c.same ? "same" : "valid");
    return buf;
}

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& e : v) e = d(gen);
    return v;
}

// |got - want| <= atol + rtol * |want| everywhere.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float atol,
                  float rtol, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); i++)
        ASSERT_LE(std::fabs(got[i] - want[i]), atol + rtol * std::fabs(want[i]))
            << what << " at " << i << ": got " << got[i] << ", want " << want[i];
}

const std::vector<Case>& cases() {
    static const std::vector<Case> all = {
        // N   H   W   C   K  R  S SH SW DH DW same
        {2, 32, 32, 3, 32, 3, 3, 1, 1, 1, 1, false},   // seed conv1
        {3, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, false},  // seed conv2, gather backward-data
        {9, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, false},  // seed conv2, scatter backward-data
        {2, 7, 9, 5, 7, 3, 3, 1, 1, 1, 1, true},
        {9, 7, 9, 5, 7, 3, 3, 1, 1, 1, 1, true},
        {2, 6, 5, 4, 9, 2, 4, 1, 1, 1, 1, true},       // even kernels: asymmetric padding
        {8, 6, 5, 4, 9, 2, 4, 1, 1, 1, 1, true},
        {2, 9, 8, 3, 17, 3, 3, 2, 2, 1, 1, true},      // strides
        {8, 9, 8, 3, 17, 3, 3, 2, 2, 1, 1, true},
        {1, 10, 11, 2, 5, 3, 2, 2, 3, 1, 1, false},
        {10, 10, 11, 2, 5, 3, 2, 2, 3, 1, 1, false},
        {2, 11, 10, 6, 20, 3, 3, 1, 1, 2, 2, true},    // dilations
        {1, 9, 12, 4, 33, 2, 3, 1, 1, 2, 3, false},
        {8, 9, 9, 4, 6, 3, 2, 2, 1, 1, 2, true},       // stride and dilation, scatter
        {3, 5, 4, 16, 16, 1, 1, 1, 1, 1, 1, false},    // 1x1
        {9, 5, 4, 16, 16, 1, 1, 1, 1, 1, 1, false},
        {2, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {2, 8, 8, 1, 8, 3, 3, 1, 1, 1, 1, true},       // C = 1
        {8, 8, 8, 1, 8, 3, 3, 1, 1, 1, 1, false},
        {2, 5, 5, 7, 37, 3, 3, 1, 1, 1, 1, false},     // K off every tile width
        {1, 6, 7, 3, 5, 5, 5, 1, 1, 1, 1, true},       // kernel larger than half the image
        {4, 1, 20, 3, 8, 1, 5, 1, 1, 1, 1, true},      // Conv1D as H = 1
        {8, 1, 23, 5, 9, 1, 3, 1, 2, 1, 1, false},
        {1, 3, 3, 2, 3, 3, 3, 1, 1, 1, 1, false},      // 1x1 output
        {13, 4, 3, 17, 19, 2, 2, 1, 1, 1, 1, true},
        // ResNet-20 (CIFAR): 3x3 'same', 16/32/64 channels, stride-2 downsampling, 1x1 shortcuts
        {9, 8, 8, 16, 16, 3, 3, 1, 1, 1, 1, true},
        {9, 8, 8, 16, 32, 3, 3, 2, 2, 1, 1, true},
        {9, 6, 5, 32, 32, 3, 3, 1, 1, 1, 1, true},
        {9, 6, 6, 32, 64, 3, 3, 2, 2, 1, 1, true},
        {8, 4, 3, 64, 64, 3, 3, 1, 1, 1, 1, true},
        {9, 8, 7, 16, 32, 1, 1, 2, 2, 1, 1, false},
        {9, 7, 6, 3, 16, 3, 3, 1, 1, 1, 1, true},      // the stem
        // channel counts one off the tile widths (16, 32, 64) and primes
        {8, 5, 7, 13, 63, 3, 3, 1, 1, 1, 1, true},
        {8, 5, 7, 11, 65, 3, 3, 1, 1, 1, 1, true},
        {2, 6, 5, 17, 33, 3, 3, 1, 1, 1, 1, true},
        {2, 6, 5, 31, 15, 3, 3, 1, 1, 1, 1, true},
        {9, 7, 5, 65, 31, 3, 3, 2, 2, 1, 1, true},
        {9, 5, 6, 63, 17, 2, 2, 1, 1, 1, 1, false},
    };
    return all;
}

using testing_util::Restore;
std::vector<Isa> isas() { return testing_util::runnable_isas(); }

void check_case(const Case& c, bool relu) {
    const Conv2dShape s = shape_of(c);
    ASSERT_GT(s.P, 0);
    ASSERT_GT(s.Q, 0);
    const size_t nx = s.N * s.H * s.W * s.C, nw = s.R * s.S * s.C * s.K, ny = s.N * s.P * s.Q * s.K;
    const auto x = random_vec(nx, 1), w = random_vec(nw, 2), b = random_vec(s.K, 3);
    const auto dy = random_vec(ny, 4);
    std::vector<float> y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(s.K);
    conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), relu, s);
    const float* mask = relu ? y_ref.data() : nullptr;
    conv2d_backward_data_reference(dx_ref.data(), dy.data(), mask, w.data(), s);
    conv2d_backward_weights_reference(dw_ref.data(), db_ref.data(), dy.data(), mask, x.data(), s);
    const Isa before = active_isa();
    for (Isa isa : isas()) {
        ASSERT_TRUE(set_isa(isa));
        const std::string what = name_of(c) + (relu ? " relu" : "") + " [" + isa_name(isa) + "]";
        std::vector<float> y(ny, NAN), dx(nx, NAN), dw(nw, NAN), db(s.K, NAN);
        conv2d_forward(y.data(), x.data(), w.data(), b.data(), relu, s);
        expect_close(y, y_ref, 1e-4f, 1e-4f, "forward " + what);
        conv2d_backward_data(dx.data(), dy.data(), mask, w.data(), s);
        expect_close(dx, dx_ref, 1e-4f, 1e-4f, "backward_data " + what);
        conv2d_backward_weights(dw.data(), db.data(), dy.data(), mask, x.data(), s);
        expect_close(dw, dw_ref, 1e-3f, 1e-4f, "backward_weights " + what);
        expect_close(db, db_ref, 1e-3f, 1e-4f, "backward_bias " + what);
        // Without bias / without db.
        conv2d_forward(y.data(), x.data(), w.data(), nullptr, false, s);
        std::vector<float> y0(ny);
        conv2d_forward_reference(y0.data(), x.data(), w.data(), nullptr, false, s);
        expect_close(y, y0, 1e-4f, 1e-4f, "forward (no bias) " + what);
        conv2d_backward_weights(dw.data(), nullptr, dy.data(), mask, x.data(), s);
        expect_close(dw, dw_ref, 1e-3f, 1e-4f, "backward_weights (no db) " + what);
    }
    set_isa(before);
}

TEST(Conv2d, MatchesReference) {
    for (const Case& c : cases()) check_case(c, false);
}

TEST(Conv2d, FusedReluMatchesReference) {
    for (const Case& c : cases()) check_case(c, true);
}

TEST(Conv2d, OutputSize) {
    EXPECT_EQ(conv2d_output_size(32, 3, 1, 1, 0, 0), 30);
    EXPECT_EQ(conv2d_output_size(15, 3, 1, 1, 1, 1), 15);
    EXPECT_EQ(conv2d_output_size(9, 3, 2, 1, 1, 1), 5);
    EXPECT_EQ(conv2d_output_size(11, 3, 1, 2, 0, 0), 7);
    EXPECT_EQ(conv2d_output_size(2, 3, 1, 1, 0, 0), 0);  // kernel larger than the input
}

TEST(Conv2d, EmptyBatch) {
    Case c{0, 5, 5, 3, 4, 3, 3, 1, 1, 1, 1, true};
    const Conv2dShape s = shape_of(c);
    std::vector<float> w = random_vec(3 * 3 * 3 * 4, 1), dw(w.size(), NAN), db(4, NAN);
    float dummy = 0;
    conv2d_forward(&dummy, &dummy, w.data(), nullptr, false, s);
    conv2d_backward_data(&dummy, &dummy, nullptr, w.data(), s);
    conv2d_backward_weights(dw.data(), db.data(), &dummy, nullptr, &dummy, s);
    for (float v : dw) EXPECT_EQ(v, 0.0f);
    for (float v : db) EXPECT_EQ(v, 0.0f);
}

TEST(Conv2d, ReluPropagatesNaN) {
    Case c{1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false};
    const Conv2dShape s = shape_of(c);
    std::vector<float> x = {1, -1, NAN, 2, -2, 0, 3, -3, 4}, w = {1}, y(9);
    for (Isa isa : isas()) {
        set_isa(isa);
        conv2d_forward(y.data(), x.data(), w.data(), nullptr, true, s);
        EXPECT_TRUE(std::isnan(y[2])) << isa_name(isa);
        EXPECT_EQ(y[1], 0.0f);
        EXPECT_EQ(y[3], 2.0f);
    }
    set_isa(detect_isa());
}

// Every pass gives the same bits with 1, 2, 3 or 4 threads.
TEST(Conv2d, BitIdenticalForAnyThreadCount) {
    const std::vector<Case> big = {
        {64, 32, 32, 3, 32, 3, 3, 1, 1, 1, 1, false},  // seed conv1: chunked backward-weights
        {16, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, false}, // seed conv2: scatter backward-data
        {3, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, true},   // gather backward-data
        {9, 12, 11, 5, 37, 3, 2, 2, 1, 1, 2, true},
        {16, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, true},  // ResNet stage 1: gather backward-data
        {16, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, true},  // ResNet downsampling: scatter
        {16, 8, 8, 64, 64, 3, 3, 1, 1, 1, 1, true},    // ResNet stage 3: 64-wide tiles
    };
    const int before = num_threads();
    for (Isa isa : isas()) {
        set_isa(isa);
        for (const Case& c : big) {
            const Conv2dShape s = shape_of(c);
            const size_t nx = s.N * s.H * s.W * s.C, nw = s.R * s.S * s.C * s.K;
            const size_t ny = s.N * s.P * s.Q * s.K;
            const auto x = random_vec(nx, 5), w = random_vec(nw, 6), b = random_vec(s.K, 7);
            const auto dy = random_vec(ny, 8);
            std::vector<float> y1, dx1, dw1, db1;
            for (int nt : {1, 2, 3, 4}) {
                set_num_threads(nt);
                std::vector<float> y(ny), dx(nx), dw(nw), db(s.K);
                conv2d_forward(y.data(), x.data(), w.data(), b.data(), true, s);
                conv2d_backward_data(dx.data(), dy.data(), y.data(), w.data(), s);
                conv2d_backward_weights(dw.data(), db.data(), dy.data(), y.data(), x.data(), s);
                // The combined call (dy masked once) gives the same bits as the two passes.
                std::vector<float> dx2(nx), dw2(nw), db2(s.K);
                conv2d_backward(dx2.data(), dw2.data(), db2.data(), dy.data(), y.data(),
                                x.data(), w.data(), s);
                EXPECT_EQ(0, std::memcmp(dx.data(), dx2.data(), nx * 4));
                EXPECT_EQ(0, std::memcmp(dw.data(), dw2.data(), nw * 4));
                EXPECT_EQ(0, std::memcmp(db.data(), db2.data(), s.K * 4));
                if (nt == 1) {
                    y1 = y, dx1 = dx, dw1 = dw, db1 = db;
                    continue;
                }
                const std::string what = name_of(c) + " [" + isa_name(isa) + "] threads " +
                                         std::to_string(nt);
                EXPECT_EQ(0, std::memcmp(y.data(), y1.data(), ny * 4)) << "forward " << what;
                EXPECT_EQ(0, std::memcmp(dx.data(), dx1.data(), nx * 4)) << "dx " << what;
                EXPECT_EQ(0, std::memcmp(dw.data(), dw1.data(), nw * 4)) << "dw " << what;
                EXPECT_EQ(0, std::memcmp(db.data(), db1.data(), s.K * 4)) << "db " << what;
            }
        }
    }
    set_num_threads(before);
    set_isa(detect_isa());
}

// Conv2D(relu) + MaxPooling fused, against conv2d_forward(relu) then a plain pooling loop, and
// the fused backward against the reference backward of the routed gradient.
void check_fused_pool(const Case& c, int64_t PH, int64_t PW) {
    const Conv2dShape s = shape_of(c);
    const int64_t P2 = s.P / PH, Q2 = s.Q / PW;
    ASSERT_GT(P2, 0);
    ASSERT_GT(Q2, 0);
    const size_t nx = s.N * s.H * s.W * s.C, nw = s.R * s.S * s.C * s.K;
    const size_t ny = s.N * s.P * s.Q * s.K, np = s.N * P2 * Q2 * s.K;
    const auto x = random_vec(nx, 11), w = random_vec(nw, 12), b = random_vec(s.K, 13);
    const auto dyp = random_vec(np, 14);
    std::vector<float> y(ny), yp_want(np), dy(ny, 0.0f);
    std::vector<uint8_t> am_want(np);
    for (Isa isa : isas()) {
        set_isa(isa);
        const std::string what = name_of(c) + " pool " + std::to_string(PH) + "x" +
                                 std::to_string(PW) + " [" + isa_name(isa) + "]";
        conv2d_forward(y.data(), x.data(), w.data(), b.data(), true, s);
        std::fill(dy.begin(), dy.end(), 0.0f);
        for (int64_t n = 0; n < s.N; n++)
            for (int64_t i = 0; i < P2; i++)
                for (int64_t j = 0; j < Q2; j++)
                    for (int64_t k = 0; k < s.K; k++) {
                        float best = 0;
                        int64_t at = 0;
                        for (int64_t a = 0; a < PH; a++)
                            for (int64_t e = 0; e < PW; e++) {
                                const int64_t yi = ((n * s.P + i * PH + a) * s.Q + j * PW + e) *
                                                   s.K + k;
                                if ((a == 0 && e == 0) || y[yi] > best) best = y[yi], at = yi;
                            }
                        const int64_t o = ((n * P2 + i) * Q2 + j) * s.K + k;
                        yp_want[o] = best;
                        if (best > 0) dy[at] = dyp[o];
                    }
        std::vector<float> yp(np, NAN);
        std::vector<uint8_t> am(np, 255);
        conv2d_relu_maxpool_forward(yp.data(), am.data(), x.data(), w.data(), b.data(), s, PH,
                                    PW);
        EXPECT_EQ(0, std::memcmp(yp.data(), yp_want.data(), np * 4)) << "forward " << what;
        std::vector<float> dx(nx, NAN), dw(nw, NAN), db(s.K, NAN);
        conv2d_relu_maxpool_backward(dx.data(), dw.data(), db.data(), dyp.data(), am.data(),
                                     yp.data(), x.data(), w.data(), s, PH, PW);
        std::vector<float> dx_ref(nx), dw_ref(nw), db_ref(s.K);
        conv2d_backward_data_reference(dx_ref.data(), dy.data(), nullptr, w.data(), s);
        conv2d_backward_weights_reference(dw_ref.data(), db_ref.data(), dy.data(), nullptr,
                                          x.data(), s);
        expect_close(dx, dx_ref, 1e-4f, 1e-4f, "fused dx " + what);
        expect_close(dw, dw_ref, 1e-3f, 1e-4f, "fused dw " + what);
        expect_close(db, db_ref, 1e-3f, 1e-4f, "fused db " + what);
    }
    set_isa(detect_isa());
}

TEST(Conv2d, FusedReluMaxPool) {
    check_fused_pool({2, 32, 32, 3, 32, 3, 3, 1, 1, 1, 1, false}, 2, 2);   // seed conv1
    check_fused_pool({9, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, false}, 2, 2);  // seed conv2, odd
    check_fused_pool({3, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, false}, 2, 2);
    check_fused_pool({2, 9, 11, 5, 19, 3, 2, 1, 1, 1, 1, true}, 3, 2);
    check_fused_pool({8, 10, 9, 4, 7, 2, 2, 2, 1, 1, 1, true}, 2, 3);
    check_fused_pool({2, 1, 20, 3, 8, 1, 3, 1, 1, 1, 1, true}, 1, 2);     // Conv1D + pooling
    check_fused_pool({9, 8, 9, 16, 16, 3, 3, 1, 1, 1, 1, true}, 2, 2);    // 16-wide tiles
    check_fused_pool({3, 7, 8, 13, 65, 3, 3, 1, 1, 1, 1, true}, 2, 2);    // 64-wide, K off by 1
    check_fused_pool({2, 9, 7, 5, 17, 3, 3, 1, 1, 1, 1, false}, 2, 3);    // 32-wide, K off by 1
}

TEST(Conv2d, FusedReluMaxPoolBitIdenticalForAnyThreadCount) {
    const Conv2dShape s = shape_of({16, 15, 15, 32, 64, 3, 3, 1, 1, 1, 1, false});
    const size_t nx = s.N * s.H * s.W * s.C, nw = s.R * s.S * s.C * s.K;
    const size_t np = s.N * 6 * 6 * s.K;
    const auto x = random_vec(nx, 21), w = random_vec(nw, 22), dyp = random_vec(np, 23);
    Restore restore;
    for (Isa isa : isas()) {
    ASSERT_TRUE(set_isa(isa));
    std::vector<float> ref;
    for (int nt : {1, 2, 3}) {
        set_num_threads(nt);
        std::vector<float> yp(np), dx(nx), dw(nw), db(s.K);
        std::vector<uint8_t> am(np);
        conv2d_relu_maxpool_forward(yp.data(), am.data(), x.data(), w.data(), nullptr, s, 2, 2);
        conv2d_relu_maxpool_backward(dx.data(), dw.data(), db.data(), dyp.data(), am.data(),
                                     yp.data(), x.data(), w.data(), s, 2, 2);
        std::vector<float> all(yp);
        all.insert(all.end(), dx.begin(), dx.end());
        all.insert(all.end(), dw.begin(), dw.end());
        all.insert(all.end(), db.begin(), db.end());
        for (uint8_t v : am) all.push_back(v);
        if (nt == 1) ref = all;
        else EXPECT_EQ(0, std::memcmp(all.data(), ref.data(), all.size() * 4))
                 << nt << " threads [" << isa_name(isa) << "]";
    }
    }
}

// Where out is NaN, +Inf or -Inf it must be so in want, and the other way round.
// must_reach: want holds some non-finite value (the test's inputs reach this output).
void expect_same_nonfinite(const std::vector<float>& got, const std::vector<float>& want,
                           bool must_reach, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    int64_t nonfinite = 0;
    for (size_t i = 0; i < got.size(); i++) {
        const bool gn = std::isnan(got[i]), wn = std::isnan(want[i]);
        ASSERT_EQ(gn, wn) << what << " at " << i << ": got " << got[i] << ", want " << want[i];
        if (!wn && std::isinf(want[i])) {
            ASSERT_EQ(got[i], want[i]) << what << " at " << i;
        } else if (!wn) {
            ASSERT_TRUE(std::isfinite(got[i])) << what << " at " << i << ": got " << got[i];
        }
        nonfinite += gn || std::isinf(want[i]);
    }
    if (must_reach) EXPECT_GT(nonfinite, 0) << what << ": the inputs should reach some outputs";
}

// NaN, +Inf, -Inf and huge finite values in x and dy reach the same outputs through every ISA's
// kernels as through the portable ones: forward with relu (max(0, NaN) is NaN), backward-data,
// backward-weights, and the fused relu + pooling (a NaN wins its window). Known difference,
// left out: the SIMD kernels multiply zero padding (of x in 'same' convs, of dy in the gather
// backward-data) where the portable loops skip those taps, so a non-finite WEIGHT, or a
// non-finite dy of a 'same' conv in backward-weights, also gives NaN (0 * Inf) at the border.
TEST(Conv2d, NaNAndInfReachTheSameOutputsOnEveryIsa) {
    Restore restore;
    const std::vector<Case> shapes = {
        {9, 9, 9, 5, 33, 3, 3, 1, 1, 1, 1, false},   // scatter backward-data, 32-wide tiles
        {3, 8, 7, 16, 16, 3, 3, 1, 1, 1, 1, false},  // gather backward-data, 16-wide tiles
        {9, 9, 8, 6, 64, 3, 3, 2, 2, 1, 1, false},   // strided, 64-wide tiles
        {9, 8, 8, 16, 16, 3, 3, 1, 1, 1, 1, true},   // 'same': x only
    };
    for (const Case& c : shapes) {
        const Conv2dShape s = shape_of(c);
        const size_t nx = s.N * s.H * s.W * s.C, nw = s.R * s.S * s.C * s.K;
        const size_t ny = s.N * s.P * s.Q * s.K;
        auto x = testing_util::random_vec(nx, 31), w = testing_util::random_vec(nw, 32);
        auto dy = testing_util::random_vec(ny, 33);
        const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f};
        for (size_t i = 0; i < 5; i++) x[(i * 7919 + 13) % nx] = specials[i];
        if (!c.same) {
            for (size_t i = 0; i < 5; i++) dy[(i * 104729 + 5) % ny] = specials[i];
        }
        const int64_t P2 = s.P / 2, Q2 = s.Q / 2, np = s.N * P2 * Q2 * s.K;
        std::vector<std::vector<float>> want;
        for (Isa isa : isas()) {
            ASSERT_TRUE(set_isa(isa));
            std::vector<float> y(ny), dx(nx), dw(nw), db(s.K), yp(np), dxp(nx), dwp(nw), dbp(s.K);
            std::vector<uint8_t> am(np);
            conv2d_forward(y.data(), x.data(), w.data(), nullptr, true, s);
            conv2d_backward_data(dx.data(), dy.data(), nullptr, w.data(), s);
            conv2d_backward_weights(dw.data(), db.data(), dy.data(), nullptr, x.data(), s);
            conv2d_relu_maxpool_forward(yp.data(), am.data(), x.data(), w.data(), nullptr, s, 2,
                                        2);
            const std::vector<float> dyp(dy.begin(), dy.begin() + np);
            conv2d_relu_maxpool_backward(dxp.data(), dwp.data(), dbp.data(), dyp.data(),
                                         am.data(), yp.data(), x.data(), w.data(), s, 2, 2);
            std::vector<float> amf(am.begin(), am.end());
            const std::vector<std::vector<float>> got = {y, dx, dw, db, yp, amf, dxp, dwp, dbp};
            const char* names[] = {"forward relu", "backward_data", "backward_weights", "db",
                                   "fused pool", "fused argmax", "fused dx", "fused dw",
                                   "fused db"};
            if (isa == Isa::generic) {
                want = got;
                continue;
            }
            for (size_t k = 0; k < got.size(); k++) {
                const std::string what = std::string(names[k]) + " " + name_of(c) + " [" +
                                         isa_name(isa) + "]";
                if (k == 5) {  // the argmax of each window: the same winner
                    EXPECT_EQ(got[k], want[k]) << what;
                } else if (k == 3 && c.same) {
                    continue;  // dy is finite there
                } else {
                    const bool reach = k == 0 || k == 2 || k == 4 || (k == 1 && !c.same);
                    expect_same_nonfinite(got[k], want[k], reach, what);
                }
            }
        }
    }
}

}  // namespace
}  // namespace grebe
