// test_nan_faithful.cpp — NaN and +-Inf pass through every vector kernel exactly as through the
// portable one: each kernel runs under every ISA this CPU has on inputs holding NaN, +-Inf and
// huge values, and every output element must fall in the same class (finite, NaN, +inf, -inf)
// as the portable kernel's. A clamp such as max(x, -87) before exp, which turns NaN into a
// number, fails here. The optimizers and the softmax losses are also checked against the scalar
// rule directly: a NaN input gives a NaN output where it lands.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/rnn.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using Vec = std::vector<float>;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// 0 finite, 1 NaN, 2 +inf, 3 -inf.
int cls(float v) { return std::isnan(v) ? 1 : std::isinf(v) ? (v > 0 ? 2 : 3) : 0; }

void expect_same_classes(const Vec& want, const Vec& got, const std::string& what) {
    ASSERT_EQ(want.size(), got.size()) << what;
    int bad = 0;
    for (size_t i = 0; i < want.size() && bad < 5; i++)
        if (cls(want[i]) != cls(got[i])) {
            ADD_FAILURE() << what << "[" << i << "]: portable " << want[i] << ", got " << got[i];
            bad++;
        }
}

// n values in [-3, 3) with NaN, +-Inf, +-1e30 and +-100 sprinkled in (body and tail lanes).
Vec special_vec(size_t n, uint32_t seed) {
    Vec v = testing_util::random_vec(n, seed);
    for (size_t i = 0; i < n; i++) {
        v[i] *= 3.0f;
        const size_t k = (i + seed) % 23;
        if (k == 3) v[i] = kNaN;
        else if (k == 7) v[i] = kInf;
        else if (k == 11) v[i] = -kInf;
        else if (k == 15) v[i] = (i & 1) ? 1e30f : -1e30f;
        else if (k == 19) v[i] = (i & 1) ? 100.0f : -100.0f;
    }
    return v;
}

// Runs f() under the portable ISA, then under each vector ISA, comparing classes of `out`.
void each_isa_against_portable(const std::string& what, const std::function<Vec()>& f,
                               bool must_reach = true) {
    testing_util::Restore restore;
    set_isa(Isa::generic);
    const Vec want = f();
    int nonfinite = 0;
    for (float v : want) nonfinite += cls(v) != 0;
    if (must_reach) EXPECT_GT(nonfinite, 0) << what << ": the inputs should reach the outputs";
    for (Isa isa : testing_util::runnable_isas()) {
        if (isa == Isa::generic) continue;
        set_isa(isa);
        expect_same_classes(want, f(), what + " under " + isa_name(isa));
    }
}

TEST(NanFaithful, Activations) {
    const int64_t n = 203;  // a body of vectors and a masked tail
    const Vec x = special_vec(n, 1), dy = special_vec(n, 2);
    const Vec dy_fin = testing_util::random_vec(n, 3);
    for (int a = 0; a < static_cast<int>(Act::count); a++) {
        const Act act = static_cast<Act>(a);
        const std::string name = "act " + std::to_string(a);
        each_isa_against_portable(name + " forward", [&] {
            Vec y(n);
            act_forward(y.data(), x.data(), n, act, 0.3f);
            return y;
        });
        Vec y(n);
        act_forward(y.data(), x.data(), n, act, 0.3f);
        // With a finite dy, relu-like gradients are 0 at NaN inputs (PyTorch's rule), so the
        // non-finite values need not reach dx; their positions must still agree.
        for (const Vec* g : {&dy, &dy_fin})
            each_isa_against_portable(name + " backward", [&] {
                Vec dx(n);
                act_backward(dx.data(), g->data(), x.data(), y.data(), n, act, 0.3f);
                return dx;
            }, g == &dy);
        each_isa_against_portable(name + " bias_act", [&] {
            Vec z(n), b = special_vec(29, 4);
            bias_act_forward(z.data(), x.data(), b.data(), 7, 29, act, 0.3f);
            return z;
        });
    }
}

TEST(NanFaithful, Softmax) {
    const int64_t M = 8, N = 37;
    Vec x = testing_util::random_vec(M * N, 5);
    x[0 * N + 4] = kNaN;             // row 0: a NaN
    x[1 * N + 36] = kInf;            // row 1: +inf in the tail
    x[2 * N + 9] = -kInf;            // row 2: one -inf (finite result)
    for (int64_t j = 0; j < N; j++) x[3 * N + j] = -kInf;  // row 3: all -inf
    x[4 * N + 2] = 1e30f;            // row 4: huge
    x[5 * N + 1] = -1e30f; x[5 * N + 30] = 1e30f;
    x[7 * N + 35] = kNaN; x[7 * N + 1] = kInf;
    for (bool log : {false, true}) {
        const std::string name = log ? "log_softmax" : "softmax";
        each_isa_against_portable(name + " forward", [&] {
            Vec y(M * N);
            softmax_forward(y.data(), x.data(), M, N, log);
            return y;
        });
        Vec y(M * N);
        softmax_forward(y.data(), x.data(), M, N, log);
        const Vec dy = special_vec(M * N, 6);
        each_isa_against_portable(name + " backward", [&] {
            Vec dx(M * N);
            softmax_backward(dx.data(), dy.data(), y.data(), M, N, log);
            return dx;
        });
    }
}

// One NaN, one +inf, one -inf and one huge value in x; every output and gradient compared.
TEST(NanFaithful, Recurrent) {
    const int64_t B = 13, T = 4, F = 5, U = 21;
    for (RnnCell cell : {RnnCell::simple, RnnCell::lstm, RnnCell::gru}) {
        const int64_t GU = rnn_gates(cell) * U;
        Vec x = testing_util::random_vec(B * T * F, 7);
        x[(2 * T + 1) * F + 3] = kNaN;
        x[(5 * T + 0) * F + 1] = kInf;
        x[(7 * T + 2) * F + 0] = -kInf;
        x[(9 * T + 1) * F + 2] = 1e20f;
        const Vec W = testing_util::random_vec(F * GU, 8), R = testing_util::random_vec(U * GU, 9);
        const Vec bx = testing_util::random_vec(GU, 10), bh = testing_util::random_vec(GU, 11);
        const Vec dy = testing_util::random_vec(B * T * U, 12);
        for (int what = 0; what < 6; what++) {
            const char* names[] = {"y", "dx", "dW", "dR", "dbx", "dh0"};
            each_isa_against_portable(std::string("rnn cell ") +
                                          std::to_string(static_cast<int>(cell)) + " " +
                                          names[what], [&] {
                const bool lstm = cell == RnnCell::lstm;
                Vec y(B * T * U), hT(B * U), cT(B * U), hs((T + 1) * B * U), cs((T + 1) * B * U);
                Vec gates(T * B * GU), aux(T * B * U), dx(B * T * F), dW(F * GU), dR(U * GU),
                    dbx(GU), dbh(GU), dh0(B * U), dc0(B * U);
                RnnArgs a;
                a.cell = cell; a.B = B; a.T = T; a.F = F; a.U = U;
                a.x = x.data(); a.W = W.data(); a.R = R.data(); a.bx = bx.data();
                a.bh = cell == RnnCell::gru ? bh.data() : nullptr;
                a.y = y.data(); a.hT = hT.data(); a.cT = lstm ? cT.data() : nullptr;
                a.hs = hs.data(); a.cs = cs.data(); a.gates = gates.data(); a.aux = aux.data();
                rnn_forward(a);
                a.dy = dy.data(); a.dx = dx.data(); a.dW = dW.data(); a.dR = dR.data();
                a.dbx = dbx.data(); a.dbh = a.bh ? dbh.data() : nullptr; a.dh0 = dh0.data();
                a.dc0 = lstm ? dc0.data() : nullptr;
                rnn_backward(a);
                const Vec* outs[] = {&y, &dx, &dW, &dR, &dbx, &dh0};
                return *outs[what];
            });
        }
    }
}

TEST(NanFaithful, Pooling) {
    const Pool2dShape s = pool2d_shape(2, 7, 9, 19, 2, 2, 2, 2, true);
    const Vec x = special_vec(2 * 7 * 9 * 19, 13);
    const int64_t out = s.N * s.P * s.Q * s.C;
    const Vec dy = special_vec(out, 14);
    each_isa_against_portable("max_pool2d forward", [&] {
        Vec y(out);
        std::vector<uint8_t> am(out);
        max_pool2d_forward(y.data(), am.data(), x.data(), s);
        return y;
    });
    each_isa_against_portable("max_pool2d backward", [&] {
        Vec y(out), dx(x.size(), 0.0f);
        std::vector<uint8_t> am(out);
        max_pool2d_forward(y.data(), am.data(), x.data(), s);
        max_pool2d_backward(dx.data(), dy.data(), am.data(), s);
        return dx;
    });
    each_isa_against_portable("avg_pool2d forward", [&] {
        Vec y(out);
        avg_pool2d_forward(y.data(), x.data(), s);
        return y;
    });
    each_isa_against_portable("avg_pool2d backward", [&] {
        Vec dx(x.size(), 0.0f);
        avg_pool2d_backward(dx.data(), dy.data(), s);
        return dx;
    });
    // Global pooling over the same x viewed as (N, H*W, C); dy (N, C).
    const int64_t S = 7 * 9, C = 19;
    const Vec gdy = special_vec(2 * C, 15);
    each_isa_against_portable("global pooling", [&] {
        Vec ya(2 * C), ym(2 * C), dxa(x.size()), dxm(x.size());
        std::vector<int32_t> am(2 * C);
        global_avg_pool_forward(ya.data(), x.data(), 2, S, C);
        global_max_pool_forward(ym.data(), am.data(), x.data(), 2, S, C);
        global_avg_pool_backward(dxa.data(), gdy.data(), 2, S, C);
        global_max_pool_backward(dxm.data(), gdy.data(), am.data(), 2, S, C);
        for (const Vec* v : {&ym, &dxa, &dxm}) ya.insert(ya.end(), v->begin(), v->end());
        return ya;
    });
}

TEST(NanFaithful, BatchNorm) {
    const int64_t M = 37, C = 21;
    Vec x = testing_util::random_vec(M * C, 15);
    x[3 * C + 2] = kNaN;
    x[5 * C + 7] = kInf;
    each_isa_against_portable("batch_norm stats + apply", [&] {
        Vec mean(C), var(C), y(M * C), shift(C, 0.5f);
        batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
        Vec scale(C);
        for (int64_t c = 0; c < C; c++) scale[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
        batch_norm_apply(y.data(), x.data(), scale.data(), shift.data(), M, C);
        Vec out = mean;
        out.insert(out.end(), var.begin(), var.end());
        out.insert(out.end(), y.begin(), y.end());
        return out;
    });
    // The fused batch norm + ReLU forward and its backward (reduce + data) on specials in dy.
    const Vec dy = special_vec(M * C, 17);
    each_isa_against_portable("batch_norm_apply_relu + relu backward", [&] {
        Vec mean(C), var(C), inv(C), y(M * C), shift(C, -0.25f), db(C), dg(C), dx(M * C);
        batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
        for (int64_t c = 0; c < C; c++) inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
        batch_norm_apply_relu(y.data(), x.data(), inv.data(), shift.data(), M, C);
        batch_norm_backward(dx.data(), db.data(), dg.data(), dy.data(), y.data(), x.data(),
                            mean.data(), inv.data(), nullptr, M, C);
        Vec out = y;
        for (const Vec* v : {&db, &dg, &dx}) out.insert(out.end(), v->begin(), v->end());
        return out;
    });
    each_isa_against_portable("batch_norm backward (reduce + data)", [&] {
        Vec mean(C), var(C), inv(C), db(C), dg(C), dx(M * C);
        Vec xf = testing_util::random_vec(M * C, 18);
        batch_norm_stats(mean.data(), var.data(), xf.data(), M, C);
        for (int64_t c = 0; c < C; c++) inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
        batch_norm_backward_reduce(db.data(), dg.data(), dy.data(), xf.data(), mean.data(),
                                   inv.data(), M, C);
        batch_norm_backward_data(dx.data(), dy.data(), xf.data(), mean.data(), inv.data(),
                                 nullptr, db.data(), dg.data(), M, C);
        Vec out = db;
        for (const Vec* v : {&dg, &dx}) out.insert(out.end(), v->begin(), v->end());
        return out;
    });
    // The exact backward (the training path), with and without the ReLU mask.
    for (bool relu : {false, true})
        each_isa_against_portable(relu ? "batch_norm_backward relu" : "batch_norm_backward", [&] {
            Vec mean(C), var(C), inv(C), y(M * C), shift(C, -0.25f), db(C), dg(C), dx(M * C);
            batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
            for (int64_t c = 0; c < C; c++) inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
            batch_norm_apply_relu(y.data(), x.data(), inv.data(), shift.data(), M, C);
            batch_norm_backward(dx.data(), db.data(), dg.data(), dy.data(),
                                relu ? y.data() : nullptr, x.data(), mean.data(), inv.data(),
                                nullptr, M, C);
            Vec out = db;
            for (const Vec* v : {&dg, &dx}) out.insert(out.end(), v->begin(), v->end());
            return out;
        });
    // A NaN in channel 2 makes that channel's statistics NaN, and only that channel's; the
    // Inf in channel 7 makes its variance inf or NaN, never finite.
    Vec mean(C), var(C);
    batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
    for (int64_t c = 0; c < C; c++) {
        if (c == 2) EXPECT_TRUE(std::isnan(mean[c]) && std::isnan(var[c]));
        else if (c == 7) EXPECT_FALSE(std::isfinite(var[c]));
        else EXPECT_TRUE(std::isfinite(mean[c]) && std::isfinite(var[c])) << c;
    }
}

// The optimizers' SSE body (4 at a time) and scalar tail: a NaN or Inf gradient reaches the
// weight wherever it sits, also through gradient clipping (which bounds an Inf, not a NaN).
TEST(NanFaithful, Optimizers) {
    const int64_t n = 23;
    Vec g = testing_util::random_vec(n, 16);
    g[1] = kNaN; g[6] = kInf; g[21] = kNaN; g[22] = -kInf;
    for (float clip : {0.0f, 0.5f}) {
        GradPrep prep;
        prep.clip = clip;
        auto check = [&](const Vec& w, const char* name) {
            for (int64_t i = 0; i < n; i++) {
                const bool nan_in = std::isnan(g[i]), inf_in = std::isinf(g[i]);
                if (nan_in) EXPECT_TRUE(std::isnan(w[i])) << name << " clip " << clip << " " << i;
                else if (inf_in && clip > 0) EXPECT_TRUE(std::isfinite(w[i])) << name << " " << i;
                else if (!inf_in) EXPECT_TRUE(std::isfinite(w[i])) << name << " " << i;
                else EXPECT_FALSE(std::isfinite(w[i])) << name << " " << i;
            }
        };
        Vec w(n, 0.5f), m(n, 0.0f), v(n, 0.0f), h(n, 0.0f), a(n, 0.0f);
        sgd_update(w.data(), g.data(), n, 0.1f, prep);
        check(w, "sgd");
        w.assign(n, 0.5f);
        sgd_momentum_update(w.data(), m.data(), g.data(), n, 0.1f, 0.9f, false, prep);
        check(w, "momentum");
        w.assign(n, 0.5f); m.assign(n, 0.0f);
        adam_update(w.data(), m.data(), v.data(), h.data(), g.data(), n, 0.1f, 0.1f, 0.9f,
                    0.999f, 1e-7f, prep);
        for (int64_t i = 0; i < n; i++)  // m/sqrt(v) of an inf gradient is inf/inf: NaN
            if (std::isnan(g[i]) || (clip == 0 && std::isinf(g[i])))
                EXPECT_TRUE(std::isnan(w[i])) << "adam " << i;
            else
                EXPECT_TRUE(std::isfinite(w[i])) << "adam " << i;
        w.assign(n, 0.5f); v.assign(n, 0.0f);
        adagrad_update(w.data(), a.data(), g.data(), n, 0.1f, 1e-7f, prep);
        for (int64_t i = 0; i < n; i++)  // g/sqrt(acc) of an inf gradient is NaN too
            EXPECT_EQ(std::isfinite(w[i]), !std::isnan(g[i]) && (!std::isinf(g[i]) || clip > 0))
                << "adagrad " << i;
    }
}

TEST(NanFaithful, Losses) {
    const int64_t N = 5, C = 11;
    Vec x = testing_util::random_vec(N * C, 17);
    x[1 * C + 3] = kNaN;
    x[3 * C + 10] = kInf;
    std::vector<int64_t> labels = {0, 1, 2, 3, 4};
    Vec loss(N), d(N * C);
    softmax_cross_entropy_sparse(loss.data(), d.data(), x.data(), labels.data(), N, C);
    for (int64_t i = 0; i < N; i++) {
        const bool bad = i == 1 || i == 3;
        EXPECT_EQ(std::isfinite(loss[i]), !bad) << "sparse loss row " << i;
        for (int64_t c = 0; c < C; c++)
            EXPECT_EQ(std::isfinite(d[i * C + c]), !bad) << "sparse grad " << i << "," << c;
    }
    Vec t(N * C, 0.0f);
    for (int64_t i = 0; i < N; i++) t[i * C + i] = 1.0f;
    softmax_cross_entropy_dense(loss.data(), d.data(), x.data(), t.data(), N, C);
    for (int64_t i = 0; i < N; i++) EXPECT_EQ(std::isfinite(loss[i]), i != 1 && i != 3) << i;
    Vec l2(N * C), d2(N * C);
    sigmoid_cross_entropy(l2.data(), d2.data(), x.data(), t.data(), N * C);
    EXPECT_TRUE(std::isnan(l2[1 * C + 3]));
    EXPECT_TRUE(std::isnan(d2[1 * C + 3]));
    // Sigmoid cross-entropy (a vector body under AVX-512) against the portable one.
    const Vec xs = special_vec(203, 18), zs = testing_util::random_vec(203, 19);
    each_isa_against_portable("sigmoid_cross_entropy", [&] {
        Vec l(203), d(203);
        sigmoid_cross_entropy(l.data(), d.data(), xs.data(), zs.data(), 203);
        l.insert(l.end(), d.begin(), d.end());
        return l;
    });
    // sum_squares (a vector body under AVX-512): NaN, +inf or finite as the portable sum.
    for (int k = 0; k < 3; k++) {
        Vec v = testing_util::random_vec(4096 + 37, 20);
        if (k >= 1) v[4100] = -kInf;
        if (k == 2) v[17] = kNaN;
        each_isa_against_portable("sum_squares", [&] {
            return Vec{static_cast<float>(sum_squares(v.data(), static_cast<int64_t>(v.size())))};
        }, k > 0);
    }
}

}  // namespace
}  // namespace grebe
