// rnn.cpp — the recurrent-layer driver: state set-up, the choice of recurrence pass (fused
// AVX-512 or AVX2, or portable), and the work that is not sequential in time, done as
// whole-sequence GEMMs after the backward time loop: dW = X^T dG over all T*B rows,
// dR = H_prev^T dG over all T*B rows, dx = dG W^T, and the bias gradients as column sums. Layouts and semantics: rnn.h.
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/bf16.h"
#include "kernels/gemm/gemm.h"
#include "kernels/rnn_internal.h"
#include "kernels/runtime.h"

namespace grebe {

int rnn_gates(RnnCell cell) {
    switch (cell) {
        case RnnCell::lstm: return 4;
        case RnnCell::gru:
        case RnnCell::gru_reset_before: return 3;
        default: return 1;
    }
}

namespace rnn {

float* workspace(int slot, size_t floats) {
    struct Buf {
        float* p = nullptr;
        size_t n = 0;
        ~Buf() { std::free(p); }
    };
    thread_local Buf bufs[kWsCount];
    Buf& b = bufs[slot];
    if (floats > b.n) {
        std::free(b.p);
        size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
        b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
        if (!b.p) throw std::bad_alloc();
        b.n = floats;
    }
    return b.p;
}

int pass_threads(int64_t B, int64_t work) {
    const int n = threads_for(work);
    return B < n ? static_cast<int>(B > 0 ? B : 1) : n;
}

namespace {

// Column sums of M (rows, n) with row stride ld into out (n): each thread owns whole columns and
// adds its rows in order, so the result does not depend on the thread count.
void column_sums(float* out, const float* M, int64_t rows, int64_t n, int64_t ld) {
    const int64_t chunk = 64;
    const int64_t nchunks = (n + chunk - 1) / chunk;
    #pragma omp parallel for num_threads(threads_for(rows * n))
    for (int64_t c = 0; c < nchunks; c++) {
        const int64_t j0 = c * chunk, j1 = j0 + chunk < n ? j0 + chunk : n;
        float acc[64];
        for (int64_t j = j0; j < j1; j++) acc[j - j0] = 0.0f;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += M[r * ld + j];
        for (int64_t j = j0; j < j1; j++) out[j] = acc[j - j0];
    }
}

Pass make_pass(const RnnArgs& a, bool full) {
    Pass p{};
    p.a = &a;
    p.G = rnn_gates(a.cell);
    p.GU = p.G * a.U;
    p.full = full;
    const size_t BU = static_cast<size_t>(a.B * a.U);
    p.hs = full ? a.hs : workspace(kWsH, 2 * BU);
    p.cs = a.cell == RnnCell::lstm ? (full ? a.cs : workspace(kWsC, 2 * BU)) : nullptr;
    return p;
}

}  // namespace
}  // namespace rnn

bool rnn_uses_fused_path(const RnnArgs& a) {
    return active_isa() != Isa::generic && a.rdrop == nullptr &&
           (a.cell == RnnCell::lstm || a.cell == RnnCell::gru || a.cell == RnnCell::simple);
}

void rnn_forward(const RnnArgs& a) {
    using namespace rnn;
    if (a.B == 0 || a.T == 0) return;
    Pass p = make_pass(a, a.hs != nullptr);
    const size_t bytes = sizeof(float) * a.B * a.U;
    if (a.h0) std::memcpy(p.hs, a.h0, bytes); else std::memset(p.hs, 0, bytes);
    if (p.cs) {
        if (a.c0) std::memcpy(p.cs, a.c0, bytes); else std::memset(p.cs, 0, bytes);
    }
    if (!rnn_uses_fused_path(a)) forward_generic(p);
    else if (active_isa() >= Isa::avx512) forward_fused_avx512(p);
    else forward_fused_avx2(p);
    const int64_t last = p.full ? a.T : (a.T & 1);
    if (a.hT) std::memcpy(a.hT, p.hs + last * a.B * a.U, bytes);
    if (a.cT && p.cs) std::memcpy(a.cT, p.cs + last * a.B * a.U, bytes);
}

namespace {

// The GEMM the weight gradients dW, dR run through: sgemm, or (bf16 backward) the GEMM with
// both operands rounded to bf16 (bf16.h: sbgemm when has_bf16(), else round + sgemm).
using Gemm = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                      const float*, int64_t, float, float*, int64_t);

void sgemm_bf16_operands(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                         float* C, int64_t ldc) {
    sgemm_bias_act_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, false, C, ldc);
}

// The input-side gradient of the gate pre-activations as (pointer, ld) column blocks: GRU
// reset_after keeps its h block apart (dXh); every other cell uses dG as it is. dx first: the
// portable bf16 GEMM rounds its operands into the scratch that holds the rounded W.
void input_side_gemms(const RnnArgs& a, const rnn::Pass& p, const float* xs, float* dxs,
                      bool weights, Gemm wgemm) {
    const int64_t TB = a.T * a.B, U = a.U, GU = p.GU, F = a.F;
    const bool split = a.cell == RnnCell::gru;
    const int64_t n1 = split ? 2 * U : GU;
    if (dxs) {  // dxs (TB, F) = dGx (TB, GU) @ W^T
        sgemm(false, true, TB, F, n1, 1.0f, p.dG, p.ldG, a.W, GU, 0.0f, dxs, F);
        if (split) sgemm(false, true, TB, F, U, 1.0f, p.dXh, U, a.W + 2 * U, GU, 1.0f, dxs, F);
    }
    if (a.dW && weights) {  // dW (F,GU) = xs^T (F, TB) @ dGx (TB, GU)
        wgemm(true, false, F, n1, TB, 1.0f, xs, F, p.dG, p.ldG, 0.0f, a.dW, GU);
        if (split) wgemm(true, false, F, U, TB, 1.0f, xs, F, p.dXh, U, 0.0f, a.dW + 2 * U, GU);
    }
    if (a.dbx && weights) {
        rnn::column_sums(a.dbx, p.dG, TB, n1, p.ldG);
        if (split) rnn::column_sums(a.dbx + 2 * U, p.dXh, TB, U, U);
    }
}

// dR (U,GU) = H_prev^T (U, TB) @ dG (TB, GU), per gate with its dropout copy of H when rdrop.
void recurrent_side_gemms(const RnnArgs& a, const rnn::Pass& p, Gemm wgemm) {
    const int64_t TB = a.T * a.B, U = a.U, GU = p.GU, BU = a.B * a.U;
    const bool before = a.cell == RnnCell::gru_reset_before;
    const int ng = before ? 2 : p.G;  // gates whose product reads h itself
    if (a.dR) {
        if (!a.rdrop) {
            wgemm(true, false, U, ng * U, TB, 1.0f, a.hs, U, p.dG, p.ldG, 0.0f, a.dR, GU);
        } else {
            float* hm = rnn::workspace(rnn::kWsXs, static_cast<size_t>(TB * U));
            for (int g = 0; g < ng; g++) {
                const float* m = a.rdrop + g * BU;
                #pragma omp parallel for num_threads(threads_for(TB * U))
                for (int64_t s = 0; s < a.T; s++)
                    for (int64_t i = 0; i < BU; i++) hm[s * BU + i] = a.hs[s * BU + i] * m[i];
                wgemm(true, false, U, U, TB, 1.0f, hm, U, p.dG + g * U, p.ldG, 0.0f, a.dR + g * U,
                      GU);
            }
        }
        if (before)  // the h gate's product read r*h*m, saved as aux
            wgemm(true, false, U, U, TB, 1.0f, a.aux, U, p.dG + 2 * U, p.ldG, 0.0f, a.dR + 2 * U,
                  GU);
    }
    if (a.dbh) rnn::column_sums(a.dbh, p.dG, TB, GU, p.ldG);
}

}  // namespace

void rnn_backward(const RnnArgs& a) { rnn::backward(a, false); }

namespace rnn {

void backward(const RnnArgs& a, bool bf16_weight_grads) {
    const int64_t B = a.B, T = a.T, U = a.U, F = a.F;
    const int G = rnn_gates(a.cell);
    const size_t BU = static_cast<size_t>(B * U);
    auto zero = [](float* p, size_t n) { if (p) std::memset(p, 0, n * sizeof(float)); };
    if (B == 0 || T == 0) {
        zero(a.dx, B * T * F); zero(a.dh0, BU); zero(a.dc0, BU);
        zero(a.dW, F * G * U); zero(a.dR, U * G * U); zero(a.dbx, G * U); zero(a.dbh, G * U);
        return;
    }
    Pass p = make_pass(a, true);
    const bool fused = rnn_uses_fused_path(a);
    // The fused pass adds the weight gradients step by step, keeping a few steps of dG, unless
    // dx (one GEMM over all steps after the loop) wants them all.
    p.weights_in_pass = fused && B >= kFuseWeightsMinBatch && !bf16_weight_grads;
    p.dG_full = !p.weights_in_pass || a.dx != nullptr;
    const int64_t steps = p.dG_full ? T : kWeightSlots;
    // The fused pass pads dG's rows by 16 floats: with a power-of-two row stride (GU = 512) the
    // rows its tiles walk down would share a few L1 sets. The +16 at the end: the weight
    // kernels may read a few floats past a row's last column.
    p.ldG = fused ? p.GU + 16 : p.GU;
    p.dG = workspace(kWsDG, static_cast<size_t>(steps * B * p.ldG + 16));
    p.dXh = a.cell == RnnCell::gru ? workspace(kWsDXh, static_cast<size_t>(steps * BU + 16))
                                   : nullptr;
    p.carry = workspace(kWsCarry, BU);
    p.dc = a.cell == RnnCell::lstm ? (a.dc0 ? a.dc0 : workspace(kWsDc, BU)) : nullptr;
    p.dh0 = a.dh0 ? a.dh0 : p.carry;
    p.want_dh0 = a.dh0 != nullptr;
    if (a.dhT) std::memcpy(p.carry, a.dhT, BU * sizeof(float)); else zero(p.carry, BU);
    if (p.dc) {
        if (a.dcT) std::memcpy(p.dc, a.dcT, BU * sizeof(float)); else zero(p.dc, BU);
    }
    if (p.weights_in_pass) {
        zero(a.dW, F * G * U); zero(a.dR, U * G * U); zero(a.dbx, G * U); zero(a.dbh, G * U);
    }
    if (!fused) backward_generic(p);
    else if (active_isa() >= Isa::avx512) backward_fused_avx512(p);
    else backward_fused_avx2(p);

    // x in step order (T,B,F), the row order of dG, for dW; dx comes back the same way.
    float* xs = nullptr;
    if (a.dW && !p.weights_in_pass) {
        xs = workspace(kWsXs, static_cast<size_t>(T * B * F));
        #pragma omp parallel for num_threads(threads_for(T * B * F))
        for (int64_t s = 0; s < T; s++) {
            const int64_t t = a.reverse ? T - 1 - s : s;
            for (int64_t b = 0; b < B; b++)
                std::memcpy(xs + (s * B + b) * F, a.x + (b * T + t) * F, F * sizeof(float));
        }
    }
    float* dxs = a.dx ? workspace(kWsPack, static_cast<size_t>(T * B * F)) : nullptr;
    const Gemm wgemm = bf16_weight_grads ? sgemm_bf16_operands : sgemm;
    input_side_gemms(a, p, xs, dxs, !p.weights_in_pass, wgemm);
    if (dxs) {
        #pragma omp parallel for num_threads(threads_for(T * B * F))
        for (int64_t s = 0; s < T; s++) {
            const int64_t t = a.reverse ? T - 1 - s : s;
            for (int64_t b = 0; b < B; b++)
                std::memcpy(a.dx + (b * T + t) * F, dxs + (s * B + b) * F, F * sizeof(float));
        }
    }
    if (!p.weights_in_pass) recurrent_side_gemms(a, p, wgemm);
}

}  // namespace rnn

}  // namespace grebe
