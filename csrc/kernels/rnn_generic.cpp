// rnn_generic.cpp — the portable recurrence pass: per step, grebe::sgemm for the products and
// plain loops for the gate math. It serves CPUs without AVX2 and the configurations the fused
// pass leaves out (GRU reset_before, recurrent dropout). Same layouts as rnn.h.
// Threads: sgemm threads itself; the gate loops split rows (b), each row's elements are written
// by one thread only, so the results do not depend on the thread count.
#include <cmath>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/rnn_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace rnn {
namespace {

float act(float v, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return std::tanh(v);
        case RnnAct::sigmoid: return 1.0f / (1.0f + std::exp(-v));
        case RnnAct::relu: return v < 0.0f ? 0.0f : v;  // NaN stays NaN
        case RnnAct::hard_sigmoid: {
            float t = v / 6.0f + 0.5f;
            return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
        }
        default: return v;
    }
}

// The derivative of each activation written in terms of its output y.
float dact(float y, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return 1.0f - y * y;
        case RnnAct::sigmoid: return y * (1.0f - y);
        case RnnAct::relu: return y > 0.0f ? 1.0f : 0.0f;
        case RnnAct::hard_sigmoid: return (y > 0.0f && y < 1.0f) ? 1.0f / 6.0f : 0.0f;
        default: return 1.0f;
    }
}

struct View {
    const Pass& p;
    const RnnArgs& a;
    int64_t BU;
    explicit View(const Pass& pass) : p(pass), a(*pass.a), BU(pass.a->B * pass.a->U) {}
    float* h(int64_t s) const { return p.hs + (p.full ? s : (s & 1)) * BU; }
    float* c(int64_t s) const { return p.cs + (p.full ? s : (s & 1)) * BU; }
    int64_t t(int64_t s) const { return a.reverse ? a.T - 1 - s : s; }
    bool used(int64_t b, int64_t s) const { return !a.mask || a.mask[b * a.T + t(s)] != 0; }
};

// C (B, n) += (hp (B,U) * rdrop[g]) @ R[:, g*U : g*U + n] for each gate g in [g0, g1), one
// product per gate when recurrent dropout gives each gate its own copy of h.
void recurrent_product(const View& v, const float* hp, int g0, int g1, float* C) {
    const RnnArgs& a = v.a;
    const int64_t B = a.B, U = a.U, GU = v.p.GU;
    if (!a.rdrop) {
        sgemm(false, false, B, (g1 - g0) * U, U, 1.0f, hp, U, a.R + g0 * U, GU, 1.0f,
              C + g0 * U, GU);
        return;
    }
    float* hm = workspace(kWsA, static_cast<size_t>(B * U));
    for (int g = g0; g < g1; g++) {
        const float* m = a.rdrop + g * B * U;
        for (int64_t i = 0; i < B * U; i++) hm[i] = hp[i] * m[i];
        sgemm(false, false, B, U, U, 1.0f, hm, U, a.R + g * U, GU, 1.0f, C + g * U, GU);
    }
}

// Z (B,GU) = x_t W + bx for one step (rows of x for timestep t are T*F apart).
void input_product(const View& v, int64_t s, float* Z) {
    const RnnArgs& a = v.a;
    const int64_t GU = v.p.GU;
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t k = 0; k < GU; k++) Z[b * GU + k] = a.bx ? a.bx[k] : 0.0f;
    sgemm(false, false, a.B, GU, a.F, 1.0f, a.x + v.t(s) * a.F, a.T * a.F, a.W, GU, 1.0f, Z, GU);
}

void forward_step(const View& v, int64_t s, float* Z, float* Q) {
    const RnnArgs& a = v.a;
    const int64_t B = a.B, U = a.U, GU = v.p.GU;
    const float* hp = v.h(s);
    float* hn = v.h(s + 1);
    input_product(v, s, Z);
    float* gates = a.gates ? a.gates + s * B * GU : nullptr;
    float* aux = a.aux ? a.aux + s * B * U : nullptr;
    if (a.cell == RnnCell::gru) {  // the recurrent h part stays apart: r multiplies it
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < GU; k++) Q[b * GU + k] = a.bh ? a.bh[k] : 0.0f;
        recurrent_product(v, hp, 0, 3, Q);
    } else if (a.cell == RnnCell::gru_reset_before) {
        recurrent_product(v, hp, 0, 2, Z);
        // r first, then the h gate's product of r*h.
        float* rh = workspace(kWsQ, static_cast<size_t>(B * U));
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < U; j++) {
                float r = act(Z[b * GU + U + j], a.ract);
                float m = a.rdrop ? a.rdrop[2 * B * U + b * U + j] : 1.0f;
                rh[b * U + j] = r * hp[b * U + j] * m;
            }
        sgemm(false, false, B, U, U, 1.0f, rh, U, a.R + 2 * U, GU, 1.0f, Z + 2 * U, GU);
        if (aux) std::memcpy(aux, rh, sizeof(float) * B * U);
    } else {
        recurrent_product(v, hp, 0, v.p.G, Z);
    }
    // The gate math, one row per iteration.
    #pragma omp parallel for num_threads(threads_for(B * GU * 8))
    for (int64_t b = 0; b < B; b++) {
        const float* z = Z + b * GU;
        float* hrow = hn + b * U;
        const float* hprev = hp + b * U;
        if (!v.used(b, s)) {
            std::memcpy(hrow, hprev, sizeof(float) * U);
            if (a.cell == RnnCell::lstm)
                std::memcpy(v.c(s + 1) + b * U, v.c(s) + b * U, sizeof(float) * U);
        } else if (a.cell == RnnCell::lstm) {
            const float* cp = v.c(s) + b * U;
            float* cn = v.c(s + 1) + b * U;
            for (int64_t j = 0; j < U; j++) {
                float i = act(z[j], a.ract), f = act(z[U + j], a.ract);
                float g = act(z[2 * U + j], a.act), o = act(z[3 * U + j], a.ract);
                float c = f * cp[j] + i * g;
                float tc = act(c, a.act);
                cn[j] = c;
                hrow[j] = o * tc;
                if (gates) {
                    float* gr = gates + b * GU;
                    gr[j] = i; gr[U + j] = f; gr[2 * U + j] = g; gr[3 * U + j] = o;
                }
                if (aux) aux[b * U + j] = tc;
            }
        } else if (a.cell == RnnCell::simple) {
            for (int64_t j = 0; j < U; j++) hrow[j] = act(z[j], a.act);
        } else {  // GRU, either convention
            const float* q = Q + b * GU;
            const bool after = a.cell == RnnCell::gru;
            for (int64_t j = 0; j < U; j++) {
                float zg = act(z[j] + (after ? q[j] : 0.0f), a.ract);
                float r = act(z[U + j] + (after ? q[U + j] : 0.0f), a.ract);
                float pre = after ? z[2 * U + j] + r * q[2 * U + j] : z[2 * U + j];
                float hh = act(pre, a.act);
                hrow[j] = zg * hprev[j] + (1.0f - zg) * hh;
                if (gates) {
                    float* gr = gates + b * GU;
                    gr[j] = zg; gr[U + j] = r; gr[2 * U + j] = hh;
                }
                if (aux && after) aux[b * U + j] = q[2 * U + j];
            }
        }
        if (a.y) std::memcpy(a.y + (b * a.T + s) * U, hrow, sizeof(float) * U);
    }
}

}  // namespace

void forward_generic(const Pass& p) {
    View v(p);
    const int64_t B = p.a->B;
    float* Z = workspace(kWsZ, static_cast<size_t>(B * p.GU));
    float* Q = p.a->cell == RnnCell::gru ? workspace(kWsCarry, static_cast<size_t>(B * p.GU))
                                         : nullptr;
    for (int64_t s = 0; s < p.a->T; s++) forward_step(v, s, Z, Q);
}

// Step s of BPTT: dh = carry + dy_s; writes dG_s (and dXh_s), updates dc, and leaves in carry
// the gradient of h_{s-1}.
static void backward_step(const View& v, int64_t s, float* Q) {
    const RnnArgs& a = v.a;
    const Pass& p = v.p;
    const int64_t B = a.B, U = a.U, GU = p.GU;
    const float* hp = v.h(s);
    const float* gs = a.gates + s * B * GU;
    const float* aux = a.aux ? a.aux + s * B * U : nullptr;
    float* dG = p.dG + s * B * GU;
    float* carry = p.carry;
    const bool before = a.cell == RnnCell::gru_reset_before;
    #pragma omp parallel for num_threads(threads_for(B * GU * 8))
    for (int64_t b = 0; b < B; b++) {
        float* dh = carry + b * U;
        float* dg = dG + b * GU;
        if (a.dy)
            for (int64_t j = 0; j < U; j++) dh[j] += a.dy[(b * a.T + s) * U + j];
        if (!v.used(b, s)) {  // the state passed through: dh flows on unchanged
            std::memset(dg, 0, sizeof(float) * GU);
            if (p.dXh) std::memset(p.dXh + (s * B + b) * U, 0, sizeof(float) * U);
            continue;
        }
        const float* g = gs + b * GU;
        if (a.cell == RnnCell::simple) {
            const float* h = v.h(s + 1) + b * U;
            for (int64_t j = 0; j < U; j++) {
                dg[j] = dh[j] * dact(h[j], a.act);
                dh[j] = 0.0f;
            }
        } else if (a.cell == RnnCell::lstm) {
            const float* cp = v.c(s) + b * U;
            float* dc = p.dc + b * U;
            for (int64_t j = 0; j < U; j++) {
                float i = g[j], f = g[U + j], gg = g[2 * U + j], o = g[3 * U + j];
                float tc = aux[b * U + j];
                float dcj = dc[j] + dh[j] * o * dact(tc, a.act);
                dg[j] = dcj * gg * dact(i, a.ract);
                dg[U + j] = dcj * cp[j] * dact(f, a.ract);
                dg[2 * U + j] = dcj * i * dact(gg, a.act);
                dg[3 * U + j] = dh[j] * tc * dact(o, a.ract);
                dc[j] = dcj * f;
                dh[j] = 0.0f;
            }
        } else if (!before) {  // GRU reset_after
            float* dxh = p.dXh + (s * B + b) * U;
            for (int64_t j = 0; j < U; j++) {
                float z = g[j], r = g[U + j], hh = g[2 * U + j];
                float dah = dh[j] * (1.0f - z) * dact(hh, a.act);
                dg[j] = dh[j] * (hp[b * U + j] - hh) * dact(z, a.ract);
                dg[U + j] = dah * aux[b * U + j] * dact(r, a.ract);
                dg[2 * U + j] = dah * r;
                dxh[j] = dah;
                dh[j] = dh[j] * z;
            }
        } else {  // GRU reset_before: the h gate first, r waits for q = dah R_h^T
            for (int64_t j = 0; j < U; j++) {
                float z = g[j], hh = g[2 * U + j];
                dg[j] = dh[j] * (hp[b * U + j] - hh) * dact(z, a.ract);
                dg[2 * U + j] = dh[j] * (1.0f - z) * dact(hh, a.act);
                dh[j] = dh[j] * z;
            }
        }
    }
    if (before) {
        // q (B,U) = dah R_h^T; dr = q * h_{s-1} * m_h; dh_{s-1} += q * r * m_h.
        sgemm(false, true, B, U, U, 1.0f, dG + 2 * U, GU, a.R + 2 * U, GU, 0.0f, Q, U);
        for (int64_t b = 0; b < B; b++) {
            if (!v.used(b, s)) continue;
            for (int64_t j = 0; j < U; j++) {
                float r = gs[b * GU + U + j];
                float m = a.rdrop ? a.rdrop[2 * B * U + b * U + j] : 1.0f;
                float q = Q[b * U + j] * m;
                dG[b * GU + U + j] = q * hp[b * U + j] * dact(r, a.ract);
                carry[b * U + j] += q * r;
            }
        }
    }
    // carry += dG_s R^T over the gates whose product used h (per gate when rdrop).
    const int ng = before ? 2 : p.G;
    if (!a.rdrop) {
        sgemm(false, true, B, U, ng * U, 1.0f, dG, GU, a.R, GU, 1.0f, carry, U);
    } else {
        for (int g = 0; g < ng; g++) {
            sgemm(false, true, B, U, U, 1.0f, dG + g * U, GU, a.R + g * U, GU, 0.0f, Q, U);
            const float* m = a.rdrop + g * B * U;
            for (int64_t i = 0; i < B * U; i++) carry[i] += Q[i] * m[i];
        }
    }
}

void backward_generic(const Pass& p) {
    View v(p);
    float* Q = workspace(kWsQ, static_cast<size_t>(p.a->B * p.a->U));
    for (int64_t s = p.a->T - 1; s >= 0; s--) backward_step(v, s, Q);
    if (p.dh0 && p.dh0 != p.carry)
        std::memcpy(p.dh0, p.carry, sizeof(float) * p.a->B * p.a->U);
}

}  // namespace rnn
}  // namespace grebe
