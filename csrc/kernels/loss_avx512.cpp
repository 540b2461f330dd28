// loss_avx512.cpp — the AVX-512 row kernel of the softmax cross-entropies (loss.cpp has the
// losses, the threading and the choice of ISA). Built with -mavx512f ... (file suffix).
// exp uses loss.cpp's Cephes expf steps, operation for operation, 16 lanes at a time (so each
// exp(x - max) has the same bits as the portable one); the row sum is accumulated in double in
// a fixed lane pattern that depends only on the row length, never on the thread count.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

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

}  // namespace

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
