// test_loss.cpp — the fused cross-entropy kernels against plain double-precision reference
// loops (softmax, log, one-hot written out), awkward sizes, huge logits, and bitwise equality of
// the results for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/loss.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;

using Vec = std::vector<float>;


// Reference: p = softmax(x) in double, loss = -sum t log p, grad = p * sum(t) - t.
void reference(std::vector<double>& loss, std::vector<double>& grad, const Vec& x, const Vec& t,
               int64_t N, int64_t C) {
    loss.assign(N, 0.0);
    grad.assign(N * C, 0.0);
    for (int64_t i = 0; i < N; i++) {
        double mx = x[i * C];
        for (int64_t c = 0; c < C; c++) mx = std::max(mx, double(x[i * C + c]));
        double s = 0.0, ts = 0.0;
        for (int64_t c = 0; c < C; c++) s += std::exp(x[i * C + c] - mx);
        for (int64_t c = 0; c < C; c++) ts += t[i * C + c];
        for (int64_t c = 0; c < C; c++) {
            const double logp = x[i * C + c] - mx - std::log(s);
            loss[i] -= t[i * C + c] * logp;
            grad[i * C + c] = std::exp(logp) * ts - t[i * C + c];
        }
    }
}

const std::pair<int64_t, int64_t> kShapes[] = {{1, 1}, {1, 2}, {3, 10}, {7, 13}, {32, 10},
                                                {5, 1000}, {2000, 40}};

TEST(Loss, SparseMatchesReference) {
    for (auto [N, C] : kShapes) {
        Vec x = random_vec(N * C, 1, -3.0f, 3.0f);
        std::vector<int64_t> y(N);
        Vec onehot(N * C, 0.0f);
        for (int64_t i = 0; i < N; i++) {
            y[i] = (i * 7 + 3) % C;
            onehot[i * C + y[i]] = 1.0f;
        }
        std::vector<double> lr, gr;
        reference(lr, gr, x, onehot, N, C);
        Vec loss(N), grad(N * C), loss_only(N);
        softmax_cross_entropy_sparse(loss.data(), grad.data(), x.data(), y.data(), N, C);
        softmax_cross_entropy_sparse(loss_only.data(), nullptr, x.data(), y.data(), N, C);
        for (int64_t i = 0; i < N; i++) {
            EXPECT_NEAR(loss[i], lr[i], 1e-5 * (1 + std::fabs(lr[i]))) << N << "x" << C;
            EXPECT_EQ(loss[i], loss_only[i]);
        }
        for (int64_t k = 0; k < N * C; k++) EXPECT_NEAR(grad[k], gr[k], 1e-6) << N << "x" << C;
    }
}

TEST(Loss, DenseMatchesReference) {
    for (auto [N, C] : kShapes) {
        Vec x = random_vec(N * C, 2, -3.0f, 3.0f);
        Vec t = random_vec(N * C, 3, -1.0f, 1.0f);
        for (auto& v : t) v = std::fabs(v);  // soft labels, rows not normalized
        std::vector<double> lr, gr;
        reference(lr, gr, x, t, N, C);
        Vec loss(N), grad(N * C);
        softmax_cross_entropy_dense(loss.data(), grad.data(), x.data(), t.data(), N, C);
        for (int64_t i = 0; i < N; i++)
            EXPECT_NEAR(loss[i], lr[i], 1e-5 * (1 + std::fabs(lr[i]))) << N << "x" << C;
        for (int64_t k = 0; k < N * C; k++) EXPECT_NEAR(grad[k], gr[k], 1e-5) << N << "x" << C;
    }
}

TEST(Loss, HugeLogitsStayFinite) {
    const int64_t C = 4;
    Vec x = {1e30f, -1e30f, 5e29f, 0.0f};
    std::vector<int64_t> y = {1};
    Vec loss(1), grad(C);
    softmax_cross_entropy_sparse(loss.data(), grad.data(), x.data(), y.data(), 1, C);
    EXPECT_FLOAT_EQ(loss[0], 2e30f);
    EXPECT_FLOAT_EQ(grad[0], 1.0f);
    EXPECT_FLOAT_EQ(grad[1], -1.0f);
    EXPECT_FLOAT_EQ(grad[2], 0.0f);
    Vec t = {1.0f, 0.0f, 0.0f, 0.0f};
    softmax_cross_entropy_dense(loss.data(), grad.data(), x.data(), t.data(), 1, C);
    EXPECT_EQ(loss[0], 0.0f);
    for (float g : grad) EXPECT_TRUE(std::isfinite(g));
}

TEST(Loss, NanPropagatesAndTinyProbabilitiesStayAccurate) {
    Vec x = {0.0f, NAN, 1.0f};
    std::vector<int64_t> y = {0};
    Vec loss(1), grad(3);
    softmax_cross_entropy_sparse(loss.data(), grad.data(), x.data(), y.data(), 1, 3);
    EXPECT_TRUE(std::isnan(loss[0]));
    // Gaps around the underflow edge of exp (-87.3): softmax entries near FLT_MIN (entries
    // below FLT_MIN flush to 0, an absolute error under 1.2e-38).
    for (float gap : {-80.0f, -87.0f, -87.3f, -87.4f, -100.0f}) {
        Vec z = {0.0f, gap, gap * 0.5f, 0.0f, gap};
        std::vector<int64_t> lab = {1};
        Vec l(1), g(5);
        softmax_cross_entropy_sparse(l.data(), g.data(), z.data(), lab.data(), 1, 5);
        const double s = 2.0 + 2.0 * std::exp(double(gap)) + std::exp(0.5 * gap);
        EXPECT_NEAR(l[0], std::log(s) - gap, 1e-5) << gap;
        EXPECT_NEAR(g[2], std::exp(0.5 * gap) / s, 1e-6 * std::exp(0.5 * gap) / s + 1.2e-38);
        EXPECT_NEAR(g[4], std::exp(double(gap)) / s, 1e-5 * std::exp(double(gap)) / s + 1.2e-38)
            << gap;
    }
}

TEST(Loss, SigmoidMatchesReference) {
    for (int64_t n : {1L, 5L, 17L, 100001L}) {
        Vec x = random_vec(n, 4, -20.0f, 20.0f), z = random_vec(n, 5, -1.0f, 1.0f);
        for (auto& v : z) v = std::fabs(v);
        x[0] = 1e30f;
        Vec loss(n), grad(n);
        sigmoid_cross_entropy(loss.data(), grad.data(), x.data(), z.data(), n);
        for (int64_t i = 0; i < n; i++) {
            const double xi = x[i], zi = z[i];
            const double sp = xi > 0 ? xi + std::log1p(std::exp(-xi)) : std::log1p(std::exp(xi));
            const double ref = sp - xi * zi;  // softplus(x) - x z
            const double sig = 1.0 / (1.0 + std::exp(-xi));
            ASSERT_NEAR(loss[i], ref, 1e-5 * (1 + std::fabs(ref))) << i;
            ASSERT_NEAR(grad[i], sig - zi, 1e-6) << i;
        }
    }
}

TEST(Loss, FirstBadLabel) {
    std::vector<int64_t> y = {0, 2, 3, -1};
    EXPECT_EQ(first_bad_label(y.data(), 2, 3), -1);
    EXPECT_EQ(first_bad_label(y.data(), 4, 3), 2);
    EXPECT_EQ(first_bad_label(y.data(), 4, 4), 3);
    EXPECT_EQ(first_bad_label(y.data(), 0, 4), -1);
}

TEST(Loss, SameBitsForAnyThreadCount) {
    const int before = num_threads();
    const int64_t N = 3001, C = 37;
    Vec x = random_vec(N * C, 6, -3.0f, 3.0f);
    std::vector<int64_t> y(N);
    for (int64_t i = 0; i < N; i++) y[i] = (i * 5) % C;
    std::vector<Vec> losses, grads;
    for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        Vec loss(N), grad(N * C);
        softmax_cross_entropy_sparse(loss.data(), grad.data(), x.data(), y.data(), N, C);
        losses.push_back(loss);
        grads.push_back(grad);
    }
    set_num_threads(before);
    for (int k = 1; k < 3; k++) {
        EXPECT_EQ(losses[0], losses[k]);
        EXPECT_EQ(grads[0], grads[k]);
    }
}

// Every ISA against the portable kernel: the same loss and gradient within float rounding (the
// row sums run in a different double order), and NaN / inf rows in the same places, for row
// lengths around the vector widths.
TEST(Loss, EveryIsaMatchesPortable) {
    testing_util::Restore restore;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int64_t C : {int64_t{1}, int64_t{10}, int64_t{16}, int64_t{37}, int64_t{300}}) {
        const int64_t N = 9;
        Vec x = random_vec(N * C, 7, -30.0f, 30.0f), t = random_vec(N * C, 8, 0.0f, 1.0f);
        x[2 * C + C / 2] = nan;                                        // a NaN row
        x[4 * C] = std::numeric_limits<float>::infinity();             // a +inf row
        std::vector<int64_t> y(N);
        for (int64_t i = 0; i < N; i++) y[i] = (i * 3) % C;
        auto run = [&]() {
            Vec ls(N), gs(N * C), ld(N), gd(N * C);
            softmax_cross_entropy_sparse(ls.data(), gs.data(), x.data(), y.data(), N, C);
            softmax_cross_entropy_dense(ld.data(), gd.data(), x.data(), t.data(), N, C);
            Vec out = ls;
            for (const Vec* v : {&gs, &ld, &gd}) out.insert(out.end(), v->begin(), v->end());
            return out;
        };
        ASSERT_TRUE(set_isa(Isa::generic));
        const Vec want = run();
        for (Isa isa : testing_util::runnable_isas()) {
            ASSERT_TRUE(set_isa(isa));
            const Vec got = run();
            for (size_t i = 0; i < want.size(); i++) {
                if (!std::isfinite(want[i])) {
                    ASSERT_TRUE(std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i])
                        << isa_name(isa) << " C=" << C << " at " << i;
                    continue;
                }
                ASSERT_NEAR(got[i], want[i], 1e-5 * (1.0 + std::fabs(want[i])))
                    << isa_name(isa) << " C=" << C << " at " << i;
            }
        }
    }
}

// Sigmoid cross-entropy: every ISA within a few ulp of the portable kernel (the AVX-512 body
// uses its own exp/log1p, not libm's), non-finite outputs in the same places with the same
// value, and the same bits for any thread count under each ISA.
TEST(Loss, SigmoidEveryIsaMatchesPortable) {
    testing_util::Restore restore;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const int64_t n = 3 * 4096 + 45;
    Vec x = random_vec(n, 9, -30.0f, 30.0f), z = random_vec(n, 10, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i += 13) x[i] = (i % 4 == 0) ? nan : (i % 4 == 1) ? inf : -inf;
    for (int64_t i = 5; i < n; i += 17) x[i] = (i % 2) ? 1e30f : -1e30f;
    for (int64_t i = 7; i < n; i += 19) x[i] = (i % 2) ? 95.0f : -95.0f;  // exp underflows
    for (int64_t i = 0; i < n; i += 29) z[i] = (i % 2) ? 0.0f : 1.0f;
    auto run = [&]() {
        Vec loss(n), d(n), out;
        sigmoid_cross_entropy(loss.data(), d.data(), x.data(), z.data(), n);
        out = loss;
        out.insert(out.end(), d.begin(), d.end());
        return out;
    };
    ASSERT_TRUE(set_isa(Isa::generic));
    const Vec want = run();
    for (Isa isa : testing_util::runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        set_num_threads(1);
        const Vec got = run();
        for (size_t i = 0; i < want.size(); i++) {
            if (!std::isfinite(want[i])) {
                ASSERT_TRUE(std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i])
                    << isa_name(isa) << " at " << i << ": " << got[i] << " vs " << want[i];
                continue;
            }
            ASSERT_NEAR(got[i], want[i], 4e-7 * std::fabs(want[i]) + 6e-8)
                << isa_name(isa) << " at " << i << " x=" << x[i % n];
        }
        for (int t : {2, 3}) {
            set_num_threads(t);
            const Vec again = run();
            ASSERT_EQ(0, std::memcmp(got.data(), again.data(), got.size() * sizeof(float)))
                << isa_name(isa) << " threads " << t;
        }
    }
}

}  // namespace
}  // namespace grebe
