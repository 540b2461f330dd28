// rnn_avx512_common.h — what the AVX-512 recurrence passes (rnn_avx512.cpp: forward,
// rnn_bptt_avx512.cpp: backward) share: vector math, masked lanes, the pass context, the row
// tiling and the register-tile product. Included ONLY by *_avx512.cpp files (compiled with
// AVX-512 flags); everything is in an anonymous namespace, so each file has its own copy and no
// AVX-512 code can reach the portable build.
//
// NaN and Inf: every clamp keeps NaN (the constant is the first operand of min/max, which
// return their second operand when unordered), e^x overflows to inf and underflows to 0 as
// std::exp does, and sigmoid divides (so a saturated gate has exactly the portable pass's zero
// slope): a NaN entering the sequence reaches the outputs and the loss as in the portable pass.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/rnn_internal.h"

// GCC 12 reports "__Y is used uninitialized" inside its own avx512fintrin.h (the unmasked
// intrinsics pass _mm512_undefined_ps() as the pass-through operand): a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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
    const float* bias(const float* v, int g, int64_t j) const {
        return v ? v + g * U + j : nullptr;
    }
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

}  // namespace
}  // namespace rnn
}  // namespace grebe
