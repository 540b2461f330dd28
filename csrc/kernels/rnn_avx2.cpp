// rnn_avx2.cpp — the fused recurrence passes (AVX2+FMA) for LSTM, GRU (reset_after) and
// SimpleRNN. Layouts and semantics: rnn.h; the driver and the whole-sequence GEMMs: rnn.cpp.
//
// Forward, per step: for a tile of 6 rows x 16 units, each gate's sum h_{s-1} R + x_t W runs in
// 12 ymm accumulators over weights packed once per call (one slab per gate), and the gate math
// runs on the finished sums: only h, c and the saved activations reach memory. The input
// projection is part of the same tile (no (T,B,GU) buffer of x W is ever written).
// Backward, per step: dh_s (6 rows x 16 units) = dG_{s+1} R^T in registers (in depth slices of
// 256 so the packed slice of R^T stays in L1), plus the carried gradient and dy_s, then the
// cell's backward writes dG_s for those units; the saved activations it needs are prefetched
// while the product runs. From batch 16 on, the same pass adds each step's share of dR, dW and
// the bias gradients (rank-B updates of each thread's own columns) a few steps later, so dG is
// kept for a few steps only; below, they are whole-sequence GEMMs afterwards (rnn.cpp).
//
// Threads: one parallel region for the whole sequence, the recurrence split by batch rows. A
// row's recurrence reads nothing but that row's state, so no thread waits for another there:
// no barrier per timestep (a per-step barrier costs little on an idle machine but stalls at
// every step when another process takes a core). Every thread reads all of the packed weights
// (328 KiB for LSTM 32->128: they stay in each core's L2). The weight gradients, split by
// columns, need every row of a step's dG: threads publish per-step progress counters and the
// weight work trails the recurrence by kWeightLag steps, so a late partner rarely stalls
// anyone. An output element is computed by the same instructions in the same order whichever
// thread owns it and however the rows are tiled, so results are bit-identical for any thread
// count.
#include <immintrin.h>
#include <omp.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/rnn_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace rnn {
namespace {

// ---- vector math ------------------------------------------------------------------------------

inline __m256 vset(float v) { return _mm256_set1_ps(v); }

// e^x: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact n*ln2), e^r by its Taylor
// series to r^7 (truncation error below 1e-8 relative), 2^n put straight into the exponent bits.
inline __m256 vexp(__m256 x) {
    // Clamped with the constant first: min/max return their second operand when unordered,
    // so NaN stays NaN (a clamp written max(x, -87) would turn it into -87).
    x = _mm256_min_ps(vset(88.0f), _mm256_max_ps(vset(-87.0f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, vset(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, vset(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, vset(-2.12194440e-4f), r);
    // Estrin's scheme: 4 dependent steps instead of Horner's 7 (the gate math is latency-bound).
    const __m256 r2 = _mm256_mul_ps(r, r), r4 = _mm256_mul_ps(r2, r2);
    const __m256 p01 = _mm256_add_ps(r, vset(1.0f));
    const __m256 p23 = _mm256_fmadd_ps(r, vset(1.0f / 6.0f), vset(0.5f));
    const __m256 p45 = _mm256_fmadd_ps(r, vset(1.0f / 120.0f), vset(1.0f / 24.0f));
    const __m256 p67 = _mm256_fmadd_ps(r, vset(1.0f / 5040.0f), vset(1.0f / 720.0f));
    const __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(p67, r2, p45), r4,
                                     _mm256_fmadd_ps(p23, r2, p01));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                  23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// 1/d to full float precision: the 12-bit estimate and one Newton step (cheaper than a divide,
// whose throughput would bound the gate math).
inline __m256 vrecip(__m256 d) {
    __m256 r = _mm256_rcp_ps(d);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, vset(2.0f)));
}

inline __m256 vsigmoid(__m256 x) {
    return vrecip(_mm256_add_ps(vset(1.0f), vexp(_mm256_sub_ps(vset(0.0f), x))));
}

// tanh|x| = (1 - e) / (1 + e) with e = e^{-2|x|} in (0, 1]: no overflow, absolute error ~1e-7
// everywhere (the relative error grows below |x| ~ 1e-3, where tanh x ~ x is tiny anyway);
// the sign is put back at the end.
inline __m256 vtanh(__m256 x) {
    const __m256 sign = vset(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 e = vexp(_mm256_mul_ps(ax, vset(-2.0f)));
    __m256 t = _mm256_mul_ps(_mm256_sub_ps(vset(1.0f), e), vrecip(_mm256_add_ps(vset(1.0f), e)));
    return _mm256_or_ps(t, _mm256_and_ps(x, sign));
}

inline __m256 vact(__m256 v, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return vtanh(v);
        case RnnAct::sigmoid: return vsigmoid(v);
        case RnnAct::relu: return _mm256_max_ps(vset(0.0f), v);  // NaN kept (2nd operand)
        case RnnAct::hard_sigmoid:
            return _mm256_min_ps(vset(1.0f), _mm256_max_ps(vset(0.0f),
                                 _mm256_add_ps(_mm256_div_ps(v, vset(6.0f)), vset(0.5f))));
        default: return v;
    }
}

// Each activation's derivative from its output y.
inline __m256 vdact(__m256 y, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return _mm256_fnmadd_ps(y, y, vset(1.0f));
        case RnnAct::sigmoid: return _mm256_mul_ps(y, _mm256_sub_ps(vset(1.0f), y));
        case RnnAct::relu:
            return _mm256_and_ps(_mm256_cmp_ps(y, vset(0.0f), _CMP_GT_OQ), vset(1.0f));
        case RnnAct::hard_sigmoid:
            return _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(y, vset(0.0f), _CMP_GT_OQ),
                                               _mm256_cmp_ps(y, vset(1.0f), _CMP_LT_OQ)),
                                 vset(1.0f / 6.0f));
        default: return vset(1.0f);
    }
}

// The activations with D = true (tanh for activation, sigmoid for recurrent_activation: the
// defaults, compiled without a switch per call) or as `k` says.
template <bool D> inline __m256 act_a(__m256 v, RnnAct k) { return D ? vtanh(v) : vact(v, k); }
template <bool D> inline __m256 act_r(__m256 v, RnnAct k) { return D ? vsigmoid(v) : vact(v, k); }
template <bool D> inline __m256 dact_a(__m256 y, RnnAct k) {
    return D ? _mm256_fnmadd_ps(y, y, vset(1.0f)) : vdact(y, k);
}
template <bool D> inline __m256 dact_r(__m256 y, RnnAct k) {
    return D ? _mm256_mul_ps(y, _mm256_sub_ps(vset(1.0f), y)) : vdact(y, k);
}

// Loads/stores of n <= 8 lanes (the last unit block may be partial).
struct Lanes {
    int n;
    __m256i m;
    explicit Lanes(int64_t nvalid) : n(static_cast<int>(nvalid < 8 ? nvalid : 8)) {
        m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    __m256 ld(const float* p) const {
        return n == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
    }
    __m256 ld_or0(const float* p) const { return p ? ld(p) : _mm256_setzero_ps(); }
    void st(float* p, __m256 v) const {
        if (n == 8) _mm256_storeu_ps(p, v); else _mm256_maskstore_ps(p, m, v);
    }
    void copy(float* dst, const float* src) const { st(dst, ld(src)); }
};

// ---- shared bookkeeping -----------------------------------------------------------------------

struct Ctx {
    const Pass& p;
    const RnnArgs& a;
    int64_t B, T, F, U, GU, BU;
    bool defaults;  // tanh and sigmoid: the activations compiled in without a switch
    explicit Ctx(const Pass& pass)
        : p(pass), a(*pass.a), B(a.B), T(a.T), F(a.F), U(a.U), GU(pass.GU), BU(a.B * a.U),
          defaults(a.act == RnnAct::tanh &&
                   (a.ract == RnnAct::sigmoid || a.cell == RnnCell::simple)) {}
    float* h(int64_t s) const { return p.hs + (p.full ? s : (s & 1)) * BU; }
    float* c(int64_t s) const { return p.cs + (p.full ? s : (s & 1)) * BU; }
    int64_t t(int64_t s) const { return a.reverse ? T - 1 - s : s; }
    bool used(int64_t b, int64_t s) const { return !a.mask || a.mask[b * T + t(s)] != 0; }
    const float* bias(const float* v, int g, int64_t j) const {
        return v ? v + g * U + j : nullptr;
    }
    int64_t slot(int64_t s) const { return p.dG_full ? s : s % kWeightSlots; }
    float* dG(int64_t s) const { return p.dG + slot(s) * B * p.ldG; }
    float* dXh(int64_t s) const { return p.dXh + slot(s) * BU; }
};

// Thread `tid` of `nth` owns rows [first, last) of the batch for the whole sequence: a row's
// recurrence reads only that row's state, so the threads never wait for each other.
struct Rows {
    int64_t first, last;
    Rows(int64_t B, int tid, int nth) : first(B * tid / nth), last(B * (tid + 1) / nth) {}
};

// acc0/acc1[r] (units 0-7 / 8-15) += sum over k < K of a[r*lda + k] * w[k*16 .. k*16+15]: MR
// broadcasts and two weight vectors per k, 2*MR independent FMA chains (12 at MR = 6). Each
// chain runs over k in order, so a result never depends on how rows or units were split.
template <int MR>
inline void mk16(__m256* acc0, __m256* acc1, const float* a, int64_t lda, const float* w,
                 int64_t K, const float* const* pf = nullptr, int npf = 0) {
#pragma GCC unroll 4
    for (int64_t k = 0; k < K; k++) {
        // Optional prefetches spread over the loop, one every 4 k (a burst would overflow the
        // miss buffers and be dropped).
        if ((k & 3) == 0 && (k >> 2) < npf)
            _mm_prefetch(reinterpret_cast<const char*>(pf[k >> 2]), _MM_HINT_T0);
        const __m256 w0 = _mm256_loadu_ps(w + k * 16), w1 = _mm256_loadu_ps(w + k * 16 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
            acc0[r] = _mm256_fmadd_ps(av, w0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(av, w1, acc1[r]);
        }
    }
}

// Forward weights of unit block jb (16 units), one slab per gate: U rows of R then F rows of W,
// 16 floats a row (gate g's units j0..j0+15), zeros past U.
void pack_forward(float* dst, const RnnArgs& a, int G, int64_t GU, int64_t jb) {
    const int64_t j0 = jb * 16, U = a.U, F = a.F;
    for (int g = 0; g < G; g++) {
        float* slab = dst + g * (U + F) * 16;
        for (int64_t k = 0; k < U + F; k++) {
            const float* src = k < U ? a.R + k * GU : a.W + (k - U) * GU;
            for (int jj = 0; jj < 16; jj++)
                slab[k * 16 + jj] = j0 + jj < U ? src[g * U + j0 + jj] : 0.0f;
        }
    }
}

// ---- forward tiles ----------------------------------------------------------------------------

struct FwdTile {
    const Ctx& c;
    const float* P;  // this block's packed slabs
    int64_t s, j0;
};

// One tile: MR rows x 16 units. Each slab's sums (LSTM i, f, c, o; GRU z, r, input h,
// recurrent h; SimpleRNN one) accumulate in registers and are parked in `sums`; then the cell
// math runs on them and writes h (c, saved gates) for these rows and units only.
template <int MR, bool D>
void fwd_tile(const FwdTile& ft, int64_t b0) {
    const Ctx& c = ft.c;
    const RnnArgs& a = c.a;
    const int64_t U = c.U, F = c.F, s = ft.s;
    const float* hp = c.h(s) + b0 * U;
    const float* xr = a.x + (b0 * c.T + c.t(s)) * F;
    const bool gru = a.cell == RnnCell::gru;
    const int nslab = a.cell == RnnCell::simple ? 1 : 4;
    alignas(32) float sums[4][MR][16];
    for (int slab = 0; slab < nslab; slab++) {
        const int g = gru && slab == 3 ? 2 : slab;
        const bool use_h = !(gru && slab == 2), use_x = !(gru && slab == 3);
        const float* w = ft.P + g * (U + F) * 16;
        __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
        if (use_h && !(s == 0 && a.h0 == nullptr))  // h_0 = 0 adds exact zeros: skip it
            mk16<MR>(acc0, acc1, hp, U, w, U);
        if (use_x) mk16<MR>(acc0, acc1, xr, c.T * F, w + U * 16, F);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            _mm256_store_ps(sums[slab][r], acc0[r]);
            _mm256_store_ps(sums[slab][r] + 8, acc1[r]);
        }
    }
    for (int v = 0; v < 2; v++) {
        const int64_t j0 = ft.j0 + 8 * v;
        if (j0 >= U) break;
        const Lanes L(U - j0);
        __m256 bias[4], bh[3];
        for (int g = 0; g < c.p.G; g++) bias[g] = L.ld_or0(c.bias(a.bx, g, j0));
        for (int g = 0; g < 3 && gru; g++) bh[g] = L.ld_or0(c.bias(a.bh, g, j0));
        for (int r = 0; r < MR; r++) {
            const int64_t b = b0 + r, o = b * U + j0;
            auto sum = [&](int slab) { return _mm256_load_ps(sums[slab][r] + 8 * v); };
            float* hn = c.h(s + 1) + o;
            const float* hpr = c.h(s) + o;
            float* gr = a.gates ? a.gates + (s * c.B + b) * c.GU + j0 : nullptr;
            if (!c.used(b, s)) {
                L.copy(hn, hpr);
                if (a.cell == RnnCell::lstm) L.copy(c.c(s + 1) + o, c.c(s) + o);
            } else if (a.cell == RnnCell::lstm) {
                __m256 i = act_r<D>(_mm256_add_ps(sum(0), bias[0]), a.ract);
                __m256 f = act_r<D>(_mm256_add_ps(sum(1), bias[1]), a.ract);
                __m256 gg = act_a<D>(_mm256_add_ps(sum(2), bias[2]), a.act);
                __m256 og = act_r<D>(_mm256_add_ps(sum(3), bias[3]), a.ract);
                __m256 cv = _mm256_fmadd_ps(f, L.ld(c.c(s) + o), _mm256_mul_ps(i, gg));
                __m256 tc = act_a<D>(cv, a.act);
                L.st(c.c(s + 1) + o, cv);
                L.st(hn, _mm256_mul_ps(og, tc));
                if (gr) {
                    L.st(gr, i); L.st(gr + U, f); L.st(gr + 2 * U, gg); L.st(gr + 3 * U, og);
                }
                if (a.aux) L.st(a.aux + s * c.BU + o, tc);
            } else if (gru) {
                __m256 z = act_r<D>(_mm256_add_ps(_mm256_add_ps(sum(0), bias[0]), bh[0]), a.ract);
                __m256 rg = act_r<D>(_mm256_add_ps(_mm256_add_ps(sum(1), bias[1]), bh[1]), a.ract);
                __m256 rh = _mm256_add_ps(sum(3), bh[2]);
                __m256 xh = _mm256_add_ps(sum(2), bias[2]);
                __m256 hh = act_a<D>(_mm256_fmadd_ps(rg, rh, xh), a.act);
                L.st(hn, _mm256_fmadd_ps(z, _mm256_sub_ps(L.ld(hpr), hh), hh));
                if (gr) { L.st(gr, z); L.st(gr + U, rg); L.st(gr + 2 * U, hh); }
                if (a.aux) L.st(a.aux + s * c.BU + o, rh);
            } else {
                L.st(hn, act_a<D>(_mm256_add_ps(sum(0), bias[0]), a.act));
            }
            if (a.y) L.copy(a.y + (b * c.T + s) * U + j0, hn);
        }
    }
}

template <int MR>
struct FwdT {
    static void run(const FwdTile& t, int64_t b0) {
        if (t.c.defaults) fwd_tile<MR, true>(t, b0); else fwd_tile<MR, false>(t, b0);
    }
};

// Runs kernel K<MR> over rows [r0, r1) in tiles of 6 (the last may be shorter).
template <template <int> class K, class Tile>
void run_rows(const Tile& tile, int64_t r0, int64_t r1) {
    for (int64_t b0 = r0; b0 < r1; b0 += 6) {
        switch (r1 - b0 < 6 ? r1 - b0 : 6) {
            case 6: K<6>::run(tile, b0); break;
            case 5: K<5>::run(tile, b0); break;
            case 4: K<4>::run(tile, b0); break;
            case 3: K<3>::run(tile, b0); break;
            case 2: K<2>::run(tile, b0); break;
            default: K<1>::run(tile, b0); break;
        }
    }
}

}  // namespace

void forward_fused_avx2(const Pass& p) {
    const Ctx c(p);
    const RnnArgs& a = c.a;
    const int64_t nblk = (c.U + 15) / 16;
    const int64_t panel = p.G * (c.U + c.F) * 16;  // packed floats per block
    float* pack = workspace(kWsPack, static_cast<size_t>(nblk * panel));
    const int nt = pass_threads(c.B, c.T * c.B * c.GU * (c.U + c.F));
    #pragma omp parallel num_threads(nt)
    {
        // Each block's slabs are written by one thread; the barrier ending `omp for` publishes
        // them to all (the only barrier of the pass).
        #pragma omp for schedule(static)
        for (int64_t jb = 0; jb < nblk; jb++) pack_forward(pack + jb * panel, a, p.G, c.GU, jb);
        const Rows rows(c.B, omp_get_thread_num(), omp_get_num_threads());
        // Writes: h_{s+1} (c, gates, aux, y) of this thread's rows; reads: h_s of the same rows.
        for (int64_t s = 0; s < c.T; s++)
            for (int64_t jb = 0; jb < nblk; jb++) {
                const FwdTile ft{c, pack + jb * panel, s, jb * 16};
                run_rows<FwdT>(ft, rows.first, rows.last);
            }
    }
}

namespace {

// ---- backward ---------------------------------------------------------------------------------

// Packs R^T for units j0..j0+15: dst[k*16 + jj] = R[j0+jj, k] over all GU columns k (the column
// order of dG), zeros past U.
void pack_backward(float* dst, const float* R, int64_t U, int64_t GU, int64_t jb) {
    const int64_t j0 = jb * 16;
    for (int64_t k = 0; k < GU; k++)
        for (int jj = 0; jj < 16; jj++)
            dst[k * 16 + jj] = j0 + jj < U ? R[(j0 + jj) * GU + k] : 0.0f;
}

struct BwdTile {
    const Ctx& c;
    const float* P;  // this block's packed R^T: GU rows of 16
    int64_t s, j0;   // s = -1: the last product, d/dh0
    int64_t k0, k1;  // this pass's slice of the product's depth (see backward_fused_avx2)
    float* partial;  // (tiles, 6, 16): sums carried from one depth slice to the next
    int64_t r0;      // the first row of this thread's tiles
};

// The cell's backward for one row and 8 units, given dh (the whole gradient reaching h_s).
template <bool D>
void cell_backward(const Ctx& c, int64_t s, int64_t b, int64_t j0, const Lanes& L, __m256 dh) {
    const Pass& p = c.p;
    const RnnArgs& a = c.a;
    const int64_t o = b * c.U + j0, U = c.U;
    float* dg = c.dG(s) + b * c.p.ldG + j0;
    float* carry = p.carry + o;
    const __m256 zero = _mm256_setzero_ps();
    if (!c.used(b, s)) {  // the state passed through this step: dh flows on unchanged
        for (int g = 0; g < p.G; g++) L.st(dg + g * U, zero);
        if (p.dXh) L.st(c.dXh(s) + o, zero);
        L.st(carry, dh);
        return;
    }
    const float* gp = a.gates ? a.gates + (s * c.B + b) * c.GU + j0 : nullptr;
    if (a.cell == RnnCell::lstm) {
        __m256 i = L.ld(gp), f = L.ld(gp + U), g = L.ld(gp + 2 * U), og = L.ld(gp + 3 * U);
        __m256 tc = L.ld(a.aux + s * c.BU + o);
        __m256 dc = _mm256_fmadd_ps(_mm256_mul_ps(dh, og), dact_a<D>(tc, a.act), L.ld(p.dc + o));
        L.st(dg, _mm256_mul_ps(_mm256_mul_ps(dc, g), dact_r<D>(i, a.ract)));
        L.st(dg + U, _mm256_mul_ps(_mm256_mul_ps(dc, L.ld(c.c(s) + o)), dact_r<D>(f, a.ract)));
        L.st(dg + 2 * U, _mm256_mul_ps(_mm256_mul_ps(dc, i), dact_a<D>(g, a.act)));
        L.st(dg + 3 * U, _mm256_mul_ps(_mm256_mul_ps(dh, tc), dact_r<D>(og, a.ract)));
        L.st(p.dc + o, _mm256_mul_ps(dc, f));
        L.st(carry, zero);
    } else if (a.cell == RnnCell::gru) {
        __m256 z = L.ld(gp), r = L.ld(gp + U), hh = L.ld(gp + 2 * U);
        __m256 rh = L.ld(a.aux + s * c.BU + o), hp = L.ld(c.h(s) + o);
        __m256 dah = _mm256_mul_ps(_mm256_mul_ps(dh, _mm256_sub_ps(vset(1.0f), z)),
                                   dact_a<D>(hh, a.act));
        L.st(dg, _mm256_mul_ps(_mm256_mul_ps(dh, _mm256_sub_ps(hp, hh)), dact_r<D>(z, a.ract)));
        L.st(dg + U, _mm256_mul_ps(_mm256_mul_ps(dah, rh), dact_r<D>(r, a.ract)));
        L.st(dg + 2 * U, _mm256_mul_ps(dah, r));
        L.st(c.dXh(s) + o, dah);
        L.st(carry, _mm256_mul_ps(dh, z));
    } else {
        L.st(dg, _mm256_mul_ps(dh, dact_a<D>(L.ld(c.h(s + 1) + o), a.act)));
        L.st(carry, zero);
    }
}

// Asks for the saved activations that step s's cell backward will read for rows b0..b0+m-1
// and units j0..j0+15, while the tile's product runs: they were written during the forward,
// long since gone to L3, and their rows are too far apart for the hardware prefetcher.
int prefetch_list(const float** out, const Ctx& c, int64_t s, int64_t b0, int m, int64_t j0) {
    const RnnArgs& a = c.a;
    int n = 0;
    auto line = [&](const float* p) { out[n++] = p; out[n++] = p + 15; };
    for (int r = 0; r < m; r++) {
        const int64_t b = b0 + r, o = b * c.U + j0;
        if (a.gates)
            for (int g = 0; g < c.p.G; g++) line(a.gates + (s * c.B + b) * c.GU + g * c.U + j0);
        if (a.aux) line(a.aux + s * c.BU + o);
        if (a.cell == RnnCell::lstm) line(c.c(s) + o);
        else line(c.h(s + (a.cell == RnnCell::simple)) + o);
        if (a.dy) line(a.dy + (b * c.T + s) * c.U + j0);
    }
    return n;
}

// MR rows x 16 units: dh_s = dG_{s+1} R^T + carry + dy_s, then the cell's backward.
template <int MR>
void bwd_tile(const BwdTile& bt, int64_t b0) {
    const Ctx& c = bt.c;
    const Pass& p = c.p;
    const int64_t s = bt.s;
    const bool first = bt.k0 == 0, last = bt.k1 == c.GU;
    float* part = bt.partial + ((b0 - bt.r0) / 6) * 96;
    __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        acc0[r] = first ? _mm256_setzero_ps() : _mm256_load_ps(part + r * 16);
        acc1[r] = first ? _mm256_setzero_ps() : _mm256_load_ps(part + r * 16 + 8);
    }
    const float* pf[MR * 16];
    const int npf = first && s >= 0 ? prefetch_list(pf, c, s, b0, MR, bt.j0) : 0;
    if (s + 1 < c.T)
        mk16<MR>(acc0, acc1, c.dG(s + 1) + b0 * c.p.ldG + bt.k0, c.p.ldG, bt.P + bt.k0 * 16,
                 bt.k1 - bt.k0, pf, npf);
    if (!last) {  // exact float round trip: the sum continues in the next slice unchanged
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            _mm256_store_ps(part + r * 16, acc0[r]);
            _mm256_store_ps(part + r * 16 + 8, acc1[r]);
        }
        return;
    }
    alignas(32) float sums[MR][16];  // parked so the row loop below may index them
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        _mm256_store_ps(sums[r], acc0[r]);
        _mm256_store_ps(sums[r] + 8, acc1[r]);
    }
    for (int v = 0; v < 2; v++) {
        const int64_t j0 = bt.j0 + 8 * v;
        if (j0 >= c.U) break;
        const Lanes L(c.U - j0);
        for (int r = 0; r < MR; r++) {
            const int64_t b = b0 + r, o = b * c.U + j0;
            __m256 dh = _mm256_add_ps(_mm256_load_ps(sums[r] + 8 * v), L.ld(p.carry + o));
            if (s < 0) {
                L.st(p.dh0 + o, dh);
                continue;
            }
            if (c.a.dy) dh = _mm256_add_ps(dh, L.ld(c.a.dy + (b * c.T + s) * c.U + j0));
            if (c.defaults) cell_backward<true>(c, s, b, j0, L, dh);
            else cell_backward<false>(c, s, b, j0, L, dh);
        }
    }
}

// C (MR rows x 16 columns, row stride ldc; only the first n columns are kept) += the sum over
// k < K of a[k*lda + r] * w[k*ldw .. +15]: one step's rank-K update of a weight gradient.
// w may be read up to 15 floats past its last valid column (the buffers are padded).
template <int MR>
void rank_update(float* C, int64_t ldc, int n, const float* a, int64_t lda, const float* w,
                 int64_t ldw, int64_t K) {
    const Lanes L0(n), L1(n > 8 ? n - 8 : 0);
    __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        acc0[r] = L0.ld(C + r * ldc);
        acc1[r] = L1.ld(C + r * ldc + 8);
    }
    for (int64_t k = 0; k < K; k++) {
        const __m256 w0 = _mm256_loadu_ps(w + k * ldw), w1 = _mm256_loadu_ps(w + k * ldw + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m256 av = _mm256_broadcast_ss(a + k * lda + r);
            acc0[r] = _mm256_fmadd_ps(av, w0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(av, w1, acc1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        L0.st(C + r * ldc, acc0[r]);
        L1.st(C + r * ldc + 8, acc1[r]);
    }
}

// rank_update over M rows in tiles of 6.
void rank_update_rows(float* C, int64_t ldc, int n, const float* a, int64_t lda, int64_t M,
                      const float* w, int64_t ldw, int64_t K) {
    int64_t m0 = 0;
    for (; m0 + 6 <= M; m0 += 6) rank_update<6>(C + m0 * ldc, ldc, n, a + m0, lda, w, ldw, K);
    switch (M - m0) {
        case 5: rank_update<5>(C + m0 * ldc, ldc, n, a + m0, lda, w, ldw, K); break;
        case 4: rank_update<4>(C + m0 * ldc, ldc, n, a + m0, lda, w, ldw, K); break;
        case 3: rank_update<3>(C + m0 * ldc, ldc, n, a + m0, lda, w, ldw, K); break;
        case 2: rank_update<2>(C + m0 * ldc, ldc, n, a + m0, lda, w, ldw, K); break;
        case 1: rank_update<1>(C + m0 * ldc, ldc, n, a + m0, lda, w, ldw, K); break;
        default: break;
    }
}

// out[0..n) += the column sums of M (K rows of 16 at stride ld), rows in order.
void add_column_sums(float* out, int n, const float* M, int64_t ld, int64_t K) {
    const Lanes L0(n), L1(n > 8 ? n - 8 : 0);
    __m256 s0 = L0.ld(out), s1 = L1.ld(out + 8);
    for (int64_t k = 0; k < K; k++) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(M + k * ld));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(M + k * ld + 8));
    }
    L0.st(out, s0);
    L1.st(out + 8, s1);
}

// Step s's share of the weight gradients for unit block jb (16 units), every gate, over all B
// rows:
//   dR[:, cols] += h_{s-1}^T dG_s[:, cols],  dW[:, cols] += x_t^T dGx_s[:, cols],
//   dbx[cols] += colsum(dGx_s), dbh[cols] += colsum(dG_s) (GRU),
// where dGx is the input side (GRU's h gate: dXh). Only this block's columns are touched, and
// each element adds the rows b in order, steps from last to first, whoever owns the block.
void weight_grads(const Ctx& c, int64_t s, int64_t jb) {
    const RnnArgs& a = c.a;
    const int64_t U = c.U, j0 = jb * 16;
    const int n = static_cast<int>(U - j0 < 16 ? U - j0 : 16);
    const float* dGs = c.dG(s);
    const float* hprev = c.h(s);
    const float* xt = a.x + c.t(s) * c.F;
    for (int g = 0; g < c.p.G; g++) {
        const int64_t col = g * U + j0;
        const bool split = a.cell == RnnCell::gru && g == 2;
        const float* gx = split ? c.dXh(s) + j0 : dGs + col;
        const int64_t ldx = split ? U : c.p.ldG;
        if (a.dR) rank_update_rows(a.dR + col, c.GU, n, hprev, U, U, dGs + col, c.p.ldG, c.B);
        if (a.dW) rank_update_rows(a.dW + col, c.GU, n, xt, c.T * c.F, c.F, gx, ldx, c.B);
        if (a.dbx) add_column_sums(a.dbx + col, n, gx, ldx, c.B);
        if (a.dbh) add_column_sums(a.dbh + col, n, dGs + col, c.p.ldG, c.B);
    }
}

// Per-thread progress of the backward, one cache line each: the last step whose dG rows the
// thread has written (rec) and the last step whose weight gradients it has added (wgt). Both
// count down from T.
struct alignas(64) Progress {
    std::atomic<int64_t> rec, wgt;
};

// Waits until every thread's counter (rec or wgt) has reached step w or below. Spins briefly,
// then yields the core (a partner thread may be waiting for one).
void wait_all(const Progress* pr, int nth, bool rec, int64_t w) {
    for (int u = 0; u < nth; u++) {
        const std::atomic<int64_t>& v = rec ? pr[u].rec : pr[u].wgt;
        for (int spin = 0; v.load(std::memory_order_acquire) > w; spin++) {
            if (spin < 2000) _mm_pause(); else std::this_thread::yield();
        }
    }
}

template <int MR>
struct BwdT {
    static void run(const BwdTile& t, int64_t b0) { bwd_tile<MR>(t, b0); }
};

}  // namespace

void backward_fused_avx2(const Pass& p) {
    constexpr int64_t kDepth = 256;
    const Ctx c(p);
    const int64_t nblk = (c.U + 15) / 16, panel = c.GU * 16;
    float* pack = workspace(kWsPack, static_cast<size_t>(nblk * panel));
    const int64_t per_row = c.GU * (c.U + (p.weights_in_pass ? c.U + c.F : 0));
    const int nt = pass_threads(c.B, c.T * c.B * per_row);
    std::vector<Progress> pr(nt);
    for (auto& q : pr) {
        q.rec.store(c.T, std::memory_order_relaxed);
        q.wgt.store(c.T, std::memory_order_relaxed);
    }
    #pragma omp parallel num_threads(nt)
    {
        #pragma omp for schedule(static)
        for (int64_t jb = 0; jb < nblk; jb++)
            pack_backward(pack + jb * panel, c.a.R, c.U, c.GU, jb);
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        const Rows rows(c.B, tid, nth);
        // Weight-gradient columns: whole unit blocks per thread, all rows.
        const int64_t wb0 = nblk * tid / nth, wb1 = nblk * (tid + 1) / nth;
        auto weights = [&](int64_t w) {  // step w's share, once every thread has written dG_w
            wait_all(pr.data(), nth, true, w);
            for (int64_t jb = wb0; jb < wb1; jb++) weight_grads(c, w, jb);
            pr[tid].wgt.store(w, std::memory_order_release);
        };
        // This thread's tiles' sums, carried from one depth slice to the next.
        float* partial =
            workspace(kWsQ, static_cast<size_t>((rows.last - rows.first + 5) / 6 * 96 + 1));
        // Recurrence: writes dG_s, carry, dc (and dh0) of this thread's rows; reads dG_{s+1} of
        // the same rows, so it never waits for another thread. The product dG_{s+1} R^T runs in
        // depth slices of kDepth (a 16 KiB slice of the packed R^T stays in L1 across tiles).
        // Weight gradients (p.weights_in_pass): step s + kWeightLag's, once all rows of it are
        // written, a few steps behind so a late partner rarely makes anyone wait; dG lives in
        // kWeightSlots slots, and a slot is reused only after every thread has read it.
        for (int64_t s = c.T - 1; s >= -1; s--) {
            if (p.weights_in_pass && !p.dG_full && s >= 0 && s + kWeightSlots < c.T)
                wait_all(pr.data(), nth, false, s + kWeightSlots);  // slot of s is free
            if (s >= 0 || p.want_dh0)
                for (int64_t jb = 0; jb < nblk; jb++)
                    for (int64_t k0 = 0; k0 < c.GU;) {
                        const int64_t k1 = s + 1 < c.T && k0 + kDepth < c.GU ? k0 + kDepth : c.GU;
                        const BwdTile bt{c, pack + jb * panel, s, jb * 16, k0, k1, partial,
                                         rows.first};
                        run_rows<BwdT>(bt, rows.first, rows.last);
                        k0 = k1;
                    }
            if (s >= 0) pr[tid].rec.store(s, std::memory_order_release);
            if (p.weights_in_pass && s + kWeightLag < c.T && s + kWeightLag >= 0)
                weights(s + kWeightLag);
        }
        if (p.weights_in_pass)
            for (int64_t w = (kWeightLag - 2 < c.T - 1 ? kWeightLag - 2 : c.T - 1); w >= 0; w--)
                weights(w);
    }
}

}  // namespace rnn
}  // namespace grebe
