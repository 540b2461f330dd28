// test_bf16.cpp — the bf16 kernels (kernels/bf16.h) on every ISA this CPU runs (the vdpbf16ps
// paths under avx512 when the CPU has AVX512_BF16, the portable path otherwise):
// round_bf16 against an independent nearest-neighbour oracle; each GEMM / conv kernel against
// the double-precision reference of the bf16-rounded operands (tight: bf16 products are exact
// in fp32, so only fp32 sums round); RNN against the fp32 kernels on rounded operands; NaN/Inf
// propagation; bitwise equality for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/conv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/rnn.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;
using testing_util::Restore;
using testing_util::runnable_isas;
using Vec = std::vector<float>;

uint32_t bits_of(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
}
float from_bits(uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

// The oracle: the two bf16 neighbours of x (truncation and the next one up in magnitude),
// whichever is nearer in double arithmetic; on a tie the one with an even last bit.
float oracle_round(float x) {
    if (std::isnan(x) || std::isinf(x)) return x;
    const uint32_t lo = bits_of(x) & 0xFFFF0000u, hi = lo + 0x10000u;
    // Above the largest finite bf16 the next step up is Inf: round to nearest goes there from
    // the midpoint 0x7F7F8000 on (a tie, and 0x7F7F is odd).
    if (std::isinf(from_bits(hi)))
        return from_bits((bits_of(x) & 0x7FFFFFFFu) >= 0x7F7F8000u ? hi : lo);
    const double dl = std::fabs(double(from_bits(lo)) - x);
    const double dh = std::fabs(double(from_bits(hi)) - x);
    if (dl < dh) return from_bits(lo);
    if (dh < dl) return from_bits(hi);
    return from_bits(((lo >> 16) & 1u) ? hi : lo);
}

Vec rounded(const Vec& v) {
    Vec r(v.size());
    round_bf16(r.data(), v.data(), static_cast<int64_t>(v.size()));
    return r;
}

void expect_close(const Vec& got, const Vec& want, double depth, const std::string& what) {
    ASSERT_EQ(got.size(), want.size());
    const double atol = 4e-6 * (depth + 4), rtol = 4e-5 * std::sqrt(depth + 4);
    for (size_t i = 0; i < got.size(); i++) {
        if (std::isnan(want[i])) {
            ASSERT_TRUE(std::isnan(got[i])) << what << " at " << i;
            continue;
        }
        ASSERT_LE(std::fabs(double(got[i]) - want[i]), atol + rtol * std::fabs(want[i]))
            << what << " isa=" << isa_name(active_isa()) << " at " << i << ": got " << got[i]
            << ", want " << want[i];
    }
}

TEST(Bf16, RoundMatchesNearestEvenOracle) {
    std::mt19937 gen(7);
    Vec x(1 << 18);
    for (auto& v : x) v = from_bits(gen());
    // ties in both parities, the overflow edge, subnormals, zeros, infinities
    const uint32_t edge[] = {0x3F808000u, 0x3F818000u, 0x3F808001u, 0x7F7F7FFFu, 0x7F7F8000u,
                             0xFF7F8000u, 0x00008000u, 0x00018000u, 0x80000001u, 0x00000000u,
                             0x80000000u, 0x7F800000u, 0xFF800000u};
    for (uint32_t e : edge) x.push_back(from_bits(e));
    const Vec r = rounded(x);
    for (size_t i = 0; i < x.size(); i++) {
        if (std::isnan(x[i])) {
            ASSERT_TRUE(std::isnan(r[i])) << std::hex << bits_of(x[i]);
            ASSERT_EQ(bits_of(r[i]) >> 31, bits_of(x[i]) >> 31);
        } else {
            ASSERT_EQ(bits_of(r[i]), bits_of(oracle_round(x[i]))) << std::hex << bits_of(x[i]);
        }
        ASSERT_EQ(bits_of(r[i]) & 0xFFFFu, 0u);
        ASSERT_EQ(bits_of(round_bf16(x[i])), bits_of(r[i]));
    }
    // NaN whose payload sits only in the low 16 bits must not become Inf
    EXPECT_TRUE(std::isnan(round_bf16(from_bits(0x7F800001u))));
}

// ---- GEMM -----------------------------------------------------------------------------------
struct GemmCase {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    bool bias, relu;
};

void check_gemm(const GemmCase& t, uint32_t seed) {
    const int64_t ar = t.ta ? t.K : t.M, ac = t.ta ? t.M : t.K;
    const int64_t br = t.tb ? t.N : t.K, bc = t.tb ? t.K : t.N;
    const Vec A = random_vec(ar * ac, seed), B = random_vec(br * bc, seed + 1);
    const Vec bias = random_vec(t.N, seed + 2), C0 = random_vec(t.M * t.N, seed + 3);
    const Vec Ar = rounded(A), Br = rounded(B);
    Vec want(t.M * t.N);
    for (int64_t i = 0; i < t.M; i++)
        for (int64_t j = 0; j < t.N; j++) {
            double acc = 0;
            for (int64_t p = 0; p < t.K; p++)
                acc += double(t.ta ? Ar[p * ac + i] : Ar[i * ac + p]) *
                       double(t.tb ? Br[j * bc + p] : Br[p * bc + j]);
            double v = t.alpha * acc + (t.beta != 0 ? t.beta * double(C0[i * t.N + j]) : 0.0);
            if (t.bias) v += bias[j];
            if (t.relu && v < 0) v = 0;
            want[i * t.N + j] = static_cast<float>(v);
        }
    Vec C = C0;
    sgemm_bias_act_bf16(t.ta, t.tb, t.M, t.N, t.K, t.alpha, A.data(), ac, B.data(), bc, t.beta,
                        t.bias ? bias.data() : nullptr, t.relu, C.data(), t.N);
    expect_close(C, want, double(t.K) * (std::fabs(t.alpha) + 1), "sgemm_bias_act_bf16");
}

TEST(Bf16, GemmMatchesDoubleReferenceOfRoundedOperands) {
    Restore restore;
    const GemmCase cases[] = {
        {false, false, 1, 1, 1, 1, 0, false, false},
        {false, false, 13, 33, 257, 1, 0, true, true},
        {true, false, 37, 45, 70, 0.5f, 0.75f, true, false},
        {false, true, 64, 64, 64, 1, 1, false, true},
        {true, true, 145, 97, 255, -1, 0, false, false},
        {false, false, 300, 290, 777, 1, 0, true, false},
        {false, true, 2, 700, 3, 1, 0, false, false},
        {true, false, 785, 131, 33, 1, 0.5f, false, false}};
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        uint32_t seed = 10;
        for (const auto& t : cases) check_gemm(t, seed += 4);
    }
}

TEST(Bf16, GemmPropagatesNanAndInf) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        Vec A = random_vec(20 * 33, 1), B = random_vec(33 * 40, 2);
        A[3 * 33 + 5] = std::numeric_limits<float>::quiet_NaN();
        B[4 * 40 + 9] = std::numeric_limits<float>::infinity();
        Vec C(20 * 40);
        sgemm_bias_act_bf16(false, false, 20, 40, 33, 1, A.data(), 33, B.data(), 40, 0, nullptr,
                            true, C.data(), 40);
        for (int64_t i = 0; i < 20; i++)
            for (int64_t j = 0; j < 40; j++) {
                const float v = C[i * 40 + j];
                if (i == 3) EXPECT_TRUE(std::isnan(v)) << i << "," << j;
                else if (j == 9) EXPECT_FALSE(std::isfinite(v) && v != 0) << i << "," << j;
                else EXPECT_TRUE(std::isfinite(v)) << i << "," << j;
            }
    }
}

// ---- convolution ----------------------------------------------------------------------------
Conv2dShape conv_shape(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t R,
                       int64_t S, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
    Conv2dShape s{};
    s.N = N, s.H = H, s.W = W, s.C = C, s.K = K, s.R = R, s.S = S;
    s.SH = s.SW = stride, s.DH = s.DW = 1;
    s.PT = s.PL = pad_lo, s.PB = s.PR = pad_hi;
    s.P = conv2d_output_size(H, R, stride, 1, pad_lo, pad_hi);
    s.Q = conv2d_output_size(W, S, stride, 1, pad_lo, pad_hi);
    return s;
}

std::vector<Conv2dShape> conv_cases() {
    return {conv_shape(2, 12, 12, 3, 32, 3, 3, 1, 0, 0),    // seed conv1 (portable route)
            conv_shape(3, 15, 15, 32, 64, 3, 3, 1, 0, 0),   // seed conv2
            conv_shape(2, 10, 9, 16, 16, 3, 3, 1, 1, 1),    // ResNet stage 1
            conv_shape(2, 10, 10, 16, 32, 3, 3, 2, 0, 1),   // strided
            conv_shape(3, 5, 7, 19, 40, 1, 1, 1, 0, 0),     // 1x1, odd channels
            conv_shape(2, 7, 6, 9, 17, 2, 3, 1, 1, 0)};     // even kernel, asymmetric pad
}

void check_conv(const Conv2dShape& s, bool relu) {
    const int64_t nx = s.N * s.H * s.W * s.C, nw = s.R * s.S * s.C * s.K,
                  ny = s.N * s.P * s.Q * s.K;
    const Vec x = random_vec(nx, 1), w = random_vec(nw, 2), b = random_vec(s.K, 3),
              dy = random_vec(ny, 4);
    const Vec xr = rounded(x), wr = rounded(w), dyr = rounded(dy);
    Vec y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(s.K), unused_db(s.K), unused_dw(nw);
    conv2d_forward_reference(y_ref.data(), xr.data(), wr.data(), b.data(), relu, s);
    const float* mask = relu ? y_ref.data() : nullptr;
    conv2d_backward_data_reference(dx_ref.data(), dyr.data(), mask, wr.data(), s);
    conv2d_backward_weights_reference(dw_ref.data(), unused_db.data(), dyr.data(), mask,
                                      xr.data(), s);
    conv2d_backward_weights_reference(unused_dw.data(), db_ref.data(), dy.data(), mask, x.data(),
                                      s);
    const double taps_f = s.R * s.S * s.C, taps_d = s.R * s.S * s.K, taps_w = s.N * s.P * s.Q;
    Vec y(ny), dx(nx), dw(nw), db(s.K);
    conv2d_forward_bf16(y.data(), x.data(), w.data(), b.data(), relu, s);
    expect_close(y, y_ref, taps_f, "conv2d_forward_bf16");
    conv2d_backward_data_bf16(dx.data(), dy.data(), mask, w.data(), s);
    expect_close(dx, dx_ref, taps_d, "conv2d_backward_data_bf16");
    conv2d_backward_weights_bf16(dw.data(), db.data(), dy.data(), mask, x.data(), s);
    expect_close(dw, dw_ref, taps_w, "conv2d_backward_weights_bf16");
    expect_close(db, db_ref, taps_w, "conv2d_backward_weights_bf16 db");
    Vec dx2(nx), dw2(nw), db2(s.K);
    conv2d_backward_bf16(dx2.data(), dw2.data(), db2.data(), dy.data(), mask, x.data(),
                         w.data(), s);
    expect_close(dx2, dx_ref, taps_d, "conv2d_backward_bf16 dx");
    expect_close(dw2, dw_ref, taps_w, "conv2d_backward_bf16 dw");
    expect_close(db2, db_ref, taps_w, "conv2d_backward_bf16 db");
}

TEST(Bf16, ConvMatchesDoubleReferenceOfRoundedOperands) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        for (const auto& s : conv_cases()) {
            check_conv(s, false);
            check_conv(s, true);
        }
    }
}

TEST(Bf16, FusedConvPoolMatchesUnfusedBf16) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        for (const auto& s : {conv_cases()[1], conv_shape(2, 9, 11, 16, 40, 3, 3, 1, 0, 0)}) {
            const int64_t P2 = s.P / 2, Q2 = s.Q / 2, np = s.N * P2 * Q2 * s.K;
            const Vec x = random_vec(s.N * s.H * s.W * s.C, 5), w = random_vec(9 * s.C * s.K, 6);
            const Vec b = random_vec(s.K, 7), dyp = random_vec(np, 8);
            Vec yp(np);
            std::vector<uint8_t> am(np);
            conv2d_relu_maxpool_forward_bf16(yp.data(), am.data(), x.data(), w.data(), b.data(),
                                             s, 2, 2);
            Vec y(s.N * s.P * s.Q * s.K);  // reference: the plain bf16 conv, pooled here
            conv2d_forward_bf16(y.data(), x.data(), w.data(), b.data(), false, s);
            Vec dy(y.size(), 0.0f);
            for (int64_t n = 0; n < s.N; n++)
                for (int64_t i = 0; i < P2; i++)
                    for (int64_t j = 0; j < Q2; j++)
                        for (int64_t k = 0; k < s.K; k++) {
                            const int64_t o = ((n * P2 + i) * Q2 + j) * s.K + k;
                            float best = -INFINITY;
                            int arg = 0;
                            for (int a = 0; a < 4; a++) {
                                const float v =
                                    y[((n * s.P + 2 * i + a / 2) * s.Q + 2 * j + a % 2) * s.K + k];
                                if (v > best) best = v, arg = a;
                            }
                            ASSERT_NEAR(yp[o], best > 0 ? best : 0, 1e-6 + 1e-6 * std::fabs(best));
                            if (yp[o] > 0) {
                                ASSERT_EQ(am[o], arg);
                                const int64_t p = 2 * i + arg / 2, q = 2 * j + arg % 2;
                                dy[((n * s.P + p) * s.Q + q) * s.K + k] = dyp[o];
                            }
                        }
            Vec dx(x.size()), dw(w.size()), db(s.K), dx_ref(x.size()), dw_ref(w.size()),
                db_ref(s.K);
            conv2d_relu_maxpool_backward_bf16(dx.data(), dw.data(), db.data(), dyp.data(),
                                              am.data(), yp.data(), x.data(), w.data(), s, 2, 2);
            conv2d_backward_bf16(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), nullptr,
                                 x.data(), w.data(), s);
            expect_close(dx, dx_ref, 9 * s.K, "fused backward dx");
            expect_close(dw, dw_ref, s.N * s.P * s.Q, "fused backward dw");
            expect_close(db, db_ref, s.N * s.P * s.Q, "fused backward db");
        }
    }
}

TEST(Bf16, ConvPropagatesNan) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        const Conv2dShape s = conv_cases()[2];
        Vec x = random_vec(s.N * s.H * s.W * s.C, 1), w = random_vec(9 * s.C * s.K, 2);
        x[((1 * s.H + 4) * s.W + 4) * s.C + 3] = std::numeric_limits<float>::quiet_NaN();
        Vec y(s.N * s.P * s.Q * s.K), dw(w.size());
        conv2d_forward_bf16(y.data(), x.data(), w.data(), nullptr, true, s);
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++) {
                const bool hit = p >= 3 && p <= 5 && q >= 3 && q <= 5;
                EXPECT_EQ(std::isnan(y[((1 * s.P + p) * s.Q + q) * s.K]), hit) << p << "," << q;
                EXPECT_FALSE(std::isnan(y[((0 * s.P + p) * s.Q + q) * s.K]));
            }
        const Vec dy = random_vec(y.size(), 3);
        conv2d_backward_weights_bf16(dw.data(), nullptr, dy.data(), nullptr, x.data(), s);
        EXPECT_TRUE(std::isnan(dw[(4 * s.C + 3) * s.K]));  // tap (1,1), channel 3
        EXPECT_FALSE(std::isnan(dw[(4 * s.C + 2) * s.K]));
    }
}

// ---- recurrent layers -----------------------------------------------------------------------
struct RnnRun {
    Vec y, hT, cT, hs, cs, gates, aux, dx, dh0, dc0, dW, dR, dbx;
};

RnnRun run_rnn(RnnCell cell, bool bf16, const Vec& x, const Vec& W, const Vec& R, int64_t B,
               int64_t T, int64_t F, int64_t U) {
    const int64_t GU = rnn_gates(cell) * U;
    const Vec bx = random_vec(GU, 30), h0 = random_vec(B * U, 31), c0 = random_vec(B * U, 32);
    const Vec dy = random_vec(B * T * U, 33);
    RnnRun r;
    r.y.resize(B * T * U), r.hT.resize(B * U), r.cT.resize(B * U);
    r.hs.resize((T + 1) * B * U), r.cs.resize((T + 1) * B * U), r.gates.resize(T * B * GU);
    r.aux.resize(T * B * U), r.dx.resize(B * T * F), r.dh0.resize(B * U), r.dc0.resize(B * U);
    r.dW.resize(F * GU), r.dR.resize(U * GU), r.dbx.resize(GU);
    RnnArgs a;
    a.cell = cell, a.B = B, a.T = T, a.F = F, a.U = U;
    a.x = x.data(), a.W = W.data(), a.R = R.data(), a.bx = bx.data(), a.h0 = h0.data();
    a.c0 = cell == RnnCell::lstm ? c0.data() : nullptr;
    a.y = r.y.data(), a.hT = r.hT.data(), a.cT = cell == RnnCell::lstm ? r.cT.data() : nullptr;
    a.hs = r.hs.data(), a.cs = r.cs.data(), a.gates = r.gates.data(), a.aux = r.aux.data();
    (bf16 ? rnn_forward_bf16 : rnn_forward)(a);
    a.dy = dy.data(), a.dx = r.dx.data(), a.dh0 = r.dh0.data();
    a.dc0 = cell == RnnCell::lstm ? r.dc0.data() : nullptr;
    a.dW = r.dW.data(), a.dR = r.dR.data(), a.dbx = r.dbx.data();
    (bf16 ? rnn_backward_bf16 : rnn_backward)(a);
    return r;
}

TEST(Bf16, RnnEqualsFp32KernelsOnRoundedOperands) {
    Restore restore;
    const int64_t B = 5, T = 6, F = 7, U = 9;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        for (RnnCell cell : {RnnCell::lstm, RnnCell::gru, RnnCell::gru_reset_before,
                             RnnCell::simple}) {
            const int64_t GU = rnn_gates(cell) * U;
            const Vec x = random_vec(B * T * F, 20), W = random_vec(F * GU, 21, -0.5f, 0.5f),
                      R = random_vec(U * GU, 22, -0.4f, 0.4f);
            const RnnRun got = run_rnn(cell, true, x, W, R, B, T, F, U);
            const RnnRun want =
                run_rnn(cell, false, rounded(x), rounded(W), rounded(R), B, T, F, U);
            for (auto m : {&RnnRun::y, &RnnRun::hT, &RnnRun::dx, &RnnRun::dh0, &RnnRun::dbx})
                expect_close(got.*m, want.*m, 4.0 * (F + U), "rnn bf16");
            // dW, dR also round dG and h (rnn_internal.h: backward): within bf16 rounding.
            for (auto m : {&RnnRun::dW, &RnnRun::dR}) {
                double scale = 1e-6;
                for (float v : want.*m) scale = std::max(scale, double(std::fabs(v)));
                for (size_t i = 0; i < (got.*m).size(); i++)
                    ASSERT_LE(std::fabs(double((got.*m)[i]) - (want.*m)[i]), scale / 128)
                        << "rnn bf16 weight grads isa=" << isa_name(isa) << " at " << i;
            }
        }
    }
}

// ---- determinism ----------------------------------------------------------------------------
TEST(Bf16, BitwiseIdenticalForAnyThreadCount) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        std::vector<Vec> outs;
        for (int nt : {1, 2, 3}) {
            set_num_threads(nt);
            Vec all;
            const Vec A = random_vec(300 * 520, 1), B = random_vec(520 * 290, 2);
            Vec C(300 * 290);
            sgemm_bias_act_bf16(false, false, 300, 290, 520, 1, A.data(), 520, B.data(), 290, 0,
                                nullptr, true, C.data(), 290);
            all.insert(all.end(), C.begin(), C.end());
            const Conv2dShape s = conv_shape(8, 10, 9, 16, 32, 3, 3, 1, 1, 1);
            const Vec x = random_vec(s.N * s.H * s.W * s.C, 3), w = random_vec(9 * 16 * 32, 4);
            Vec y(s.N * s.P * s.Q * s.K), dx(x.size()), dw(w.size()), db(s.K);
            conv2d_forward_bf16(y.data(), x.data(), w.data(), nullptr, true, s);
            conv2d_backward_bf16(dx.data(), dw.data(), db.data(), y.data(), y.data(), x.data(),
                                 w.data(), s);
            for (const Vec* v : {&y, &dx, &dw, &db}) all.insert(all.end(), v->begin(), v->end());
            const Vec rx = random_vec(64 * 5 * 32, 5), rW = random_vec(32 * 256, 6, -0.3f, 0.3f),
                      rR = random_vec(64 * 256, 7, -0.3f, 0.3f);
            const RnnRun r = run_rnn(RnnCell::lstm, true, rx, rW, rR, 64, 5, 32, 64);
            for (const Vec* v : {&r.y, &r.dx, &r.dW, &r.dR})
                all.insert(all.end(), v->begin(), v->end());
            outs.push_back(all);
        }
        for (size_t i = 1; i < outs.size(); i++)
            ASSERT_EQ(0, std::memcmp(outs[i].data(), outs[0].data(), outs[0].size() * 4))
                << "isa=" << isa_name(isa) << " threads differ";
    }
}

TEST(Bf16, PeakIsZeroWithoutVdpbf16ps) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        set_isa(isa);
        const double peak = bf16_peak_gflops(1, 0.01);
        if (has_bf16()) EXPECT_GT(peak, 0.0);
        else EXPECT_EQ(peak, 0.0);
        if (isa != Isa::avx512) EXPECT_FALSE(has_bf16());
    }
}

}  // namespace
}  // namespace grebe
