// loss_avx512.cpp — the AVX-512 row kernel of the softmax cross-entropies and the sigmoid
// cross-entropy body (loss.cpp has the losses, the threading and the choice of ISA). Built with -mavx512f ... (file suffix).
// exp uses loss.cpp's Cephes expf steps, operation for operation, 16 lanes at a time (so each
// exp(x - max) has the same bits as the portable one); the row sum is accumulated in double in
// a fixed lane pattern that depends only on the row length, never on the thread count.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>

// GCC 12 reports the intrinsics' own undefined pass-through operands as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace grebe {

namespace {

constexpr float kExpLo = -87.33f, kLog2e = 1.44269504088896341f, kMagic = 12582912.0f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

inline __mmask16 tail_mask(int64_t c, int64_t C) {
    const int64_t n = C - c;
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// exp(x) for x <= 0, as loss.cpp's exp_nonpos4: below -87.33 gives 0, NaN stays NaN.
inline __m512 exp_nonpos16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(kExpLo), magic = _mm512_set1_ps(kMagic);
    const __m512 xc = _mm512_max_ps(lo, x);  // max returns its second operand for NaN
    const __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(kLog2e)), magic),
                                   magic);
    const __m512 r = _mm512_sub_ps(_mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(kLn2Hi))),
                                   _mm512_mul_ps(n, _mm512_set1_ps(kLn2Lo)));
    __m512 p = _mm512_set1_ps(kP0);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(kP1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(kP2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(kP3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(kP4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(kP5));
    const __m512 y = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r),
                                   _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    const __m512 v = _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
    // x < lo: 0 (NaN compares false: kept)
    return _mm512_maskz_mov_ps(static_cast<__mmask16>(~_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ)), v);
}

// Cephes logf's polynomial: log(1 + f) ~ f - f^2/2 + f^3 P(f) for f in [sqrt(.5)-1, sqrt(2)-1].
constexpr float kL0 = 7.0376836292e-2f, kL1 = -1.1514610310e-1f, kL2 = 1.1676998740e-1f,
                kL3 = -1.2420140846e-1f, kL4 = 1.4249322787e-1f, kL5 = -1.6668057665e-1f,
                kL6 = 2.0000714765e-1f, kL7 = -2.4999993993e-1f, kL8 = 3.3333331174e-1f;

// log1p(u) for u in [0, 1] (exp(-|x|)), within ~2 ulp of std::log1p; NaN stays NaN. w = 1 + u
// lies in [1, 2]: w = m * 2^k with m in [1, sqrt 2) or [sqrt .5, 1), f = m - 1 exactly, log m
// from the polynomial, plus k ln 2 in two parts, plus (u - (w - 1)) / w, the rounding of 1 + u.
inline __m512 log1p_unit16(__m512 u) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 w = _mm512_add_ps(one, u);
    const __mmask16 big = _mm512_cmp_ps_mask(w, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    const __m512 m = _mm512_mask_mul_ps(w, big, w, _mm512_set1_ps(0.5f));
    const __m512 k = _mm512_maskz_mov_ps(big, one);
    const __m512 f = _mm512_sub_ps(m, one);
    const __m512 z = _mm512_mul_ps(f, f);
    __m512 p = _mm512_set1_ps(kL0);
    for (float c : {kL1, kL2, kL3, kL4, kL5, kL6, kL7, kL8})
        p = _mm512_add_ps(_mm512_mul_ps(p, f), _mm512_set1_ps(c));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(f, z), p);
    y = _mm512_add_ps(y, _mm512_mul_ps(k, _mm512_set1_ps(kLn2Lo)));
    y = _mm512_sub_ps(y, _mm512_mul_ps(_mm512_set1_ps(0.5f), z));
    __m512 r = _mm512_add_ps(_mm512_add_ps(f, y), _mm512_mul_ps(k, _mm512_set1_ps(kLn2Hi)));
    const __m512 corr = _mm512_div_ps(_mm512_sub_ps(u, _mm512_sub_ps(w, one)), w);
    return _mm512_add_ps(r, corr);
}

}  // namespace

// Sigmoid cross-entropy with logits over [b, e): loss = (max(x, 0) - x z) + log1p(exp(-|x|)),
// dlogits (may be null) = sigmoid(x) - z with sigmoid from exp(-|x|) (loss.cpp's formulas, in
// its order). exp and log1p are the vector forms above, not libm's, so values differ from the
// portable kernel by a few ulp (below 2^-126 exp gives 0 where libm gives a subnormal); NaN
// and +-Inf land where they land in the portable kernel (the same operations on them).
void sigmoid_cross_entropy_range_avx512(float* loss, float* dlogits, const float* logits,
                                        const float* targets, int64_t b, int64_t e) {
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = b; i < e; i += 16) {
        const __mmask16 m = tail_mask(i, e);
        const __m512 x = _mm512_maskz_loadu_ps(m, logits + i);
        const __m512 z = _mm512_maskz_loadu_ps(m, targets + i);
        const __m512 ex = exp_nonpos16(_mm512_or_ps(x, sign));  // exp(-|x|)
        // max(0, x): the second operand when unordered, so a NaN x stays NaN (as std::max(x, 0))
        const __m512 l = _mm512_add_ps(_mm512_sub_ps(_mm512_max_ps(zero, x), _mm512_mul_ps(x, z)),
                                       log1p_unit16(ex));
        _mm512_mask_storeu_ps(loss + i, m, l);
        if (!dlogits) continue;
        const __m512 den = _mm512_add_ps(one, ex);
        const __mmask16 pos = _mm512_cmp_ps_mask(x, zero, _CMP_GE_OQ);  // NaN: the ex branch
        const __m512 sig = _mm512_div_ps(_mm512_mask_mov_ps(ex, pos, one), den);
        _mm512_mask_storeu_ps(dlogits + i, m, _mm512_sub_ps(sig, z));
    }
}

// One row x (C): returns sum_c exp(x_c - mx) in double and sets *mx_out = mx = max_c x_c (0
// when that is not finite: inf/NaN then propagate through exp); e (C), when not null, receives
// exp(x - mx). The contract of loss.cpp's row_exp_sum.
double row_exp_sum_avx512(float* e, const float* x, int64_t C, float* mx_out) {
    __m512 m16 = _mm512_set1_ps(x[0]);
    for (int64_t c = 0; c < C; c += 16)  // masked lanes keep x[0]: NaN entries may be skipped
        m16 = _mm512_mask_max_ps(m16, tail_mask(c, C), m16, _mm512_maskz_loadu_ps(tail_mask(c, C),
                                                                                 x + c));
    float mx = _mm512_reduce_max_ps(m16);
    if (!std::isfinite(mx)) mx = 0.0f;
    *mx_out = mx;
    const __m512 mv = _mm512_set1_ps(mx);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = tail_mask(c, C);
        const __m512 v = _mm512_maskz_mov_ps(
            m, exp_nonpos16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), mv)));
        if (e) _mm512_mask_storeu_ps(e + c, m, v);
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    alignas(64) double l[8], h[8];
    _mm512_store_pd(l, lo);
    _mm512_store_pd(h, hi);
    double s = 0.0;
    for (int k = 0; k < 8; k++) s += l[k] + h[k];  // a fixed order
    return s;
}

}  // namespace grebe
