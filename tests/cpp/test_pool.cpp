// test_pool.cpp — max / average / global pooling kernels against plain reference loops over
// awkward shapes (odd sizes, strides != pool, overlapping windows, 'same' padding, C = 1,
// batch 1, windows past 256 positions), on every ISA this CPU runs; and bitwise equality of the
// results for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/pool.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;
using testing_util::Restore;
using testing_util::runnable_isas;

// Values with many exact ties (multiples of 1/4 in [-1, 1]): the first position must win.
std::vector<float> tied_vec(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> u(-4, 4);
    std::vector<float> v(n);
    for (auto& x : v) x = 0.25f * static_cast<float>(u(rng));
    return v;
}

struct Case {
    int64_t N, H, W, C, KH, KW, SH, SW;
    bool same;
};

const Case kCases[] = {
    {2, 7, 9, 5, 2, 2, 2, 2, false},    // odd sizes: the last row / column is dropped
    {1, 7, 9, 5, 3, 3, 2, 2, true},     // overlapping windows, 'same'
    {3, 5, 5, 1, 2, 2, 1, 1, false},    // C = 1, stride 1 (every position in up to 4 windows)
    {2, 13, 13, 64, 2, 2, 2, 2, false}, // the seed CNN's second pool (odd 13)
    {1, 11, 10, 17, 3, 2, 1, 3, true},  // stride > pool on one axis, C off the vector width
    {1, 1, 9, 3, 1, 3, 1, 2, true},     // 1D
    {1, 1, 10, 9, 1, 4, 1, 4, false},   // 1D, C = 9
    {2, 4, 4, 9, 4, 4, 4, 4, true},     // window = input
    {1, 5, 7, 16, 5, 7, 1, 1, false},   // one window covers all
    {1, 3, 3, 2, 3, 3, 3, 3, true},
    {1, 6, 5, 24, 3, 3, 3, 1, true},    // uneven 'same' padding on both axes
    {1, 2, 2, 8, 1, 1, 1, 1, false},    // 1x1 window
    {2, 9, 11, 10, 2, 3, 3, 4, false},  // stride > pool: rows and columns in no window
    {1, 8, 9, 8, 2, 2, 3, 3, true},     // the same with 'same' padding
    {2, 17, 17, 3, 16, 17, 1, 1, true}, // 272 positions: int32 argmax
    {0, 4, 4, 3, 2, 2, 2, 2, false},    // empty batch
};

Pool2dShape shape_of(const Case& c) {
    return pool2d_shape(c.N, c.H, c.W, c.C, c.KH, c.KW, c.SH, c.SW, c.same);
}

// The definition, one output element at a time: window positions in row-major order.
void max_reference(std::vector<float>& y, std::vector<int32_t>& am, const std::vector<float>& x,
                   const Pool2dShape& s) {
    y.assign(s.N * s.P * s.Q * s.C, 0.0f);
    am.assign(y.size(), -1);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t c = 0; c < s.C; c++) {
                    float best = 0.0f;
                    int32_t arg = -1;
                    for (int64_t kh = 0; kh < s.KH; kh++)
                        for (int64_t kw = 0; kw < s.KW; kw++) {
                            const int64_t h = p * s.SH - s.PT + kh, w = q * s.SW - s.PL + kw;
                            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                            const float v = x[((n * s.H + h) * s.W + w) * s.C + c];
                            if (arg < 0 || v > best || std::isnan(v)) {  // PyTorch's rule
                                best = v;
                                arg = static_cast<int32_t>(kh * s.KW + kw);
                            }
                        }
                    const int64_t i = ((n * s.P + p) * s.Q + q) * s.C + c;
                    y[i] = best;
                    am[i] = arg;
                }
}

// Scatter each dy to its window's winner (double accumulators).
std::vector<double> max_backward_reference(const std::vector<float>& dy,
                                           const std::vector<int32_t>& am,
                                           const Pool2dShape& s) {
    std::vector<double> dx(s.N * s.H * s.W * s.C, 0.0);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t c = 0; c < s.C; c++) {
                    const int64_t i = ((n * s.P + p) * s.Q + q) * s.C + c;
                    const int64_t h = p * s.SH - s.PT + am[i] / s.KW;
                    const int64_t w = q * s.SW - s.PL + am[i] % s.KW;
                    dx[((n * s.H + h) * s.W + w) * s.C + c] += dy[i];
                }
    return dx;
}

// Average over the valid positions (double), and its scatter backward.
std::vector<double> avg_reference(const std::vector<float>& x, const Pool2dShape& s) {
    std::vector<double> y(s.N * s.P * s.Q * s.C, 0.0);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t c = 0; c < s.C; c++) {
                    double sum = 0.0;
                    int count = 0;
                    for (int64_t kh = 0; kh < s.KH; kh++)
                        for (int64_t kw = 0; kw < s.KW; kw++) {
                            const int64_t h = p * s.SH - s.PT + kh, w = q * s.SW - s.PL + kw;
                            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                            sum += x[((n * s.H + h) * s.W + w) * s.C + c];
                            count++;
                        }
                    y[((n * s.P + p) * s.Q + q) * s.C + c] = sum / count;
                }
    return y;
}

std::vector<double> avg_backward_reference(const std::vector<float>& dy, const Pool2dShape& s) {
    std::vector<double> dx(s.N * s.H * s.W * s.C, 0.0);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++) {
                int count = 0;
                for (int64_t kh = 0; kh < s.KH; kh++)
                    for (int64_t kw = 0; kw < s.KW; kw++) {
                        const int64_t h = p * s.SH - s.PT + kh, w = q * s.SW - s.PL + kw;
                        count += (h >= 0 && h < s.H && w >= 0 && w < s.W);
                    }
                for (int64_t kh = 0; kh < s.KH; kh++)
                    for (int64_t kw = 0; kw < s.KW; kw++) {
                        const int64_t h = p * s.SH - s.PT + kh, w = q * s.SW - s.PL + kw;
                        if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                        for (int64_t c = 0; c < s.C; c++)
                            dx[((n * s.H + h) * s.W + w) * s.C + c] +=
                                static_cast<double>(dy[((n * s.P + p) * s.Q + q) * s.C + c]) /
                                count;
                    }
            }
    return dx;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol,
                  const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); i++)
        ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

// Runs max pooling with the argmax type Idx and checks it against the reference.
template <typename Idx>
void check_max(const Case& c, const std::vector<float>& x, const char* label) {
    const Pool2dShape s = shape_of(c);
    std::vector<float> y_ref;
    std::vector<int32_t> am_ref;
    max_reference(y_ref, am_ref, x, s);
    std::vector<float> y(y_ref.size(), -7.0f);
    std::vector<Idx> am(y_ref.size(), 0);
    max_pool2d_forward(y.data(), am.data(), x.data(), s);
    for (size_t i = 0; i < y.size(); i++) {
        ASSERT_TRUE(y[i] == y_ref[i] || (std::isnan(y[i]) && std::isnan(y_ref[i])))
            << label << " y at " << i << ": " << y[i] << " vs " << y_ref[i];
        ASSERT_EQ(static_cast<int32_t>(am[i]), am_ref[i]) << label << " argmax at " << i;
    }
    const std::vector<float> dy = random_vec(y.size(), 7);
    std::vector<float> dx(s.N * s.H * s.W * s.C, -7.0f);
    max_pool2d_backward(dx.data(), dy.data(), am.data(), s);
    expect_close(dx, max_backward_reference(dy, am_ref, s), 1e-5, label);
}

TEST(PoolShape, TensorFlowSameRule) {
    int64_t pad;
    EXPECT_EQ(pool_output_size(7, 2, 2, false, &pad), 3);
    EXPECT_EQ(pad, 0);
    EXPECT_EQ(pool_output_size(7, 2, 2, true, &pad), 4);  // total 1: 0 before, 1 after
    EXPECT_EQ(pad, 0);
    EXPECT_EQ(pool_output_size(7, 3, 2, true, &pad), 4);  // total 2: 1 before
    EXPECT_EQ(pad, 1);
    EXPECT_EQ(pool_output_size(6, 3, 1, true, &pad), 6);  // total 2: 1 before
    EXPECT_EQ(pad, 1);
    EXPECT_EQ(pool_output_size(5, 4, 1, true, &pad), 5);  // total 3: 1 before, 2 after
    EXPECT_EQ(pad, 1);
    EXPECT_EQ(pool_output_size(2, 3, 3, false, &pad), 0);
}

TEST(PoolMax, MatchesReferenceOnEveryIsa) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        int seed = 0;
        for (const Case& c : kCases) {
            const std::vector<float> x = random_vec(c.N * c.H * c.W * c.C, 100 + seed);
            const std::vector<float> t = tied_vec(x.size(), 200 + seed++);
            SCOPED_TRACE(testing::Message() << isa_name(isa) << " case " << seed << " " << c.N
                                            << "x" << c.H << "x" << c.W << "x" << c.C);
            if (c.KH * c.KW <= 256) {
                check_max<uint8_t>(c, x, "u8");
                check_max<uint8_t>(c, t, "u8 ties");
            }
            check_max<int32_t>(c, x, "i32");
            check_max<int32_t>(c, t, "i32 ties");
        }
    }
}

TEST(PoolMax, NanWins) {
    Restore restore;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const Case cases[] = {{2, 4, 6, 9, 2, 2, 2, 2, false},   // the unrolled 2x2 path, C tail
                          {1, 5, 5, 11, 3, 3, 2, 2, true}};  // the general path
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        for (const Case& c : cases) {
            std::vector<float> x = random_vec(c.N * c.H * c.W * c.C, 3);
            std::mt19937 rng(4);
            for (auto& v : x)
                if (rng() % 5 == 0) v = nan;  // windows with none, one and several NaNs
            check_max<uint8_t>(c, x, "nan u8");
            check_max<int32_t>(c, x, "nan i32");
        }
    }
}

TEST(PoolAvg, MatchesReferenceOnEveryIsa) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        int seed = 0;
        for (const Case& c : kCases) {
            SCOPED_TRACE(testing::Message() << isa_name(isa) << " case " << seed);
            const Pool2dShape s = shape_of(c);
            const std::vector<float> x = random_vec(c.N * c.H * c.W * c.C, 300 + seed++);
            std::vector<float> y(s.N * s.P * s.Q * s.C, -7.0f);
            avg_pool2d_forward(y.data(), x.data(), s);
            expect_close(y, avg_reference(x, s), 1e-5, "avg forward");
            const std::vector<float> dy = random_vec(y.size(), 11);
            std::vector<float> dx(x.size(), -7.0f);
            avg_pool2d_backward(dx.data(), dy.data(), s);
            expect_close(dx, avg_backward_reference(dy, s), 1e-5, "avg backward");
        }
    }
}

TEST(PoolGlobal, MatchReference) {
    struct G { int64_t N, S, C; };
    for (const G g : {G{1, 1, 1}, G{2, 7, 5}, G{3, 169, 64}, G{2, 5, 300}, G{64, 49, 33}}) {
        const std::vector<float> x = random_vec(g.N * g.S * g.C, 17);
        std::vector<float> y(g.N * g.C), ym(g.N * g.C);
        std::vector<int32_t> am(g.N * g.C);
        global_avg_pool_forward(y.data(), x.data(), g.N, g.S, g.C);
        global_max_pool_forward(ym.data(), am.data(), x.data(), g.N, g.S, g.C);
        std::vector<double> y_ref(g.N * g.C, 0.0);
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t c = 0; c < g.C; c++) {
                double sum = 0.0;
                float best = x[n * g.S * g.C + c];
                int32_t arg = 0;
                for (int64_t i = 0; i < g.S; i++) {
                    const float v = x[(n * g.S + i) * g.C + c];
                    sum += v;
                    if (v > best) {
                        best = v;
                        arg = static_cast<int32_t>(i);
                    }
                }
                y_ref[n * g.C + c] = sum / g.S;
                ASSERT_EQ(ym[n * g.C + c], best);
                ASSERT_EQ(am[n * g.C + c], arg);
            }
        expect_close(y, y_ref, 1e-6, "global avg");
        const std::vector<float> dy = random_vec(g.N * g.C, 5);
        std::vector<float> dx(x.size(), -7.0f), dxm(x.size(), -7.0f);
        global_avg_pool_backward(dx.data(), dy.data(), g.N, g.S, g.C);
        global_max_pool_backward(dxm.data(), dy.data(), am.data(), g.N, g.S, g.C);
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t i = 0; i < g.S; i++)
                for (int64_t c = 0; c < g.C; c++) {
                    const int64_t j = (n * g.S + i) * g.C + c;
                    ASSERT_NEAR(dx[j], dy[n * g.C + c] / g.S, 1e-7);
                    ASSERT_EQ(dxm[j], am[n * g.C + c] == i ? dy[n * g.C + c] : 0.0f);
                }
    }
}

// Global pooling: every ISA and thread count gives the portable kernel's bits (the AVX-512
// bodies keep the per-channel operations and their order), NaN / +-Inf / ties included, for
// channel counts around the 16/32-lane groups and the 256-channel block.
TEST(PoolGlobal, EveryIsaAndThreadCountSameBits) {
    Restore restore;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    struct G { int64_t N, S, C; };
    for (const G g : {G{2, 1, 3}, G{3, 9, 16}, G{2, 13, 47}, G{2, 6, 300}, G{5, 49, 64}}) {
        std::vector<float> x = random_vec(g.N * g.S * g.C, 23);
        for (size_t i = 0; i < x.size(); i += 5) x[i] = (i % 3 == 0) ? nan : (i % 3 == 1) ? inf : -inf;
        for (size_t i = 2; i < x.size(); i += 9) x[i] = 0.5f;  // ties
        const std::vector<float> dy = random_vec(g.N * g.C, 24);
        auto run = [&]() {
            std::vector<float> y(g.N * g.C), ym(g.N * g.C), dx(x.size(), -7.0f),
                dxm(x.size(), -7.0f);
            std::vector<int32_t> am(g.N * g.C);
            global_avg_pool_forward(y.data(), x.data(), g.N, g.S, g.C);
            global_max_pool_forward(ym.data(), am.data(), x.data(), g.N, g.S, g.C);
            global_avg_pool_backward(dx.data(), dy.data(), g.N, g.S, g.C);
            global_max_pool_backward(dxm.data(), dy.data(), am.data(), g.N, g.S, g.C);
            std::vector<float> out = y;
            for (const auto* v : {&ym, &dx, &dxm}) out.insert(out.end(), v->begin(), v->end());
            for (int32_t a : am) out.push_back(static_cast<float>(a));
            return out;
        };
        ASSERT_TRUE(set_isa(Isa::generic));
        set_num_threads(1);
        const std::vector<float> want = run();
        for (Isa isa : runnable_isas()) {
            ASSERT_TRUE(set_isa(isa));
            for (int t : {1, 2, 3}) {
                set_num_threads(t);
                const std::vector<float> got = run();
                for (size_t i = 0; i < want.size(); i++)
                    ASSERT_TRUE((std::isnan(want[i]) && std::isnan(got[i])) ||
                                std::memcmp(&want[i], &got[i], 4) == 0)
                        << isa_name(isa) << " threads " << t << " C=" << g.C << " at " << i
                        << ": " << got[i] << " vs portable " << want[i];
            }
        }
    }
}

// Results must not depend on the thread count, bit for bit (overlapping backward included).
TEST(PoolThreads, BitwiseInvariant) {
    Restore restore;
    const Case cases[] = {{8, 30, 30, 32, 2, 2, 2, 2, false},
                          {4, 21, 19, 13, 3, 3, 1, 2, true},
                          {3, 16, 16, 8, 18, 18, 1, 1, true}};  // int32 argmax
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        for (const Case& c : cases) {
            const Pool2dShape s = shape_of(c);
            const std::vector<float> x = random_vec(c.N * c.H * c.W * c.C, 9);
            const std::vector<float> dy = random_vec(s.N * s.P * s.Q * s.C, 10);
            std::vector<std::vector<float>> outs;
            for (int t : {1, 2, 3}) {
                set_num_threads(t);
                std::vector<float> y(dy.size()), ya(dy.size()), dx(x.size()), dxa(x.size());
                std::vector<float> gy(s.N * s.C), gdx(x.size());
                if (s.KH * s.KW <= 256) {
                    std::vector<uint8_t> am(dy.size());
                    max_pool2d_forward(y.data(), am.data(), x.data(), s);
                    max_pool2d_backward(dx.data(), dy.data(), am.data(), s);
                } else {
                    std::vector<int32_t> am(dy.size());
                    max_pool2d_forward(y.data(), am.data(), x.data(), s);
                    max_pool2d_backward(dx.data(), dy.data(), am.data(), s);
                }
                avg_pool2d_forward(ya.data(), x.data(), s);
                avg_pool2d_backward(dxa.data(), dy.data(), s);
                global_avg_pool_forward(gy.data(), x.data(), s.N, s.H * s.W, s.C);
                global_avg_pool_backward(gdx.data(), gy.data(), s.N, s.H * s.W, s.C);
                std::vector<float> all;
                for (const auto* v : {&y, &ya, &dx, &dxa, &gy, &gdx})
                    all.insert(all.end(), v->begin(), v->end());
                outs.push_back(all);
            }
            for (size_t k = 1; k < outs.size(); k++)
                ASSERT_EQ(0, std::memcmp(outs[0].data(), outs[k].data(),
                                         outs[0].size() * sizeof(float)))
                    << isa_name(isa) << ": results differ between 1 and " << k + 1 << " threads";
        }
    }
}

}  // namespace
}  // namespace grebe
