// optim_avx512.cpp — AVX-512 bodies of the fused optimizer updates over an element range
// [b, e) (optim.h has the formulas, optim.cpp the chunking and threading and the choice of
// ISA). Built with -mavx512f ... (file suffix). Sixteen elements per zmm, the tail masked, so
// every element takes the same vector operations; each operation (mul, add, sub, div, sqrt,
// min, max, no FMA: -ffp-contract=off) rounds like its scalar form in the order the portable
// loop uses, so the results equal the portable/SSE ones bit for bit, NaN and Inf included.
#include <immintrin.h>

#include <cstdint>

#include "kernels/optim.h"

// GCC 12 reports the intrinsics' own undefined pass-through operands as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace grebe {

namespace {

inline __mmask16 tail_mask(int64_t i, int64_t e) {
    const int64_t n = e - i;
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

inline __m512 ld(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline void st(float* p, __mmask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }

// g * gscale, clamped to [-clip, clip] when clip > 0 (the bound is min/max's first operand,
// so a NaN gradient stays NaN).
inline __m512 prep_grad(__m512 g, const GradPrep& p) {
    g = _mm512_mul_ps(g, _mm512_set1_ps(p.gscale));
    if (p.clip > 0.0f)
        g = _mm512_min_ps(_mm512_set1_ps(p.clip), _mm512_max_ps(_mm512_set1_ps(-p.clip), g));
    return g;
}

// w - (w * wd) * lr
inline __m512 decay(__m512 w, float lr, const GradPrep& p) {
    return _mm512_sub_ps(w, _mm512_mul_ps(_mm512_mul_ps(w, _mm512_set1_ps(p.wd)),
                                          _mm512_set1_ps(lr)));
}

}  // namespace

// w[b, e) = decay(w) - prep(g) * lr; plain (no scale, clip or decay): w - g * lr.
void sgd_range_avx512(float* w, const float* g, int64_t b, int64_t e, float lr, GradPrep prep,
                      bool plain) {
    const __m512 lv = _mm512_set1_ps(lr);
    if (plain) {
        for (int64_t i = b; i < e; i += 16) {
            const __mmask16 m = tail_mask(i, e);
            st(w + i, m, _mm512_sub_ps(ld(w + i, m), _mm512_mul_ps(ld(g + i, m), lv)));
        }
        return;
    }
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = tail_mask(i, e);
        st(w + i, m, _mm512_sub_ps(decay(ld(w + i, m), lr, prep),
                                   _mm512_mul_ps(prep_grad(ld(g + i, m), prep), lv)));
    }
}

// m = m * momentum - g * lr; w += m, or w += m * momentum - g * lr (nesterov); [b, e).
void sgd_momentum_range_avx512(float* w, float* mo, const float* g, int64_t b, int64_t e,
                               float lr, float momentum, bool nesterov, GradPrep prep) {
    const __m512 lv = _mm512_set1_ps(lr), mv = _mm512_set1_ps(momentum);
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = tail_mask(i, e);
        const __m512 gi = prep_grad(ld(g + i, m), prep);
        const __m512 wi = decay(ld(w + i, m), lr, prep);
        const __m512 mi = _mm512_sub_ps(_mm512_mul_ps(ld(mo + i, m), mv), _mm512_mul_ps(gi, lv));
        st(mo + i, m, mi);
        const __m512 step = nesterov ? _mm512_sub_ps(_mm512_mul_ps(mi, mv), _mm512_mul_ps(gi, lv))
                                     : mi;
        st(w + i, m, _mm512_add_ps(wi, step));
    }
}

// Adam / AdamW / AMSGrad over [b, e) (optim.h).
void adam_range_avx512(float* w, float* mo, float* v, float* vhat, const float* g, int64_t b,
                       int64_t e, float lr, float alpha, float beta1, float beta2, float eps,
                       GradPrep prep) {
    const __m512 c1 = _mm512_set1_ps(1.0f - beta1), c2 = _mm512_set1_ps(1.0f - beta2);
    const __m512 av = _mm512_set1_ps(alpha), ev = _mm512_set1_ps(eps);
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = tail_mask(i, e);
        const __m512 gi = prep_grad(ld(g + i, m), prep);
        const __m512 wi = decay(ld(w + i, m), lr, prep);
        __m512 mi = ld(mo + i, m), vi = ld(v + i, m);
        mi = _mm512_add_ps(mi, _mm512_mul_ps(_mm512_sub_ps(gi, mi), c1));
        vi = _mm512_add_ps(vi, _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(gi, gi), vi), c2));
        st(mo + i, m, mi);
        st(v + i, m, vi);
        if (vhat) {
            vi = _mm512_max_ps(ld(vhat + i, m), vi);  // as maxps(hp, vi): a NaN v wins
            st(vhat + i, m, vi);
        }
        const __m512 step = _mm512_div_ps(_mm512_mul_ps(mi, av),
                                          _mm512_add_ps(_mm512_sqrt_ps(vi), ev));
        st(w + i, m, _mm512_sub_ps(wi, step));
    }
}

// RMSprop over [b, e) (optim.h): avg (centered) and mom may be nullptr.
void rmsprop_range_avx512(float* w, float* v, float* mom, float* avg, const float* g, int64_t b,
                          int64_t e, float lr, float rho, float momentum, float eps,
                          GradPrep prep) {
    const __m512 rv = _mm512_set1_ps(rho), cv = _mm512_set1_ps(1.0f - rho);
    const __m512 ev = _mm512_set1_ps(eps), lv = _mm512_set1_ps(lr), mv = _mm512_set1_ps(momentum);
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = tail_mask(i, e);
        const __m512 gi = prep_grad(ld(g + i, m), prep);
        const __m512 wi = decay(ld(w + i, m), lr, prep);
        const __m512 vi = _mm512_add_ps(_mm512_mul_ps(rv, ld(v + i, m)),
                                        _mm512_mul_ps(cv, _mm512_mul_ps(gi, gi)));
        st(v + i, m, vi);
        __m512 den;
        if (avg) {
            const __m512 ai = _mm512_add_ps(_mm512_mul_ps(rv, ld(avg + i, m)),
                                            _mm512_mul_ps(cv, gi));
            st(avg + i, m, ai);
            den = _mm512_add_ps(_mm512_sub_ps(vi, _mm512_mul_ps(ai, ai)), ev);
        } else {
            den = _mm512_add_ps(vi, ev);
        }
        __m512 inc = _mm512_div_ps(_mm512_mul_ps(lv, gi), _mm512_sqrt_ps(den));
        if (mom) {
            inc = _mm512_add_ps(_mm512_mul_ps(mv, ld(mom + i, m)), inc);
            st(mom + i, m, inc);
        }
        st(w + i, m, _mm512_sub_ps(wi, inc));
    }
}

// Adagrad over [b, e): acc += g*g; w -= lr * g / sqrt(acc + eps).
void adagrad_range_avx512(float* w, float* acc, const float* g, int64_t b, int64_t e, float lr,
                          float eps, GradPrep prep) {
    const __m512 lv = _mm512_set1_ps(lr), ev = _mm512_set1_ps(eps);
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = tail_mask(i, e);
        const __m512 gi = prep_grad(ld(g + i, m), prep);
        const __m512 wi = decay(ld(w + i, m), lr, prep);
        const __m512 ci = _mm512_add_ps(ld(acc + i, m), _mm512_mul_ps(gi, gi));
        st(acc + i, m, ci);
        const __m512 step = _mm512_div_ps(_mm512_mul_ps(lv, gi),
                                          _mm512_sqrt_ps(_mm512_add_ps(ci, ev)));
        st(w + i, m, _mm512_sub_ps(wi, step));
    }
}

// sum(x*x) over [b, e) in double: each square is exact in double; 32 lanes (four zmm of
// doubles) take elements i % 32 and are added in a fixed order at the end, so the result
// depends on the range only (not on the thread count). It rounds differently from the
// portable left-to-right sum (a reordered double sum: relative differences ~1e-16).
double sum_squares_range_avx512(const float* x, int64_t b, int64_t e) {
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = b; i < e; i += 32) {
        const __mmask16 m0 = tail_mask(i, e), m1 = i + 16 < e ? tail_mask(i + 16, e) : 0;
        const __m512 v0 = ld(x + i, m0), v1 = ld(x + i + 16, m1);
        const __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v0));
        const __m512d d1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v0, 1));
        const __m512d d2 = _mm512_cvtps_pd(_mm512_castps512_ps256(v1));
        const __m512d d3 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v1, 1));
        a0 = _mm512_add_pd(a0, _mm512_mul_pd(d0, d0));
        a1 = _mm512_add_pd(a1, _mm512_mul_pd(d1, d1));
        a2 = _mm512_add_pd(a2, _mm512_mul_pd(d2, d2));
        a3 = _mm512_add_pd(a3, _mm512_mul_pd(d3, d3));
    }
    alignas(64) double t[8];
    _mm512_store_pd(t, _mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

}  // namespace grebe
