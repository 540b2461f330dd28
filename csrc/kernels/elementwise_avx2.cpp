// elementwise_avx2.cpp — AVX2+FMA activations and row softmax (compiled with -mavx2 -mfma,
// chosen at run time by elementwise.cpp). Serial: elementwise.cpp splits the work.
// Everything here has internal linkage or an _avx2 name, and nothing from a header with
// inline bodies (std::) is used, so no AVX2 code can leak into the portable build.
// Tails use masked loads and stores: every element goes through the same vector formula,
// wherever a thread's range starts or ends.
#include <immintrin.h>

#include <cstdint>

#include "kernels/elementwise_internal.h"

namespace grebe {
namespace {

// Activation codes, as grebe::Act (elementwise.h).
enum : int {
    kRelu = 1, kElu = 4, kSelu = 5, kSigmoid = 6, kTanh = 8, kGelu = 9, kGeluTanh = 10,
    kSilu = 11,
};

constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;

inline __m256 set1(float v) { return _mm256_set1_ps(v); }

inline __m256i tail_mask(int64_t r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// e^x, Cephes expf: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-5 polynomial, 2^n by the
// exponent bits. About 1 ulp. Clamped to [-88.38, 88.38] for the exponent trick, then +inf
// where x > ln(FLT_MAX), as std::exp overflows (so sigmoid(-inf) is exactly 0 and
// silu(-inf) = -inf * 0 is NaN, as in the portable loop); NaN stays NaN (the min/max keep
// their second operand when unordered, and NaN > k is false).
inline __m256 exp8(__m256 x) {
    const __m256 over = _mm256_cmp_ps(x, set1(88.72283935546875f), _CMP_GT_OQ);
    x = _mm256_min_ps(set1(88.3762626647949f), x);
    x = _mm256_max_ps(set1(-88.3762626647949f), x);
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, set1(1.44269504088896341f), set1(0.5f)));
    x = _mm256_fnmadd_ps(fx, set1(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, set1(-2.12194440e-4f), x);
    __m256 y = set1(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, set1(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, set1(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, set1(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, set1(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, set1(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), x);
    y = _mm256_add_ps(y, set1(1.0f));
    __m256i n = _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127));
    const __m256 e = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(n, 23)));
    return _mm256_blendv_ps(e, set1(__builtin_inff()), over);
}

inline __m256 abs8(__m256 x) { return _mm256_andnot_ps(set1(-0.0f), x); }

// e^x - 1 without the cancellation of exp(x) - 1 near 0: a Taylor polynomial for |x| < 0.35
// (truncation error below 2e-8 relative), exp8(x) - 1 elsewhere.
inline __m256 expm1_8(__m256 x) {
    __m256 p = set1(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, x, set1(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, x, set1(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, x, set1(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, x, set1(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, x, set1(0.5f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x), x, x);
    const __m256 big = _mm256_sub_ps(exp8(x), set1(1.0f));
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(abs8(x), set1(0.35f), _CMP_LT_OQ));
}

inline __m256 sigmoid8(__m256 x) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(set1(1.0f), _mm256_add_ps(set1(1.0f), e));
}

// tanh: Cephes tanhf — an odd polynomial below |x| = 0.625 (no cancellation near 0), else
// 1 - 2 / (e^{2|x|} + 1) with the sign of x.
inline __m256 tanh8(__m256 x) {
    const __m256 ax = abs8(x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 p = set1(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, set1(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, set1(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, set1(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, set1(-3.33332819422e-1f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    const __m256 e = exp8(_mm256_add_ps(ax, ax));
    __m256 big = _mm256_sub_ps(set1(1.0f), _mm256_div_ps(set1(2.0f), _mm256_add_ps(e, set1(1.0f))));
    big = _mm256_or_ps(big, _mm256_and_ps(x, set1(-0.0f)));
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, set1(0.625f), _CMP_LT_OQ));
}

// Phi(x), the standard normal CDF, through erfc(|x| / sqrt 2) (Numerical Recipes' erfcc,
// relative error < 1.2e-7 everywhere), so the far tails keep their relative accuracy.
inline __m256 normal_cdf8(__m256 x) {
    const __m256 z = _mm256_mul_ps(abs8(x), set1(0.70710678118654752440f));
    const __m256 t = _mm256_div_ps(set1(1.0f), _mm256_fmadd_ps(z, set1(0.5f), set1(1.0f)));
    __m256 p = set1(0.17087277f);
    p = _mm256_fmadd_ps(p, t, set1(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, set1(1.48851587f));
    p = _mm256_fmadd_ps(p, t, set1(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, set1(0.27886807f));
    p = _mm256_fmadd_ps(p, t, set1(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, set1(0.09678418f));
    p = _mm256_fmadd_ps(p, t, set1(0.37409196f));
    p = _mm256_fmadd_ps(p, t, set1(1.00002368f));
    p = _mm256_fmadd_ps(p, t, set1(-1.26551223f));
    const __m256 erfc = _mm256_mul_ps(t, exp8(_mm256_fnmadd_ps(z, z, p)));
    const __m256 half_erfc = _mm256_mul_ps(erfc, set1(0.5f));
    // x >= 0: Phi = 1 - erfc/2; x < 0: Phi = erfc/2.
    return _mm256_blendv_ps(_mm256_sub_ps(set1(1.0f), half_erfc), half_erfc,
                            _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluCubic = 0.044715f;

inline __m256 gelu_tanh_inner(__m256 x) {
    const __m256 x2 = _mm256_mul_ps(x, x);
    return _mm256_mul_ps(set1(kSqrt2OverPi),
                         _mm256_fmadd_ps(_mm256_mul_ps(set1(kGeluCubic), x2), x, x));
}

// y = f(x) over n floats.
template <class F>
inline void map1(float* y, const float* x, int64_t n, F f) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));
    }
}

// d = f(g, s) over n floats.
template <class F>
inline void map2(float* d, const float* g, const float* s, int64_t n, F f) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, f(_mm256_loadu_ps(g + i), _mm256_loadu_ps(s + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 gv = _mm256_maskload_ps(g + i, m), sv = _mm256_maskload_ps(s + i, m);
        _mm256_maskstore_ps(d + i, m, f(gv, sv));
    }
}

inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

}  // namespace

bool act_forward_avx2(float* y, const float* x, int64_t n, int act, float alpha) {
    const __m256 one = set1(1.0f), half = set1(0.5f), zero = _mm256_setzero_ps();
    switch (act) {
        case kRelu:  // max(x, 0) with NaN kept: max_ps returns its second operand if unordered
            map1(y, x, n, [&](__m256 v) { return _mm256_max_ps(zero, v); });
            return true;
        case kSigmoid: map1(y, x, n, [](__m256 v) { return sigmoid8(v); }); return true;
        case kTanh: map1(y, x, n, [](__m256 v) { return tanh8(v); }); return true;
        case kGelu:
            map1(y, x, n, [](__m256 v) { return _mm256_mul_ps(v, normal_cdf8(v)); });
            return true;
        case kGeluTanh:
            map1(y, x, n, [&](__m256 v) {
                const __m256 t = tanh8(gelu_tanh_inner(v));
                return _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t));
            });
            return true;
        case kSilu:
            map1(y, x, n, [](__m256 v) { return _mm256_mul_ps(v, sigmoid8(v)); });
            return true;
        case kElu:
        case kSelu: {
            // x > 0: scale x; else scale alpha (e^x - 1). The min keeps exp away from overflow
            // on the branch not taken; zero comes first so a NaN lane stays NaN (min returns
            // its second operand when unordered) and the blend below keeps it.
            const __m256 a = set1(act == kElu ? alpha : kSeluAlpha);
            const __m256 sc = set1(act == kElu ? 1.0f : kSeluScale);
            map1(y, x, n, [&](__m256 v) {
                const __m256 neg = _mm256_mul_ps(a, expm1_8(_mm256_min_ps(zero, v)));
                const __m256 r = _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
                return _mm256_mul_ps(sc, r);
            });
            return true;
        }
        default: return false;
    }
}

bool act_backward_avx2(float* dx, const float* dy, const float* x, const float* y, int64_t n,
                       int act, float alpha) {
    const __m256 one = set1(1.0f), half = set1(0.5f), zero = _mm256_setzero_ps();
    switch (act) {
        case kRelu:  // relu'(0) = 0, as PyTorch
            map2(dx, dy, y, n, [&](__m256 g, __m256 s) {
                return _mm256_and_ps(g, _mm256_cmp_ps(s, zero, _CMP_GT_OQ));
            });
            return true;
        case kSigmoid:
            map2(dx, dy, y, n, [&](__m256 g, __m256 s) {
                return _mm256_mul_ps(_mm256_mul_ps(g, s), _mm256_sub_ps(one, s));
            });
            return true;
        case kTanh:
            map2(dx, dy, y, n, [&](__m256 g, __m256 t) {
                return _mm256_mul_ps(g, _mm256_fnmadd_ps(t, t, one));
            });
            return true;
        case kGelu:  // Phi(x) + x phi(x)
            map2(dx, dy, x, n, [&](__m256 g, __m256 v) {
                const __m256 e = exp8(_mm256_mul_ps(_mm256_mul_ps(v, v), set1(-0.5f)));
                const __m256 pdf = _mm256_mul_ps(set1(0.39894228040143267794f), e);
                return _mm256_mul_ps(g, _mm256_fmadd_ps(v, pdf, normal_cdf8(v)));
            });
            return true;
        case kGeluTanh:
            map2(dx, dy, x, n, [&](__m256 g, __m256 v) {
                const __m256 t = tanh8(gelu_tanh_inner(v));
                const __m256 du = _mm256_mul_ps(set1(kSqrt2OverPi),
                    _mm256_fmadd_ps(_mm256_mul_ps(set1(3.0f * kGeluCubic), v), v, one));
                const __m256 dt = _mm256_mul_ps(_mm256_fnmadd_ps(t, t, one), du);
                const __m256 d = _mm256_fmadd_ps(_mm256_mul_ps(half, v), dt,
                                                 _mm256_mul_ps(half, _mm256_add_ps(one, t)));
                return _mm256_mul_ps(g, d);
            });
            return true;
        case kSilu:  // s (1 + x (1 - s))
            map2(dx, dy, x, n, [&](__m256 g, __m256 v) {
                const __m256 s = sigmoid8(v);
                const __m256 d = _mm256_fmadd_ps(v, _mm256_sub_ps(one, s), one);
                return _mm256_mul_ps(_mm256_mul_ps(g, s), d);
            });
            return true;
        case kElu:
        case kSelu: {  // x > 0: scale; else scale alpha e^x
            const __m256 a = set1(act == kElu ? alpha : kSeluAlpha);
            const __m256 sc = set1(act == kElu ? 1.0f : kSeluScale);
            map2(dx, dy, x, n, [&](__m256 g, __m256 v) {
                const __m256 neg = _mm256_mul_ps(a, exp8(_mm256_min_ps(zero, v)));
                const __m256 d = _mm256_blendv_ps(neg, one, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
                return _mm256_mul_ps(g, _mm256_mul_ps(sc, d));
            });
            return true;
        }
        default: return false;
    }
}

// x (rows, N) -> y: softmax or log_softmax of each row. y may equal x.
void softmax_forward_avx2(float* y, const float* x, int64_t rows, int64_t N, bool log) {
    const int64_t body = N & ~int64_t(7);
    const __m256i m = tail_mask(N - body);
    const __m256 ninf = set1(-__builtin_inff());
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * N;
        float* yr = y + r * N;
        __m256 vmax = ninf;
        for (int64_t j = 0; j < body; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(xr + j));
        if (body < N)
            vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, _mm256_maskload_ps(xr + body, m),
                                                        _mm256_castsi256_ps(m)));
        float mx = hmax8(vmax);
        if (mx == -__builtin_inff()) mx = 0.0f;  // an all -inf row: avoid inf - inf
        const __m256 vmx = set1(mx);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < body; j += 8) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(xr + j), vmx));
            acc = _mm256_add_ps(acc, e);
            if (!log) _mm256_storeu_ps(yr + j, e);
        }
        if (body < N) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(xr + body, m), vmx));
            e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
            acc = _mm256_add_ps(acc, e);
            if (!log) _mm256_maskstore_ps(yr + body, m, e);
        }
        const float sum = hsum8(acc);
        if (log) {
            // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds log(sum) to
            // the ulp of max, which is coarse for large logits.
            const __m256 lse = set1(__builtin_logf(sum));
            map1(yr, xr, N, [&](__m256 v) { return _mm256_sub_ps(_mm256_sub_ps(v, vmx), lse); });
        } else {
            const __m256 inv = set1(1.0f / sum);
            map1(yr, yr, N, [&](__m256 v) { return _mm256_mul_ps(v, inv); });
        }
    }
}

// dy, y (rows, N) -> dx. softmax: y (dy - sum(dy y)); log_softmax: dy - exp(y) sum(dy).
void softmax_backward_avx2(float* dx, const float* dy, const float* y, int64_t rows, int64_t N,
                           bool log) {
    const int64_t body = N & ~int64_t(7);
    const __m256i m = tail_mask(N - body);
    for (int64_t r = 0; r < rows; r++) {
        const float* g = dy + r * N;
        const float* yr = y + r * N;
        float* d = dx + r * N;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < body; j += 8) {
            const __m256 gv = _mm256_loadu_ps(g + j);
            acc = log ? _mm256_add_ps(acc, gv) : _mm256_fmadd_ps(gv, _mm256_loadu_ps(yr + j), acc);
        }
        if (body < N) {
            const __m256 gv = _mm256_maskload_ps(g + body, m);
            acc = log ? _mm256_add_ps(acc, gv)
                      : _mm256_fmadd_ps(gv, _mm256_maskload_ps(yr + body, m), acc);
        }
        const __m256 s = set1(hsum8(acc));
        if (log)
            map2(d, g, yr, N, [&](__m256 gv, __m256 yv) {
                return _mm256_fnmadd_ps(exp8(yv), s, gv);
            });
        else
            map2(d, g, yr, N, [&](__m256 gv, __m256 yv) {
                return _mm256_mul_ps(yv, _mm256_sub_ps(gv, s));
            });
    }
}

}  // namespace grebe
