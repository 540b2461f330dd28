// rnn_avx512.cpp — the fused recurrence passes (AVX-512) for LSTM, GRU (reset_after) and
// SimpleRNN: the AVX2 passes (rnn_avx2.cpp, which explains the scheme) with 16-lane vectors.
// Layouts and semantics: rnn.h; the driver and the whole-sequence GEMMs: rnn.cpp.
//
// What changes with 32 zmm registers: a unit block of 16 is one vector, so a tile is up to
// kMR = 12 rows x 16 units with 12 independent FMA chains, each FMA taking its row's value as
// an embedded broadcast (one load of 16 packed weights serves 12 rows instead of 6). A thread's
// rows are cut into tiles of nearly equal height (32 rows: 11 + 11 + 10), never a short
// leftover. Partial unit blocks use mask registers. e^x puts 2^n in with vscalefps.
//
// NaN and Inf: every clamp keeps NaN (the constant is the first operand of min/max, which
// return their second operand when unordered), so a NaN entering the sequence reaches the
// outputs and the loss exactly as in the portable pass.
//
// Threads and determinism: as in rnn_avx2.cpp: rows split by thread for the recurrence, unit
// blocks for the weight gradients, per-step progress counters instead of barriers. An output
// element is computed by the same instructions in the same order whichever thread or tile
// holds it, so results are bit-identical for any thread count.
#include <immintrin.h>
#include <omp.h>
// GCC 12 reports "__Y is used uninitialized" inside its own avx512fintrin.h (the unmasked
// intrinsics pass _mm512_undefined_ps() as the pass-through operand): a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/rnn_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace rnn {
namespace {

constexpr int kMR = 12;  // rows per tile at most

// ---- vector math ------------------------------------------------------------------------------

inline __m512 vset(float v) { return _mm512_set1_ps(v); }

// e^x: x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor series to r^7 (Estrin), times 2^n by
// vscalefps, which overflows to inf and underflows to 0 as std::exp does. The clamp to
// [-104, 89] only keeps r sane for huge |x| (e^x is already 0 or inf there) and keeps NaN.
inline __m512 vexp(__m512 x) {
    x = _mm512_min_ps(vset(89.0f), _mm512_max_ps(vset(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, vset(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, vset(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, vset(-2.12194440e-4f), r);
    const __m512 r2 = _mm512_mul_ps(r, r), r4 = _mm512_mul_ps(r2, r2);
    const __m512 p01 = _mm512_add_ps(r, vset(1.0f));
    const __m512 p23 = _mm512_fmadd_ps(r, vset(1.0f / 6.0f), vset(0.5f));
    const __m512 p45 = _mm512_fmadd_ps(r, vset(1.0f / 120.0f), vset(1.0f / 24.0f));
    const __m512 p67 = _mm512_fmadd_ps(r, vset(1.0f / 5040.0f), vset(1.0f / 720.0f));
    const __m512 p = _mm512_fmadd_ps(_mm512_fmadd_ps(p67, r2, p45), r4,
                                     _mm512_fmadd_ps(p23, r2, p01));
    return _mm512_scalef_ps(p, n);
}

// 1/d for d in [1, 2]: the 14-bit estimate and one Newton step.
inline __m512 vrecip(__m512 d) {
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, vset(2.0f)));
}

// 1 / (1 + e^-x) with a true division: where e^-x overflows (x < -88.7) it gives exactly 0,
// as the portable pass does, so a saturated gate has exactly zero slope in both.
inline __m512 vsigmoid(__m512 x) {
    return _mm512_div_ps(vset(1.0f), _mm512_add_ps(vset(1.0f), vexp(_mm512_sub_ps(vset(0.0f), x))));
}

// tanh|x| = (1 - e) / (1 + e), e = e^{-2|x|} in (0, 1], the sign put back at the end.
inline __m512 vtanh(__m512 x) {
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 e = vexp(_mm512_mul_ps(ax, vset(-2.0f)));
    const __m512 t = _mm512_mul_ps(_mm512_sub_ps(vset(1.0f), e),
                                   vrecip(_mm512_add_ps(vset(1.0f), e)));
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}

inline __m512 vact(__m512 v, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return vtanh(v);
        case RnnAct::sigmoid: return vsigmoid(v);
        case RnnAct::relu: return _mm512_max_ps(vset(0.0f), v);
        case RnnAct::hard_sigmoid:
            return _mm512_min_ps(vset(1.0f), _mm512_max_ps(vset(0.0f),
                                 _mm512_add_ps(_mm512_div_ps(v, vset(6.0f)), vset(0.5f))));
        default: return v;
    }
}

// Each activation's derivative from its output y.
inline __m512 vdact(__m512 y, RnnAct k) {
    switch (k) {
        case RnnAct::tanh: return _mm512_fnmadd_ps(y, y, vset(1.0f));
        case RnnAct::sigmoid: return _mm512_mul_ps(y, _mm512_sub_ps(vset(1.0f), y));
        case RnnAct::relu:
            return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, vset(0.0f), _CMP_GT_OQ), vset(1.0f));
        case RnnAct::hard_sigmoid:
            return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, vset(0.0f), _CMP_GT_OQ) &
                                           _mm512_cmp_ps_mask(y, vset(1.0f), _CMP_LT_OQ),
                                       vset(1.0f / 6.0f));
        default: return vset(1.0f);
    }
}

// D = true: tanh / sigmoid compiled in without a switch per call.
template <bool D> inline __m512 act_a(__m512 v, RnnAct k) { return D ? vtanh(v) : vact(v, k); }
template <bool D> inline __m512 act_r(__m512 v, RnnAct k) { return D ? vsigmoid(v) : vact(v, k); }
template <bool D> inline __m512 dact_a(__m512 y, RnnAct k) {
    return D ? _mm512_fnmadd_ps(y, y, vset(1.0f)) : vdact(y, k);
}
template <bool D> inline __m512 dact_r(__m512 y, RnnAct k) {
    return D ? _mm512_mul_ps(y, _mm512_sub_ps(vset(1.0f), y)) : vdact(y, k);
}

// Loads/stores of the first n <= 16 lanes (the last unit block may be partial).
struct Lanes {
    __mmask16 m;
    explicit Lanes(int64_t n)
        : m(n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n > 0 ? n : 0)) - 1)) {}
    __m512 ld(const float* p) const { return _mm512_maskz_loadu_ps(m, p); }
    __m512 ld_or0(const float* p) const { return p ? ld(p) : _mm512_setzero_ps(); }
    void st(float* p, __m512 v) const { _mm512_mask_storeu_ps(p, m, v); }
    void copy(float* dst, const float* src) const { st(dst, ld(src)); }
};

// ---- shared bookkeeping (as rnn_avx2.cpp) -----------------------------------------------------

struct Ctx {
    const Pass& p;
    const RnnArgs& a;
    int64_t B, T, F, U, GU, BU;
    bool defaults;
    explicit Ctx(const Pass& pass)
        : p(pass), a(*pass.a), B(a.B), T(a.T), F(a.F), U(a.U), GU(pass.GU), BU(a.B * a.U),
          defaults(a.act == RnnAct::tanh &&
                   (a.ract == RnnAct::sigmoid || a.cell == RnnCell::simple)) {}
    float* h(int64_t s) const { return p.hs + (p.full ? s : (s & 1)) * BU; }
    float* c(int64_t s) const { return p.cs + (p.full ? s : (s & 1)) * BU; }
    int64_t t(int64_t s) const { return a.reverse ? T - 1 - s : s; }
    bool used(int64_t b, int64_t s) const { return !a.mask || a.mask[b * T + t(s)] != 0; }
    const float* bias(const float* v, int g, int64_t j) const { return v ? v + g * U + j : nullptr; }
    int64_t slot(int64_t s) const { return p.dG_full ? s : s % kWeightSlots; }
    float* dG(int64_t s) const { return p.dG + slot(s) * B * p.ldG; }
    float* dXh(int64_t s) const { return p.dXh + slot(s) * BU; }
};

struct Rows {
    int64_t first, last;
    Rows(int64_t B, int tid, int nth) : first(B * tid / nth), last(B * (tid + 1) / nth) {}
};

// acc[r] (16 units) += sum over k < K of a[r*lda + k] * w[k*16 .. k*16+15]: MR independent
// FMA chains, each over k in order. Optional prefetches, one every 2 k.
template <int MR>
inline void mk(__m512* acc, const float* a, int64_t lda, const float* w, int64_t K,
               const float* const* pf = nullptr, int npf = 0) {
#pragma GCC unroll 2
    for (int64_t k = 0; k < K; k++) {
        if ((k & 1) == 0 && (k >> 1) < npf)
            _mm_prefetch(reinterpret_cast<const char*>(pf[k >> 1]), _MM_HINT_T0);
        const __m512 wv = _mm512_loadu_ps(w + k * 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + k]), wv, acc[r]);
    }
}

// Forward weights of unit block jb, one slab per gate: U rows of R then F rows of W, 16 floats
// a row, zeros past U (the layout of rnn_avx2.cpp).
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

// Runs K<m>::run(tile, b0) over rows [r0, r1) in tiles of nearly equal height <= kMR.
template <template <int> class K, int M, class Tile>
inline void run_m(int64_t m, const Tile& tile, int64_t b0) {
    if constexpr (M > 1) {
        if (m < M) return run_m<K, M - 1>(m, tile, b0);
    }
    K<M>::run(tile, b0);
}
template <template <int> class K, class Tile>
void run_rows(const Tile& tile, int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0, tiles = (n + kMR - 1) / kMR;
    for (int64_t t = 0; t < tiles; t++) {
        const int64_t lo = r0 + n * t / tiles, hi = r0 + n * (t + 1) / tiles;
        run_m<K, kMR>(hi - lo, tile, lo);
    }
}

// ---- forward ----------------------------------------------------------------------------------

struct FwdTile {
    const Ctx& c;
    const float* P;
    int64_t s, j0;
};

// One tile: MR rows x 16 units; each slab's sums in registers, parked, then the cell math.
template <int MR, bool D>
void fwd_tile(const FwdTile& ft, int64_t b0) {
    const Ctx& c = ft.c;
    const RnnArgs& a = c.a;
    const int64_t U = c.U, F = c.F, s = ft.s;
    const float* hp = c.h(s) + b0 * U;
    const float* xr = a.x + (b0 * c.T + c.t(s)) * F;
    const bool gru = a.cell == RnnCell::gru;
    const int nslab = a.cell == RnnCell::simple ? 1 : 4;
    alignas(64) float sums[4][MR][16];
    for (int slab = 0; slab < nslab; slab++) {
        const int g = gru && slab == 3 ? 2 : slab;
        const bool use_h = !(gru && slab == 2), use_x = !(gru && slab == 3);
        const float* w = ft.P + g * (U + F) * 16;
        __m512 acc[MR];
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_ps();
        if (use_h && !(s == 0 && a.h0 == nullptr)) mk<MR>(acc, hp, U, w, U);
        if (use_x) mk<MR>(acc, xr, c.T * F, w + U * 16, F);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) _mm512_store_ps(sums[slab][r], acc[r]);
    }
    const int64_t j0 = ft.j0;
    const Lanes L(U - j0);
    __m512 bias[4], bh[3];
    for (int g = 0; g < c.p.G; g++) bias[g] = L.ld_or0(c.bias(a.bx, g, j0));
    for (int g = 0; g < 3 && gru; g++) bh[g] = L.ld_or0(c.bias(a.bh, g, j0));
    for (int r = 0; r < MR; r++) {
        const int64_t b = b0 + r, o = b * U + j0;
        auto sum = [&](int slab) { return _mm512_load_ps(sums[slab][r]); };
        float* hn = c.h(s + 1) + o;
        const float* hpr = c.h(s) + o;
        float* gr = a.gates ? a.gates + (s * c.B + b) * c.GU + j0 : nullptr;
        if (!c.used(b, s)) {
            L.copy(hn, hpr);
            if (a.cell == RnnCell::lstm) L.copy(c.c(s + 1) + o, c.c(s) + o);
        } else if (a.cell == RnnCell::lstm) {
            const __m512 i = act_r<D>(_mm512_add_ps(sum(0), bias[0]), a.ract);
            const __m512 f = act_r<D>(_mm512_add_ps(sum(1), bias[1]), a.ract);
            const __m512 gg = act_a<D>(_mm512_add_ps(sum(2), bias[2]), a.act);
            const __m512 og = act_r<D>(_mm512_add_ps(sum(3), bias[3]), a.ract);
            const __m512 cv = _mm512_fmadd_ps(f, L.ld(c.c(s) + o), _mm512_mul_ps(i, gg));
            const __m512 tc = act_a<D>(cv, a.act);
            L.st(c.c(s + 1) + o, cv);
            L.st(hn, _mm512_mul_ps(og, tc));
            if (gr) { L.st(gr, i); L.st(gr + U, f); L.st(gr + 2 * U, gg); L.st(gr + 3 * U, og); }
            if (a.aux) L.st(a.aux + s * c.BU + o, tc);
        } else if (gru) {
            const __m512 z =
                act_r<D>(_mm512_add_ps(_mm512_add_ps(sum(0), bias[0]), bh[0]), a.ract);
            const __m512 rg =
                act_r<D>(_mm512_add_ps(_mm512_add_ps(sum(1), bias[1]), bh[1]), a.ract);
            const __m512 rh = _mm512_add_ps(sum(3), bh[2]);
            const __m512 xh = _mm512_add_ps(sum(2), bias[2]);
            const __m512 hh = act_a<D>(_mm512_fmadd_ps(rg, rh, xh), a.act);
            L.st(hn, _mm512_fmadd_ps(z, _mm512_sub_ps(L.ld(hpr), hh), hh));
            if (gr) { L.st(gr, z); L.st(gr + U, rg); L.st(gr + 2 * U, hh); }
            if (a.aux) L.st(a.aux + s * c.BU + o, rh);
        } else {
            L.st(hn, act_a<D>(_mm512_add_ps(sum(0), bias[0]), a.act));
        }
        if (a.y) L.copy(a.y + (b * c.T + s) * U + j0, hn);
    }
}

template <int MR>
struct FwdT {
    static void run(const FwdTile& t, int64_t b0) {
        if (t.c.defaults) fwd_tile<MR, true>(t, b0); else fwd_tile<MR, false>(t, b0);
    }
};

}  // namespace

void forward_fused_avx512(const Pass& p) {
    const Ctx c(p);
    const int64_t nblk = (c.U + 15) / 16;
    const int64_t panel = p.G * (c.U + c.F) * 16;
    float* pack = workspace(kWsPack, static_cast<size_t>(nblk * panel));
    const int nt = pass_threads(c.B, c.T * c.B * c.GU * (c.U + c.F));
    #pragma omp parallel num_threads(nt)
    {
        // Each block is packed by one thread; the barrier ending `omp for` publishes it.
        #pragma omp for schedule(static)
        for (int64_t jb = 0; jb < nblk; jb++) pack_forward(pack + jb * panel, c.a, p.G, c.GU, jb);
        const Rows rows(c.B, omp_get_thread_num(), omp_get_num_threads());
        // Writes h_{s+1} (c, gates, aux, y) of this thread's rows; reads h_s of the same rows.
        for (int64_t s = 0; s < c.T; s++)
            for (int64_t jb = 0; jb < nblk; jb++)
                run_rows<FwdT>(FwdTile{c, pack + jb * panel, s, jb * 16}, rows.first, rows.last);
    }
}

namespace {

// ---- backward ---------------------------------------------------------------------------------

// Packs R^T for units j0..j0+15: dst[k*16 + jj] = R[j0+jj, k] over all GU columns k.
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
    int64_t k0, k1;  // this pass's slice of the product's depth
    float* partial;  // (rows, 16): sums carried from one depth slice to the next
    int64_t r0;      // the first row of this thread's tiles
};

// The cell's backward for one row and 16 units, given dh (the whole gradient reaching h_s).
template <bool D>
void cell_backward(const Ctx& c, int64_t s, int64_t b, int64_t j0, const Lanes& L, __m512 dh) {
    const Pass& p = c.p;
    const RnnArgs& a = c.a;
    const int64_t o = b * c.U + j0, U = c.U;
    float* dg = c.dG(s) + b * c.p.ldG + j0;
    float* carry = p.carry + o;
    const __m512 zero = _mm512_setzero_ps();
    if (!c.used(b, s)) {  // the state passed through this step: dh flows on unchanged
        for (int g = 0; g < p.G; g++) L.st(dg + g * U, zero);
        if (p.dXh) L.st(c.dXh(s) + o, zero);
        L.st(carry, dh);
        return;
    }
    const float* gp = a.gates ? a.gates + (s * c.B + b) * c.GU + j0 : nullptr;
    if (a.cell == RnnCell::lstm) {
        const __m512 i = L.ld(gp), f = L.ld(gp + U), g = L.ld(gp + 2 * U), og = L.ld(gp + 3 * U);
        const __m512 tc = L.ld(a.aux + s * c.BU + o);
        const __m512 dc =
            _mm512_fmadd_ps(_mm512_mul_ps(dh, og), dact_a<D>(tc, a.act), L.ld(p.dc + o));
        L.st(dg, _mm512_mul_ps(_mm512_mul_ps(dc, g), dact_r<D>(i, a.ract)));
        L.st(dg + U, _mm512_mul_ps(_mm512_mul_ps(dc, L.ld(c.c(s) + o)), dact_r<D>(f, a.ract)));
        L.st(dg + 2 * U, _mm512_mul_ps(_mm512_mul_ps(dc, i), dact_a<D>(g, a.act)));
        L.st(dg + 3 * U, _mm512_mul_ps(_mm512_mul_ps(dh, tc), dact_r<D>(og, a.ract)));
        L.st(p.dc + o, _mm512_mul_ps(dc, f));
        L.st(carry, zero);
    } else if (a.cell == RnnCell::gru) {
        const __m512 z = L.ld(gp), r = L.ld(gp + U), hh = L.ld(gp + 2 * U);
        const __m512 rh = L.ld(a.aux + s * c.BU + o), hp = L.ld(c.h(s) + o);
        const __m512 dah = _mm512_mul_ps(_mm512_mul_ps(dh, _mm512_sub_ps(vset(1.0f), z)),
                                         dact_a<D>(hh, a.act));
        L.st(dg, _mm512_mul_ps(_mm512_mul_ps(dh, _mm512_sub_ps(hp, hh)), dact_r<D>(z, a.ract)));
        L.st(dg + U, _mm512_mul_ps(_mm512_mul_ps(dah, rh), dact_r<D>(r, a.ract)));
        L.st(dg + 2 * U, _mm512_mul_ps(dah, r));
        L.st(c.dXh(s) + o, dah);
        L.st(carry, _mm512_mul_ps(dh, z));
    } else {
        L.st(dg, _mm512_mul_ps(dh, dact_a<D>(L.ld(c.h(s + 1) + o), a.act)));
        L.st(carry, zero);
    }
}

// The saved activations step s's cell backward will read for rows b0..b0+m-1, units
// j0..j0+15: asked for while the tile's product runs (they were written long ago).
int prefetch_list(const float** out, const Ctx& c, int64_t s, int64_t b0, int m, int64_t j0) {
    const RnnArgs& a = c.a;
    int n = 0;
    for (int r = 0; r < m; r++) {
        const int64_t b = b0 + r, o = b * c.U + j0;
        if (a.gates)
            for (int g = 0; g < c.p.G; g++) out[n++] = a.gates + (s * c.B + b) * c.GU + g * c.U + j0;
        if (a.aux) out[n++] = a.aux + s * c.BU + o;
        if (a.cell == RnnCell::lstm) out[n++] = c.c(s) + o;
        else out[n++] = c.h(s + (a.cell == RnnCell::simple)) + o;
        if (a.dy) out[n++] = a.dy + (b * c.T + s) * c.U + j0;
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
    float* part = bt.partial + (b0 - bt.r0) * 16;
    __m512 acc[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        acc[r] = first ? _mm512_setzero_ps() : _mm512_load_ps(part + r * 16);
    const float* pf[MR * 8];
    const int npf = first && s >= 0 ? prefetch_list(pf, c, s, b0, MR, bt.j0) : 0;
    if (s + 1 < c.T)
        mk<MR>(acc, c.dG(s + 1) + b0 * p.ldG + bt.k0, p.ldG, bt.P + bt.k0 * 16, bt.k1 - bt.k0,
               pf, npf);
    if (!last) {  // exact float round trip: the sum continues in the next slice unchanged
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) _mm512_store_ps(part + r * 16, acc[r]);
        return;
    }
    alignas(64) float sums[MR][16];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) _mm512_store_ps(sums[r], acc[r]);
    const int64_t j0 = bt.j0;
    const Lanes L(c.U - j0);
    for (int r = 0; r < MR; r++) {
        const int64_t b = b0 + r, o = b * c.U + j0;
        __m512 dh = _mm512_add_ps(_mm512_load_ps(sums[r]), L.ld(p.carry + o));
        if (s < 0) {
            L.st(p.dh0 + o, dh);
            continue;
        }
        if (c.a.dy) dh = _mm512_add_ps(dh, L.ld(c.a.dy + (b * c.T + s) * c.U + j0));
        if (c.defaults) cell_backward<true>(c, s, b, j0, L, dh);
        else cell_backward<false>(c, s, b, j0, L, dh);
    }
}

template <int MR>
struct BwdT {
    static void run(const BwdTile& t, int64_t b0) { bwd_tile<MR>(t, b0); }
};

// C (MR rows x 16 columns, row stride ldc; the first n columns kept) += the sum over k < K of
// a[k*lda + r] * w[k*ldw .. +15]. w may be read up to 15 floats past its last valid column.
template <int MR>
void rank_update(float* C, int64_t ldc, int n, const float* a, int64_t lda, const float* w,
                 int64_t ldw, int64_t K) {
    const Lanes L(n);
    __m512 acc[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r] = L.ld(C + r * ldc);
    for (int64_t k = 0; k < K; k++) {
        const __m512 wv = _mm512_loadu_ps(w + k * ldw);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[k * lda + r]), wv, acc[r]);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) L.st(C + r * ldc, acc[r]);
}

struct RankArgs {
    float* C;
    int64_t ldc;
    int n;
    const float* a;
    int64_t lda;
    const float* w;
    int64_t ldw, K;
};

template <int MR>
struct RankT {
    static void run(const RankArgs& q, int64_t m0) {
        rank_update<MR>(q.C + m0 * q.ldc, q.ldc, q.n, q.a + m0, q.lda, q.w, q.ldw, q.K);
    }
};

// out[0..n) += the column sums of M (K rows of 16 at stride ld), rows in order.
void add_column_sums(float* out, int n, const float* M, int64_t ld, int64_t K) {
    const Lanes L(n);
    __m512 s = L.ld(out);
    for (int64_t k = 0; k < K; k++) s = _mm512_add_ps(s, _mm512_loadu_ps(M + k * ld));
    L.st(out, s);
}

// Step s's share of dR, dW and the bias gradients for unit block jb over all B rows (see
// rnn_avx2.cpp): only this block's columns are touched, rows added in order.
void weight_grads(const Ctx& c, int64_t s, int64_t jb) {
    const RnnArgs& a = c.a;
    const int64_t U = c.U, j0 = jb * 16;
    const int n = static_cast<int>(U - j0 < 16 ? U - j0 : 16);
    const float* dGs = c.dG(s);
    const float* xt = a.x + c.t(s) * c.F;
    for (int g = 0; g < c.p.G; g++) {
        const int64_t col = g * U + j0;
        const bool split = a.cell == RnnCell::gru && g == 2;
        const float* gx = split ? c.dXh(s) + j0 : dGs + col;
        const int64_t ldx = split ? U : c.p.ldG;
        if (a.dR) run_rows<RankT>(RankArgs{a.dR + col, c.GU, n, c.h(s), U, dGs + col, c.p.ldG,
                                           c.B}, 0, U);
        if (a.dW) run_rows<RankT>(RankArgs{a.dW + col, c.GU, n, xt, c.T * c.F, gx, ldx, c.B}, 0,
                                  c.F);
        if (a.dbx) add_column_sums(a.dbx + col, n, gx, ldx, c.B);
        if (a.dbh) add_column_sums(a.dbh + col, n, dGs + col, c.p.ldG, c.B);
    }
}

struct alignas(64) Progress {
    std::atomic<int64_t> rec, wgt;
};

// Waits until every thread's counter (rec or wgt) has reached step w or below.
void wait_all(const Progress* pr, int nth, bool rec, int64_t w) {
    for (int u = 0; u < nth; u++) {
        const std::atomic<int64_t>& v = rec ? pr[u].rec : pr[u].wgt;
        for (int spin = 0; v.load(std::memory_order_acquire) > w; spin++) {
            if (spin < 2000) _mm_pause(); else std::this_thread::yield();
        }
    }
}

}  // namespace

void backward_fused_avx512(const Pass& p) {
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
        const int64_t wb0 = nblk * tid / nth, wb1 = nblk * (tid + 1) / nth;
        auto weights = [&](int64_t w) {  // step w's share, once every thread has written dG_w
            wait_all(pr.data(), nth, true, w);
            for (int64_t jb = wb0; jb < wb1; jb++) weight_grads(c, w, jb);
            pr[tid].wgt.store(w, std::memory_order_release);
        };
        float* partial =
            workspace(kWsQ, static_cast<size_t>((rows.last - rows.first) * 16 + 16));
        // The schedule of rnn_avx2.cpp: the recurrence writes dG_s of this thread's rows from
        // dG_{s+1} of the same rows; the weight gradients trail by kWeightLag steps.
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
