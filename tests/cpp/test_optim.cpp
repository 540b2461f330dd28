// test_optim.cpp — the fused optimizer updates against plain reference loops written from the
// Keras 3 formulas, over awkward sizes (1, primes, around the SIMD width and the thread chunk),
// several steps, with gradient scaling, clipping and weight decay; and bitwise equality of the
// results for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/optim.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;
using testing_util::Restore;
using testing_util::runnable_isas;

using Vec = std::vector<float>;


const int64_t kSizes[] = {1, 3, 4, 5, 17, 31, 4099, 16384 + 7, 70001};

float ref_prep(float g, const GradPrep& p) {
    g = g * p.gscale;
    if (p.clip > 0.0f) g = std::min(std::max(g, -p.clip), p.clip);
    return g;
}
float ref_decay(float w, float lr, const GradPrep& p) { return w - (w * p.wd) * lr; }

const GradPrep kPreps[] = {GradPrep{}, GradPrep{0.5f, 0.3f, 0.01f}, GradPrep{1.0f, 0.0f, 0.004f}};

void expect_same(const Vec& a, const Vec& b, const char* what) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); i++)
        ASSERT_EQ(a[i], b[i]) << what << " differs at " << i << " of " << a.size();
}

TEST(Optim, SgdMatchesReference) {
    for (int64_t n : kSizes)
        for (const GradPrep& p : kPreps) {
            Vec w = random_vec(n, 1), w_ref = w;
            for (int step = 0; step < 3; step++) {
                Vec g = random_vec(n, 10 + step);
                sgd_update(w.data(), g.data(), n, 0.05f, p);
                for (int64_t i = 0; i < n; i++)
                    w_ref[i] = ref_decay(w_ref[i], 0.05f, p) - ref_prep(g[i], p) * 0.05f;
            }
            expect_same(w, w_ref, "sgd w");
        }
}

TEST(Optim, SgdMomentumMatchesReference) {
    for (bool nesterov : {false, true})
        for (int64_t n : kSizes)
            for (const GradPrep& p : kPreps) {
                Vec w = random_vec(n, 2), w_ref = w, m(n, 0.0f), m_ref(n, 0.0f);
                const float lr = 0.1f, mom = 0.9f;
                for (int step = 0; step < 4; step++) {
                    Vec g = random_vec(n, 20 + step);
                    sgd_momentum_update(w.data(), m.data(), g.data(), n, lr, mom, nesterov, p);
                    for (int64_t i = 0; i < n; i++) {
                        const float gi = ref_prep(g[i], p);
                        const float wi = ref_decay(w_ref[i], lr, p);
                        m_ref[i] = m_ref[i] * mom - gi * lr;
                        w_ref[i] = nesterov ? wi + (m_ref[i] * mom - gi * lr) : wi + m_ref[i];
                    }
                }
                expect_same(w, w_ref, "sgd momentum w");
                expect_same(m, m_ref, "sgd momentum m");
            }
}

TEST(Optim, AdamMatchesReference) {
    for (bool ams : {false, true})
        for (int64_t n : kSizes)
            for (const GradPrep& p : kPreps) {
                Vec w = random_vec(n, 3), w_ref = w;
                Vec m(n, 0.0f), v(n, 0.0f), h(n, 0.0f), m_ref = m, v_ref = v, h_ref = h;
                const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
                for (int t = 1; t <= 5; t++) {
                    Vec g = random_vec(n, 30 + t);
                    const float alpha = lr * std::sqrt(1.0f - std::pow(b2, t)) /
                                        (1.0f - std::pow(b1, t));
                    adam_update(w.data(), m.data(), v.data(), ams ? h.data() : nullptr, g.data(),
                                n, lr, alpha, b1, b2, eps, p);
                    for (int64_t i = 0; i < n; i++) {
                        const float gi = ref_prep(g[i], p);
                        const float wi = ref_decay(w_ref[i], lr, p);
                        m_ref[i] = m_ref[i] + (gi - m_ref[i]) * (1.0f - b1);
                        v_ref[i] = v_ref[i] + (gi * gi - v_ref[i]) * (1.0f - b2);
                        float vv = v_ref[i];
                        if (ams) vv = h_ref[i] = std::max(h_ref[i], vv);
                        w_ref[i] = wi - (m_ref[i] * alpha) / (std::sqrt(vv) + eps);
                    }
                }
                expect_same(w, w_ref, "adam w");
                expect_same(m, m_ref, "adam m");
                expect_same(v, v_ref, "adam v");
                if (ams) expect_same(h, h_ref, "adam vhat");
            }
}

TEST(Optim, RmspropMatchesReference) {
    for (int variant = 0; variant < 4; variant++) {
        const bool centered = variant & 1, with_mom = variant & 2;
        for (int64_t n : kSizes)
            for (const GradPrep& p : kPreps) {
                Vec w = random_vec(n, 4), w_ref = w;
                Vec v(n, 0.0f), mo(n, 0.0f), a(n, 0.0f), v_ref = v, mo_ref = mo, a_ref = a;
                const float lr = 0.01f, rho = 0.9f, mom = with_mom ? 0.5f : 0.0f, eps = 1e-7f;
                for (int t = 0; t < 4; t++) {
                    Vec g = random_vec(n, 40 + t);
                    rmsprop_update(w.data(), v.data(), with_mom ? mo.data() : nullptr,
                                   centered ? a.data() : nullptr, g.data(), n, lr, rho, mom, eps,
                                   p);
                    for (int64_t i = 0; i < n; i++) {
                        const float gi = ref_prep(g[i], p);
                        const float wi = ref_decay(w_ref[i], lr, p);
                        v_ref[i] = rho * v_ref[i] + (1.0f - rho) * (gi * gi);
                        float den;
                        if (centered) {
                            a_ref[i] = rho * a_ref[i] + (1.0f - rho) * gi;
                            den = (v_ref[i] - a_ref[i] * a_ref[i]) + eps;
                        } else {
                            den = v_ref[i] + eps;
                        }
                        float inc = (lr * gi) / std::sqrt(den);
                        if (with_mom) inc = mo_ref[i] = mom * mo_ref[i] + inc;
                        w_ref[i] = wi - inc;
                    }
                }
                expect_same(w, w_ref, "rmsprop w");
                expect_same(v, v_ref, "rmsprop v");
                if (centered) expect_same(a, a_ref, "rmsprop avg");
                if (with_mom) expect_same(mo, mo_ref, "rmsprop momentum");
            }
    }
}

TEST(Optim, AdagradMatchesReference) {
    for (int64_t n : kSizes)
        for (const GradPrep& p : kPreps) {
            Vec w = random_vec(n, 5), w_ref = w, acc(n, 0.1f), acc_ref(n, 0.1f);
            const float lr = 0.05f, eps = 1e-7f;
            for (int t = 0; t < 4; t++) {
                Vec g = random_vec(n, 50 + t);
                adagrad_update(w.data(), acc.data(), g.data(), n, lr, eps, p);
                for (int64_t i = 0; i < n; i++) {
                    const float gi = ref_prep(g[i], p);
                    const float wi = ref_decay(w_ref[i], lr, p);
                    acc_ref[i] = acc_ref[i] + gi * gi;
                    w_ref[i] = wi - (lr * gi) / std::sqrt(acc_ref[i] + eps);
                }
            }
            expect_same(w, w_ref, "adagrad w");
            expect_same(acc, acc_ref, "adagrad acc");
        }
}

TEST(Optim, SumSquares) {
    for (int64_t n : {0L, 1L, 7L, 4096L, 4097L, 100003L}) {
        Vec x = random_vec(n, 6);
        double ref = 0.0;
        for (float v : x) ref += static_cast<double>(v) * v;
        EXPECT_NEAR(sum_squares(x.data(), n), ref, 1e-9 * (1.0 + ref)) << "n=" << n;
    }
}

// sum_squares: every ISA within double rounding of the portable sum (the AVX-512 chunks add in a
// fixed lane order, not left to right), the same bits for any thread count under each ISA, and
// NaN / +inf results where the portable sum has them.
TEST(Optim, SumSquaresEveryIsa) {
    Restore restore;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    for (int64_t n : {int64_t{1}, int64_t{31}, int64_t{33}, int64_t{4096 * 5 + 17}}) {
        Vec x = random_vec(n, 30);
        x[0] = 3e38f;  // squares overflow float but not the double sum
        Vec xi = x, xn = x, xb = x;
        xi[n / 2] = -inf;
        xn[n - 1] = nan;
        xb[n / 2] = inf;
        xb[n - 1] = nan;
        ASSERT_TRUE(set_isa(Isa::generic));
        set_num_threads(1);
        const double want = sum_squares(x.data(), n);
        for (Isa isa : runnable_isas()) {
            ASSERT_TRUE(set_isa(isa));
            std::vector<double> got;
            for (int t : {1, 2, 3}) {
                set_num_threads(t);
                got.push_back(sum_squares(x.data(), n));
            }
            EXPECT_NEAR(got[0], want, 1e-14 * want) << isa_name(isa) << " n=" << n;
            EXPECT_EQ(got[0], got[1]) << isa_name(isa) << " n=" << n;
            EXPECT_EQ(got[0], got[2]) << isa_name(isa) << " n=" << n;
            EXPECT_EQ(sum_squares(xi.data(), n), inf) << isa_name(isa) << " n=" << n;
            EXPECT_TRUE(std::isnan(sum_squares(xn.data(), n))) << isa_name(isa) << " n=" << n;
            EXPECT_TRUE(std::isnan(sum_squares(xb.data(), n))) << isa_name(isa) << " n=" << n;
        }
    }
}

TEST(Optim, SameBitsForAnyThreadCount) {
    const int before = num_threads();
    const int64_t n = 200003;
    Vec g = random_vec(n, 7);
    std::vector<Vec> results;
    std::vector<double> sums;
    for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        Vec w = random_vec(n, 8), m(n, 0.0f), v(n, 0.0f);
        adam_update(w.data(), m.data(), v.data(), nullptr, g.data(), n, 0.01f, 0.003f, 0.9f,
                    0.999f, 1e-7f, GradPrep{0.7f, 0.5f, 0.01f});
        sgd_momentum_update(w.data(), m.data(), g.data(), n, 0.1f, 0.9f, true, GradPrep{});
        results.push_back(w);
        sums.push_back(sum_squares(w.data(), n));
    }
    set_num_threads(before);
    expect_same(results[0], results[1], "1 vs 2 threads");
    expect_same(results[0], results[2], "1 vs 3 threads");
    EXPECT_EQ(sums[0], sums[1]);
    EXPECT_EQ(sums[0], sums[2]);
}

// Every ISA's update equals the portable one bit for bit (the vector bodies use the same
// operations in the same order), on gradients and weights holding NaN, +-Inf and huge values,
// with and without scaling/clipping/decay, over sizes around the vector width and the chunk.
TEST(Optim, EveryIsaSameBitsWithSpecials) {
    Restore restore;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    for (int64_t n : {int64_t{13}, int64_t{16}, int64_t{16384 * 2 + 37}}) {
        Vec g = random_vec(n, 21), w0 = random_vec(n, 22);
        for (int64_t i = 0; i < n; i += 7) g[i] = (i % 3 == 0) ? nan : (i % 3 == 1) ? inf : -1e30f;
        for (int64_t i = 3; i < n; i += 11) w0[i] = (i % 2) ? inf : nan;
        for (const GradPrep& prep : kPreps) {
            // Runs every optimizer once from the same state; returns all the state arrays.
            auto run = [&]() {
                Vec out;
                Vec w = w0, m(n, 0.1f), v(n, 0.2f), h(n, 0.3f), a(n, 0.05f);
                sgd_update(w.data(), g.data(), n, 0.1f, prep);
                sgd_momentum_update(w.data(), m.data(), g.data(), n, 0.1f, 0.9f, true, prep);
                adam_update(w.data(), m.data(), v.data(), h.data(), g.data(), n, 0.01f, 0.02f,
                            0.9f, 0.999f, 1e-7f, prep);
                rmsprop_update(w.data(), v.data(), m.data(), a.data(), g.data(), n, 0.01f, 0.9f,
                               0.5f, 1e-7f, prep);
                adagrad_update(w.data(), a.data(), g.data(), n, 0.01f, 1e-7f, prep);
                for (const Vec* x : {&w, &m, &v, &h, &a}) out.insert(out.end(), x->begin(), x->end());
                return out;
            };
            ASSERT_TRUE(set_isa(Isa::generic));
            const Vec want = run();
            for (Isa isa : runnable_isas()) {
                ASSERT_TRUE(set_isa(isa));
                const Vec got = run();
                for (size_t i = 0; i < want.size(); i++) {
                    const bool both_nan = std::isnan(want[i]) && std::isnan(got[i]);
                    ASSERT_TRUE(both_nan || std::memcmp(&want[i], &got[i], 4) == 0)
                        << isa_name(isa) << " n=" << n << " at " << i << ": " << got[i]
                        << " vs portable " << want[i];
                }
            }
        }
    }
}

}  // namespace
}  // namespace grebe
