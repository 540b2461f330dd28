// elementwise_avx512.cpp — AVX-512 activations and row softmax: the formulas of
// elementwise_avx2.cpp (which documents them) on 16 lanes, with mask registers for the tails and
// the branches, and vscalefps for 2^n in e^x. Serial: elementwise.cpp splits the work and
// chooses this file when grebe::active_isa() is avx512. Internal linkage or _avx512 names only.
// NaN and Inf: every clamp keeps NaN (the constant is the first operand of min/max, which return
// the second when unordered), and e^x overflows to inf and underflows to 0 as std::exp does, so
// non-finite values land where the portable loops put them (tests/cpp/test_nan_faithful.cpp).
#include <immintrin.h>

#include <cstdint>

#include "kernels/elementwise_internal.h"

// GCC 12 reports "__Y is used uninitialized" inside its own avx512fintrin.h: a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace grebe {
namespace {

enum : int {  // grebe::Act codes (elementwise.h)
    kRelu = 1, kElu = 4, kSelu = 5, kSigmoid = 6, kTanh = 8, kGelu = 9, kGeluTanh = 10,
    kSilu = 11,
};

constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluCubic = 0.044715f;

inline __m512 set1(float v) { return _mm512_set1_ps(v); }
inline __m512 abs16(__m512 x) { return _mm512_abs_ps(x); }
inline __mmask16 lt(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline __mmask16 gt(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline __mmask16 tail(int64_t r) { return static_cast<__mmask16>((1u << r) - 1); }

// e^x, Cephes expf (degree-5 polynomial on |r| <= ln2/2) times 2^n by vscalefps, which gives
// inf above ln(FLT_MAX) and 0 far below; the clamp to [-104, 89] keeps r sane and NaN as NaN.
inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(set1(89.0f), _mm512_max_ps(set1(-104.0f), x));
    const __m512 fx = _mm512_roundscale_ps(_mm512_fmadd_ps(x, set1(1.44269504088896341f),
                                                           set1(0.5f)),
                                           _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, set1(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, set1(-2.12194440e-4f), x);
    __m512 y = set1(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, set1(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, set1(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, set1(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, set1(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, set1(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), x);
    return _mm512_scalef_ps(_mm512_add_ps(y, set1(1.0f)), fx);
}

// e^x - 1: a Taylor polynomial for |x| < 0.35 (no cancellation), exp16(x) - 1 elsewhere.
inline __m512 expm1_16(__m512 x) {
    __m512 p = set1(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, x, set1(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, x, set1(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, x, set1(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, x, set1(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, x, set1(0.5f));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, x), x, x);
    const __m512 big = _mm512_sub_ps(exp16(x), set1(1.0f));
    return _mm512_mask_blend_ps(lt(abs16(x), set1(0.35f)), big, small);
}

inline __m512 sigmoid16(__m512 x) {
    return _mm512_div_ps(set1(1.0f), _mm512_add_ps(set1(1.0f), exp16(_mm512_sub_ps(set1(0), x))));
}

// Cephes tanhf: an odd polynomial below |x| = 0.625, else 1 - 2 / (e^{2|x|} + 1), signed.
inline __m512 tanh16(__m512 x) {
    const __m512 ax = abs16(x), z = _mm512_mul_ps(x, x);
    __m512 p = set1(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, set1(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, set1(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, set1(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, set1(-3.33332819422e-1f));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    const __m512 e = exp16(_mm512_add_ps(ax, ax));
    const __m512 big = _mm512_sub_ps(set1(1.0f),
                                     _mm512_div_ps(set1(2.0f), _mm512_add_ps(e, set1(1.0f))));
    const __m512 sbig = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(big),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))));
    return _mm512_mask_blend_ps(lt(ax, set1(0.625f)), sbig, small);
}

// Phi(x) through erfc(|x| / sqrt 2) (Numerical Recipes' erfcc, relative error < 1.2e-7).
inline __m512 normal_cdf16(__m512 x) {
    const __m512 z = _mm512_mul_ps(abs16(x), set1(0.70710678118654752440f));
    const __m512 t = _mm512_div_ps(set1(1.0f), _mm512_fmadd_ps(z, set1(0.5f), set1(1.0f)));
    static const float kC[] = {-0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                               -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f,
                               -1.26551223f};
    __m512 p = set1(0.17087277f);
    for (float c : kC) p = _mm512_fmadd_ps(p, t, set1(c));
    const __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(t, exp16(_mm512_fnmadd_ps(z, z, p))),
                                           set1(0.5f));
    return _mm512_mask_blend_ps(lt(x, _mm512_setzero_ps()),
                                _mm512_sub_ps(set1(1.0f), half_erfc), half_erfc);
}

inline __m512 gelu_tanh_inner(__m512 x) {
    const __m512 x2 = _mm512_mul_ps(x, x);
    return _mm512_mul_ps(set1(kSqrt2OverPi),
                         _mm512_fmadd_ps(_mm512_mul_ps(set1(kGeluCubic), x2), x, x));
}

// y = f(x) over n floats; the tail is a masked load/store through the same f.
template <class F>
inline void map1(float* y, const float* x, int64_t n, F f) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

// d = f(g, s) over n floats.
template <class F>
inline void map2(float* d, const float* g, const float* s, int64_t n, F f) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(d + i, f(_mm512_loadu_ps(g + i), _mm512_loadu_ps(s + i)));
    if (i < n) {
        const __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(d + i, m,
                              f(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, s + i)));
    }
}

}  // namespace

bool act_forward_avx512(float* y, const float* x, int64_t n, int act, float alpha) {
    const __m512 one = set1(1.0f), half = set1(0.5f), zero = _mm512_setzero_ps();
    switch (act) {
        case kRelu: map1(y, x, n, [&](__m512 v) { return _mm512_max_ps(zero, v); }); return true;
        case kSigmoid: map1(y, x, n, [](__m512 v) { return sigmoid16(v); }); return true;
        case kTanh: map1(y, x, n, [](__m512 v) { return tanh16(v); }); return true;
        case kGelu:
            map1(y, x, n, [](__m512 v) { return _mm512_mul_ps(v, normal_cdf16(v)); });
            return true;
        case kGeluTanh:
            map1(y, x, n, [&](__m512 v) {
                const __m512 t = tanh16(gelu_tanh_inner(v));
                return _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, t));
            });
            return true;
        case kSilu:
            map1(y, x, n, [](__m512 v) { return _mm512_mul_ps(v, sigmoid16(v)); });
            return true;
        case kElu:
        case kSelu: {  // x > 0: scale x; else scale alpha (e^x - 1); NaN goes the second way
            const __m512 a = set1(act == kElu ? alpha : kSeluAlpha);
            const __m512 sc = set1(act == kElu ? 1.0f : kSeluScale);
            map1(y, x, n, [&](__m512 v) {
                const __m512 neg = _mm512_mul_ps(a, expm1_16(_mm512_min_ps(zero, v)));
                return _mm512_mul_ps(sc, _mm512_mask_blend_ps(gt(v, zero), neg, v));
            });
            return true;
        }
        default: return false;
    }
}

bool act_backward_avx512(float* dx, const float* dy, const float* x, const float* y, int64_t n,
                         int act, float alpha) {
    const __m512 one = set1(1.0f), half = set1(0.5f), zero = _mm512_setzero_ps();
    switch (act) {
        case kRelu:  // relu'(0) = 0, as PyTorch
            map2(dx, dy, y, n,
                 [&](__m512 g, __m512 s) { return _mm512_maskz_mov_ps(gt(s, zero), g); });
            return true;
        case kSigmoid:
            map2(dx, dy, y, n, [&](__m512 g, __m512 s) {
                return _mm512_mul_ps(_mm512_mul_ps(g, s), _mm512_sub_ps(one, s));
            });
            return true;
        case kTanh:
            map2(dx, dy, y, n, [&](__m512 g, __m512 t) {
                return _mm512_mul_ps(g, _mm512_fnmadd_ps(t, t, one));
            });
            return true;
        case kGelu:  // Phi(x) + x phi(x)
            map2(dx, dy, x, n, [&](__m512 g, __m512 v) {
                const __m512 e = exp16(_mm512_mul_ps(_mm512_mul_ps(v, v), set1(-0.5f)));
                const __m512 pdf = _mm512_mul_ps(set1(0.39894228040143267794f), e);
                return _mm512_mul_ps(g, _mm512_fmadd_ps(v, pdf, normal_cdf16(v)));
            });
            return true;
        case kGeluTanh:
            map2(dx, dy, x, n, [&](__m512 g, __m512 v) {
                const __m512 t = tanh16(gelu_tanh_inner(v));
                const __m512 du = _mm512_mul_ps(set1(kSqrt2OverPi),
                    _mm512_fmadd_ps(_mm512_mul_ps(set1(3.0f * kGeluCubic), v), v, one));
                const __m512 dt = _mm512_mul_ps(_mm512_fnmadd_ps(t, t, one), du);
                const __m512 d = _mm512_fmadd_ps(_mm512_mul_ps(half, v), dt,
                                                 _mm512_mul_ps(half, _mm512_add_ps(one, t)));
                return _mm512_mul_ps(g, d);
            });
            return true;
        case kSilu:  // s (1 + x (1 - s))
            map2(dx, dy, x, n, [&](__m512 g, __m512 v) {
                const __m512 s = sigmoid16(v);
                const __m512 d = _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one);
                return _mm512_mul_ps(_mm512_mul_ps(g, s), d);
            });
            return true;
        case kElu:
        case kSelu: {  // x > 0: scale; else scale alpha e^x
            const __m512 a = set1(act == kElu ? alpha : kSeluAlpha);
            const __m512 sc = set1(act == kElu ? 1.0f : kSeluScale);
            map2(dx, dy, x, n, [&](__m512 g, __m512 v) {
                const __m512 neg = _mm512_mul_ps(a, exp16(_mm512_min_ps(zero, v)));
                const __m512 d = _mm512_mask_blend_ps(gt(v, zero), neg, one);
                return _mm512_mul_ps(g, _mm512_mul_ps(sc, d));
            });
            return true;
        }
        default: return false;
    }
}

// x (rows, N) -> y: softmax or log_softmax of each row (max-shifted). y may equal x.
void softmax_forward_avx512(float* y, const float* x, int64_t rows, int64_t N, bool log) {
    const int64_t body = N & ~int64_t(15);
    const __mmask16 m = tail(N - body);
    const __m512 ninf = set1(-__builtin_inff());
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * N;
        float* yr = y + r * N;
        __m512 vmax = ninf;
        for (int64_t j = 0; j < body; j += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(xr + j));
        if (body < N) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(ninf, m, xr + body));
        float mx = _mm512_reduce_max_ps(vmax);
        if (mx == -__builtin_inff()) mx = 0.0f;  // an all -inf row: avoid inf - inf
        const __m512 vmx = set1(mx);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < body; j += 16) {
            const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(xr + j), vmx));
            acc = _mm512_add_ps(acc, e);
            if (!log) _mm512_storeu_ps(yr + j, e);
        }
        if (body < N) {
            const __m512 e = _mm512_maskz_mov_ps(
                m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + body), vmx)));
            acc = _mm512_add_ps(acc, e);
            if (!log) _mm512_mask_storeu_ps(yr + body, m, e);
        }
        const float sum = _mm512_reduce_add_ps(acc);
        if (log) {  // (x - max) - log(sum): see elementwise_avx2.cpp
            const __m512 lse = set1(__builtin_logf(sum));
            map1(yr, xr, N, [&](__m512 v) { return _mm512_sub_ps(_mm512_sub_ps(v, vmx), lse); });
        } else {
            const __m512 inv = set1(1.0f / sum);
            map1(yr, yr, N, [&](__m512 v) { return _mm512_mul_ps(v, inv); });
        }
    }
}

// dy, y (rows, N) -> dx. softmax: y (dy - sum(dy y)); log_softmax: dy - exp(y) sum(dy).
void softmax_backward_avx512(float* dx, const float* dy, const float* y, int64_t rows, int64_t N,
                             bool log) {
    const int64_t body = N & ~int64_t(15);
    const __mmask16 m = tail(N - body);
    for (int64_t r = 0; r < rows; r++) {
        const float* g = dy + r * N;
        const float* yr = y + r * N;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < body; j += 16) {
            const __m512 gv = _mm512_loadu_ps(g + j);
            acc = log ? _mm512_add_ps(acc, gv) : _mm512_fmadd_ps(gv, _mm512_loadu_ps(yr + j), acc);
        }
        if (body < N) {
            const __m512 gv = _mm512_maskz_loadu_ps(m, g + body);
            acc = log ? _mm512_add_ps(acc, gv)
                      : _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, yr + body), acc);
        }
        const __m512 s = set1(_mm512_reduce_add_ps(acc));
        if (log)
            map2(dx + r * N, g, yr, N, [&](__m512 gv, __m512 yv) {
                return _mm512_fnmadd_ps(exp16(yv), s, gv);
            });
        else
            map2(dx + r * N, g, yr, N, [&](__m512 gv, __m512 yv) {
                return _mm512_mul_ps(yv, _mm512_sub_ps(gv, s));
            });
    }
}

}  // namespace grebe
