// test_rnn.cpp — the recurrent kernels (rnn.h) against a plain double-precision loop over time:
// forward values for every cell, every gradient against central differences of that loop, the
// fused AVX2 and AVX-512 passes against the portable one, and bitwise invariance to the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/rnn.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using Vec = std::vector<float>;
using DVec = std::vector<double>;

double act(double v, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return std::tanh(v);
        case RnnAct::sigmoid: return 1.0 / (1.0 + std::exp(-v));
        case RnnAct::relu: return v > 0 ? v : 0;
        case RnnAct::hard_sigmoid: return std::min(1.0, std::max(0.0, v / 6 + 0.5));
        default: return v;
    }
}

struct Case {
    RnnCell cell;
    int64_t B, T, F, U;
    bool reverse = false, masked = false, rdrop = false;
    RnnAct a = RnnAct::tanh, ra = RnnAct::sigmoid;
    Vec x, h0, c0, W, R, bx, bh, rd;
    std::vector<uint8_t> mask;
    Vec gy, gh, gc;  // upstream gradients of the loss
    int G() const { return rnn_gates(cell); }
};

Vec randn(size_t n, std::mt19937& g, float scale) {
    std::normal_distribution<float> d(0.0f, scale);
    Vec v(n);
    for (auto& e : v) e = d(g);
    return v;
}

Case make(RnnCell cell, int64_t B, int64_t T, int64_t F, int64_t U, unsigned seed) {
    std::mt19937 g(seed);
    Case c;
    c.cell = cell;
    c.B = B; c.T = T; c.F = F; c.U = U;
    const int64_t GU = rnn_gates(cell) * U;
    c.x = randn(B * T * F, g, 1.0f);
    c.h0 = randn(B * U, g, 0.5f);
    c.c0 = randn(B * U, g, 0.5f);
    c.W = randn(F * GU, g, 0.5f);
    c.R = randn(U * GU, g, 0.4f);
    c.bx = randn(GU, g, 0.2f);
    if (cell == RnnCell::gru) c.bh = randn(GU, g, 0.2f);
    c.gy = randn(B * T * U, g, 1.0f);
    c.gh = randn(B * U, g, 1.0f);
    c.gc = randn(B * U, g, 1.0f);
    c.mask.resize(B * T);
    std::bernoulli_distribution keep(0.7);
    for (auto& m : c.mask) m = keep(g);
    c.rd.resize(rnn_gates(cell) * B * U);
    for (auto& r : c.rd) r = keep(g) ? 1.0f / 0.7f : 0.0f;
    return c;
}

// The reference: Keras's equations one timestep at a time, in double. Returns the loss
// sum(y*gy) + sum(hT*gh) + sum(cT*gc) and fills y, hT, cT.
double reference(const Case& c, const DVec& x, const DVec& h0, const DVec& c0, const DVec& W,
                 const DVec& R, const DVec& bx, const DVec& bh, DVec* y_out = nullptr) {
    const int64_t B = c.B, T = c.T, F = c.F, U = c.U, G = c.G(), GU = G * U;
    DVec h(h0), cs(c0), y(B * T * U);
    for (int64_t s = 0; s < T; s++) {
        const int64_t t = c.reverse ? T - 1 - s : s;
        DVec hn(h), cn(cs);
        for (int64_t b = 0; b < B; b++) {
            if (c.masked && !c.mask[b * T + t]) continue;
            auto m = [&](int g, int64_t k) { return c.rdrop ? c.rd[(g * B + b) * U + k] : 1.0f; };
            // xp[g*U+j], rp[g*U+j] (recurrent part; GRU-before h gate filled below)
            DVec xp(GU), rp(GU);
            for (int64_t n = 0; n < GU; n++) {
                double v = bx.empty() ? 0 : bx[n];
                for (int64_t f = 0; f < F; f++) v += x[(b * T + t) * F + f] * W[f * GU + n];
                xp[n] = v;
                double r = bh.empty() ? 0 : bh[n];
                const int g = static_cast<int>(n / U);
                if (!(c.cell == RnnCell::gru_reset_before && g == 2))
                    for (int64_t k = 0; k < U; k++) r += h[b * U + k] * m(g, k) * R[k * GU + n];
                rp[n] = r;
            }
            for (int64_t j = 0; j < U; j++) {
                if (c.cell == RnnCell::lstm) {
                    double i = act(xp[j] + rp[j], c.ra), f = act(xp[U + j] + rp[U + j], c.ra);
                    double g = act(xp[2 * U + j] + rp[2 * U + j], c.a);
                    double o = act(xp[3 * U + j] + rp[3 * U + j], c.ra);
                    cn[b * U + j] = f * cs[b * U + j] + i * g;
                    hn[b * U + j] = o * act(cn[b * U + j], c.a);
                } else if (c.cell == RnnCell::simple) {
                    hn[b * U + j] = act(xp[j] + rp[j], c.a);
                } else {
                    double z = act(xp[j] + rp[j], c.ra), r = act(xp[U + j] + rp[U + j], c.ra);
                    double pre;
                    if (c.cell == RnnCell::gru) {
                        pre = xp[2 * U + j] + r * rp[2 * U + j];
                    } else {
                        pre = xp[2 * U + j];
                        for (int64_t k = 0; k < U; k++) {
                            double rk = act(xp[U + k] + rp[U + k], c.ra);
                            pre += rk * h[b * U + k] * m(2, k) * R[k * GU + 2 * U + j];
                        }
                    }
                    double hh = act(pre, c.a);
                    hn[b * U + j] = z * h[b * U + j] + (1 - z) * hh;
                }
            }
        }
        h = hn;
        cs = cn;
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < U; j++) y[(b * T + s) * U + j] = h[b * U + j];
    }
    double loss = 0;
    for (int64_t i = 0; i < B * T * U; i++) loss += y[i] * c.gy[i];
    for (int64_t i = 0; i < B * U; i++) loss += h[i] * c.gh[i];
    if (c.cell == RnnCell::lstm)
        for (int64_t i = 0; i < B * U; i++) loss += cs[i] * c.gc[i];
    if (y_out) *y_out = y;
    return loss;
}

DVec d(const Vec& v) { return DVec(v.begin(), v.end()); }

struct Result {
    Vec y, hT, cT, dx, dh0, dc0, dW, dR, dbx, dbh;
};

Result run(const Case& c, bool want_dx = true) {
    const int64_t B = c.B, T = c.T, U = c.U, GU = c.G() * U;
    const bool lstm = c.cell == RnnCell::lstm;
    Result r;
    r.y.resize(B * T * U); r.hT.resize(B * U); r.cT.resize(B * U);
    Vec hs((T + 1) * B * U), cs((T + 1) * B * U), gates(T * B * GU), aux(T * B * U);
    RnnArgs a;
    a.cell = c.cell; a.act = c.a; a.ract = c.ra; a.reverse = c.reverse;
    a.B = B; a.T = T; a.F = c.F; a.U = U;
    a.x = c.x.data(); a.h0 = c.h0.data(); a.c0 = lstm ? c.c0.data() : nullptr;
    a.W = c.W.data(); a.R = c.R.data(); a.bx = c.bx.data();
    a.bh = c.bh.empty() ? nullptr : c.bh.data();
    a.mask = c.masked ? c.mask.data() : nullptr;
    a.rdrop = c.rdrop ? c.rd.data() : nullptr;
    a.y = r.y.data(); a.hT = r.hT.data(); a.cT = lstm ? r.cT.data() : nullptr;
    a.hs = hs.data(); a.cs = cs.data(); a.gates = gates.data(); a.aux = aux.data();
    rnn_forward(a);
    r.dx.resize(B * T * c.F); r.dh0.resize(B * U); r.dc0.resize(B * U);
    r.dW.resize(c.F * GU); r.dR.resize(U * GU); r.dbx.resize(GU); r.dbh.resize(GU);
    a.dy = c.gy.data(); a.dhT = c.gh.data(); a.dcT = lstm ? c.gc.data() : nullptr;
    a.dx = want_dx ? r.dx.data() : nullptr;
    a.dh0 = r.dh0.data();
    a.dc0 = lstm ? r.dc0.data() : nullptr;
    a.dW = r.dW.data(); a.dR = r.dR.data(); a.dbx = r.dbx.data();
    a.dbh = c.bh.empty() ? nullptr : r.dbh.data();
    rnn_backward(a);
    return r;
}

// Checks every gradient of `got` against central differences of the reference loss.
void check_gradients(const Case& c, const Result& got) {
    DVec x = d(c.x), h0 = d(c.h0), c0 = d(c.c0), W = d(c.W), R = d(c.R), bx = d(c.bx),
         bh = d(c.bh);
    auto fd = [&](DVec& v, int64_t i) {
        const double eps = 1e-4, old = v[i];
        v[i] = old + eps;
        double fp = reference(c, x, h0, c0, W, R, bx, bh);
        v[i] = old - eps;
        double fm = reference(c, x, h0, c0, W, R, bx, bh);
        v[i] = old;
        return (fp - fm) / (2 * eps);
    };
    auto check = [&](DVec& v, const Vec& g, const char* name) {
        for (size_t i = 0; i < v.size(); i++) {
            double want = fd(v, i);
            EXPECT_NEAR(g[i], want, 2e-3 * (1 + std::fabs(want))) << name << "[" << i << "]";
        }
    };
    check(x, got.dx, "dx");
    check(h0, got.dh0, "dh0");
    if (c.cell == RnnCell::lstm) check(c0, got.dc0, "dc0");
    check(W, got.dW, "dW");
    check(R, got.dR, "dR");
    check(bx, got.dbx, "dbx");
    if (!bh.empty()) check(bh, got.dbh, "dbh");
}

void check_forward(const Case& c, const Result& got) {
    DVec y;
    reference(c, d(c.x), d(c.h0), d(c.c0), d(c.W), d(c.R), d(c.bx), d(c.bh), &y);
    for (size_t i = 0; i < y.size(); i++)
        EXPECT_NEAR(got.y[i], y[i], 2e-5 * (1 + std::fabs(y[i]))) << "y[" << i << "]";
    for (int64_t b = 0; b < c.B; b++)
        for (int64_t j = 0; j < c.U; j++)
            EXPECT_EQ(got.hT[b * c.U + j], got.y[(b * c.T + c.T - 1) * c.U + j]);
}

const RnnCell kCells[] = {RnnCell::simple, RnnCell::lstm, RnnCell::gru,
                          RnnCell::gru_reset_before};

// Runs `body` once under every ISA this CPU runs (the portable pass, fused AVX2, AVX-512).
template <class F>
void on_every_isa(F body) {
    testing_util::Restore restore;
    for (Isa isa : testing_util::runnable_isas()) {
        set_isa(isa);
        body();
    }
}

TEST(Rnn, ForwardMatchesReferenceLoop) {
    on_every_isa([] {
        for (RnnCell cell : kCells)
            for (int variant = 0; variant < 4; variant++) {
                // Sizes off every tile edge: rows 6k+1, units 16k+5, 1 feature, 1 step.
                Case c = variant == 3
                             ? make(cell, 1, 1, 1, 1, 5)
                             : make(cell, 7 + variant * 6, 5, 3, 5 + variant * 16, variant);
                c.reverse = variant == 1;
                c.masked = variant >= 1;
                if (variant == 2) { c.a = RnnAct::relu; c.ra = RnnAct::hard_sigmoid; }
                SCOPED_TRACE("cell " + std::to_string(static_cast<int>(cell)) + " variant " +
                             std::to_string(variant) + " isa " + isa_name(active_isa()));
                check_forward(c, run(c));
            }
    });
}

TEST(Rnn, GradientsMatchFiniteDifferences) {
    on_every_isa([] {
        for (RnnCell cell : kCells)
            for (int variant = 0; variant < 4; variant++) {
                // variant 3: a batch large enough for the fused pass's per-step weight gradients
                Case c = make(cell, variant == 3 ? 17 : 3, 4, 2, 5, 10 + variant);
                c.reverse = variant == 1;
                c.masked = variant >= 1;
                c.rdrop = variant == 2;
                SCOPED_TRACE("cell " + std::to_string(static_cast<int>(cell)) + " variant " +
                             std::to_string(variant) + " isa " + isa_name(active_isa()));
                Result r = run(c);
                check_forward(c, r);
                check_gradients(c, r);
            }
    });
}

TEST(Rnn, FusedEqualsPortable) {
    testing_util::Restore restore;
    for (Isa isa : testing_util::runnable_isas())
    for (RnnCell cell : {RnnCell::simple, RnnCell::lstm, RnnCell::gru}) {
        if (isa == Isa::generic) continue;
        SCOPED_TRACE(isa_name(isa));
        // 25 rows: AVX-512 tiles of 12 + 13 rows (two threads: 12 + 13 -> 12, 7 + 6).
        Case c = make(cell, 25, 6, 7, 37, 3);
        c.masked = true;
        c.a = RnnAct::sigmoid;
        c.ra = RnnAct::tanh;
        set_isa(isa);
        Result fused = run(c);
        set_isa(Isa::generic);
        Result portable = run(c);
        auto near = [](const Vec& a, const Vec& b, const char* name) {
            for (size_t i = 0; i < a.size(); i++)
                EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::fabs(b[i]))) << name << i;
        };
        near(fused.y, portable.y, "y");
        near(fused.dx, portable.dx, "dx");
        near(fused.dW, portable.dW, "dW");
        near(fused.dR, portable.dR, "dR");
        near(fused.dh0, portable.dh0, "dh0");
    }
}

TEST(Rnn, BitwiseIdenticalForAnyThreadCount) {
    const int before = num_threads();
    for (RnnCell cell : kCells) {
        Case c = make(cell, 37, 7, 6, 67, 21);
        c.masked = true;
        set_num_threads(1);
        Result one = run(c);
        for (int n : {2, 3, 5}) {
            set_num_threads(n);
            Result many = run(c);
            EXPECT_EQ(one.y, many.y);
            EXPECT_EQ(one.dx, many.dx);
            EXPECT_EQ(one.dW, many.dW);
            EXPECT_EQ(one.dR, many.dR);
            EXPECT_EQ(one.dbx, many.dbx);
            EXPECT_EQ(one.dh0, many.dh0);
            EXPECT_EQ(one.dc0, many.dc0);
        }
    }
    set_num_threads(before);
}

TEST(Rnn, WeightGradientsDoNotDependOnDx) {
    // Without dx the fused pass keeps two steps of dG instead of all: same sums, same bits.
    for (RnnCell cell : kCells) {
        Case c = make(cell, 20, 6, 3, 19, 31);
        c.masked = true;
        Result with = run(c), without = run(c, false);
        EXPECT_EQ(with.dW, without.dW);
        EXPECT_EQ(with.dR, without.dR);
        EXPECT_EQ(with.dbx, without.dbx);
        EXPECT_EQ(with.dbh, without.dbh);
        EXPECT_EQ(with.dh0, without.dh0);
    }
}

TEST(Rnn, RepeatedRunsAreIdenticalUnderOversubscription) {
    // The fused backward's threads meet through per-step progress counters, not barriers; run
    // it many times on more threads than cores and require the same bits every time.
    const int before = num_threads();
    set_num_threads(5);
    for (RnnCell cell : {RnnCell::lstm, RnnCell::gru}) {
        Case c = make(cell, 41, 9, 5, 33, 77);
        c.masked = true;
        Result first = run(c, false);
        for (int rep = 0; rep < 25; rep++) {
            Result again = run(c, false);
            ASSERT_EQ(first.dW, again.dW) << "rep " << rep;
            ASSERT_EQ(first.dR, again.dR) << "rep " << rep;
            ASSERT_EQ(first.dbx, again.dbx) << "rep " << rep;
            ASSERT_EQ(first.dh0, again.dh0) << "rep " << rep;
        }
    }
    set_num_threads(before);
}

TEST(Lstm, InferenceForwardEqualsTrainingForward) {
    Case c = make(RnnCell::lstm, 9, 6, 4, 20, 8);
    Result train = run(c);
    Vec y(c.B * c.T * c.U), hT(c.B * c.U), cT(c.B * c.U);
    RnnArgs a;
    a.cell = c.cell; a.B = c.B; a.T = c.T; a.F = c.F; a.U = c.U;
    a.x = c.x.data(); a.h0 = c.h0.data(); a.c0 = c.c0.data(); a.W = c.W.data();
    a.R = c.R.data(); a.bx = c.bx.data(); a.y = y.data(); a.hT = hT.data(); a.cT = cT.data();
    rnn_forward(a);  // no saved tensors: two state slices in a workspace
    EXPECT_EQ(y, train.y);
    EXPECT_EQ(hT, train.hT);
    EXPECT_EQ(cT, train.cT);
}

}  // namespace
}  // namespace grebe
