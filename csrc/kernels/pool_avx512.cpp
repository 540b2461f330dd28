// pool_avx512.cpp — AVX-512 row kernels of max pooling (u8 argmax) and average pooling (pool.h
// has the legend and the contracts; pool.cpp the threading and the choice of ISA). Built with
// -mavx512f/bw/vl (file suffix). Sixteen channels per zmm register; the channel tail (C % 16)
// uses masked loads and stores (the same logic, no scalar loop). The same comparisons, window
// order and divisions as pool_avx2.cpp and the portable loops, so the results are identical.
// Non-overlapping backward rows are stored directly (no zeroing pass, no re-reads).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/pool.h"

// GCC 12 reports the intrinsics' own undefined pass-through operands as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace grebe {

namespace {

// The window positions [lo, hi) of output index `o` that fall inside an axis of length `in`.
inline void window_range(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in,
                         int64_t* lo, int64_t* hi) {
    const int64_t start = o * stride - pad;
    *lo = start < 0 ? -start : 0;
    *hi = start + k > in ? in - start : k;
}

inline __mmask16 tail_mask(int64_t c, int64_t C) {
    const int64_t n = C - c;
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

// Where the max takes v over m: v > m, or v is NaN (PyTorch's rule: a NaN wins, and of several
// NaNs the last); ties keep the earlier position.
inline __mmask16 takes(__m512 v, __m512 m) {
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

// 16 window indices held as exact small floats (< 256) -> the bytes at dst (lanes of m).
inline void store_u8(uint8_t* dst, __mmask16 m, __m512 kf) {
    _mm512_mask_cvtusepi32_storeu_epi8(dst, m, _mm512_cvttps_epi32(kf));
}

// 16 u8 window indices at src (lanes of m) -> int32 lanes.
inline __m512i load_u8(const uint8_t* src, __mmask16 m) {
    return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src));
}

// One output pixel: yq (C), aq (C) from the window rows x(h0+kh, w0+kw) with kh in [kh_lo,
// kh_hi), kw in [kw_lo, kw_hi), in row-major window order.
inline void max_pixel(float* yq, uint8_t* aq, const float* xn, int64_t W, int64_t C, int64_t KW,
                      int64_t h0, int64_t w0, int64_t kh_lo, int64_t kh_hi, int64_t kw_lo,
                      int64_t kw_hi) {
    const float* first = xn + ((h0 + kh_lo) * W + w0 + kw_lo) * C;
    const float k_first = static_cast<float>(kh_lo * KW + kw_lo);
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 cm = tail_mask(c, C);
        __m512 m = load(first + c, cm);
        __m512 a = _mm512_set1_ps(k_first);
        for (int64_t kh = kh_lo; kh < kh_hi; kh++)
            for (int64_t kw = (kh == kh_lo ? kw_lo + 1 : kw_lo); kw < kw_hi; kw++) {
                const __m512 v = load(xn + ((h0 + kh) * W + w0 + kw) * C + c, cm);
                const __mmask16 t = takes(v, m);
                m = _mm512_mask_blend_ps(t, m, v);
                a = _mm512_mask_blend_ps(t, a, _mm512_set1_ps(static_cast<float>(kh * KW + kw)));
            }
        _mm512_mask_storeu_ps(yq + c, cm, m);
        store_u8(aq + c, cm, a);
    }
}

// The common case, a whole 2x2 window (KW = 2: indices 0, 1, 2, 3), fully unrolled:
// x0 points at the window's top-left pixel (C floats), WC = W * C.
inline void max_pixel_2x2(float* yq, uint8_t* aq, const float* x0, int64_t WC, int64_t C) {
    const float* x1 = x0 + C;
    const float* x2 = x0 + WC;
    const float* x3 = x2 + C;
    const __m512 k1 = _mm512_set1_ps(1.0f), k2 = _mm512_set1_ps(2.0f), k3 = _mm512_set1_ps(3.0f);
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 cm = tail_mask(c, C);
        __m512 m = load(x0 + c, cm);
        const __m512 v1 = load(x1 + c, cm), v2 = load(x2 + c, cm), v3 = load(x3 + c, cm);
        __mmask16 t = takes(v1, m);
        m = _mm512_mask_blend_ps(t, m, v1);
        __m512 a = _mm512_maskz_mov_ps(t, k1);
        t = takes(v2, m);
        m = _mm512_mask_blend_ps(t, m, v2);
        a = _mm512_mask_blend_ps(t, a, k2);
        t = takes(v3, m);
        m = _mm512_mask_blend_ps(t, m, v3);
        a = _mm512_mask_blend_ps(t, a, k3);
        _mm512_mask_storeu_ps(yq + c, cm, m);
        store_u8(aq + c, cm, a);
    }
}

// Non-overlapping windows (SH >= KH, SW >= KW): the one output row p whose window holds input
// row h, and h's row inside it; false when no window holds h.
inline bool only_window(int64_t h, const Pool2dShape& s, int64_t* p, int64_t* kh) {
    *p = (h + s.PT) / s.SH;
    *kh = h + s.PT - *p * s.SH;
    return *p < s.P && *kh < s.KH;
}

// Writes one input row dxr (W,C) of a non-overlapping backward: write(q, kw_lo, kw_hi) stores
// the columns of window q; the columns no window covers get zeros.
template <typename WriteWindow>
void direct_row(float* dxr, const Pool2dShape& s, const WriteWindow& write) {
    int64_t next = 0;  // first column not yet written
    for (int64_t q = 0; q < s.Q; q++) {
        int64_t kw_lo, kw_hi;
        window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
        const int64_t w_start = q * s.SW - s.PL + kw_lo;
        if (w_start > next)
            std::memset(dxr + next * s.C, 0, sizeof(float) * (w_start - next) * s.C);
        write(q, kw_lo, kw_hi);
        next = q * s.SW - s.PL + kw_hi;
    }
    if (next < s.W) std::memset(dxr + next * s.C, 0, sizeof(float) * (s.W - next) * s.C);
}

// The output rows p that hold input row h with overlapping windows: [p_lo, p_hi].
inline void rows_holding(int64_t h, const Pool2dShape& s, int64_t* p_lo, int64_t* p_hi) {
    const int64_t a = h + s.PT - s.KH + 1;
    *p_lo = a <= 0 ? 0 : (a + s.SH - 1) / s.SH;
    const int64_t b = (h + s.PT) / s.SH;
    *p_hi = b < s.P - 1 ? b : s.P - 1;
}

}  // namespace

// Output row (n, p): xn (H,W,C) of image n -> yr (Q,C), ar (Q,C).
void max_pool2d_row_u8_avx512(float* yr, uint8_t* ar, const float* xn, const Pool2dShape& s,
                              int64_t p) {
    int64_t kh_lo, kh_hi;
    window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
    const int64_t h0 = p * s.SH - s.PT;
    const bool full_rows = s.KH == 2 && s.KW == 2 && kh_lo == 0 && kh_hi == 2;
    for (int64_t q = 0; q < s.Q; q++) {
        int64_t kw_lo, kw_hi;
        window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
        const int64_t w0 = q * s.SW - s.PL;
        if (full_rows && kw_lo == 0 && kw_hi == 2)
            max_pixel_2x2(yr + q * s.C, ar + q * s.C, xn + (h0 * s.W + w0) * s.C, s.W * s.C,
                          s.C);
        else
            max_pixel(yr + q * s.C, ar + q * s.C, xn, s.W, s.C, s.KW, h0, w0, kh_lo, kh_hi,
                      kw_lo, kw_hi);
    }
}

// Input row (n, h): dyn (P,Q,C), an (P,Q,C) of image n -> dxr (W,C).
void max_pool2d_backward_row_u8_avx512(float* dxr, const float* dyn, const uint8_t* an,
                                       const Pool2dShape& s, int64_t h) {
    const int64_t C = s.C;
    if (s.SH >= s.KH && s.SW >= s.KW) {  // each dx element has at most one window: store
        int64_t p, kh;
        if (!only_window(h, s, &p, &kh)) {
            std::memset(dxr, 0, sizeof(float) * s.W * C);
            return;
        }
        direct_row(dxr, s, [&](int64_t q, int64_t kw_lo, int64_t kw_hi) {
            const float* dyq = dyn + (p * s.Q + q) * C;
            const uint8_t* aq = an + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            for (int64_t c = 0; c < C; c += 16) {
                const __mmask16 cm = tail_mask(c, C);
                const __m512i a32 = load_u8(aq + c, cm);
                const __m512 g = load(dyq + c, cm);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                    const __mmask16 hit = _mm512_cmpeq_epi32_mask(
                        a32, _mm512_set1_epi32(static_cast<int>(kh * s.KW + kw)));
                    _mm512_mask_storeu_ps(dxq + kw * C + c, cm, _mm512_maskz_mov_ps(hit, g));
                }
            }
        });
        return;
    }
    // Overlapping windows: zero the row, then add each dy whose window's winner lies in this
    // row, in (p, q) order.
    std::memset(dxr, 0, sizeof(float) * s.W * C);
    int64_t p_lo, p_hi;
    rows_holding(h, s, &p_lo, &p_hi);
    for (int64_t p = p_lo; p <= p_hi; p++) {
        const int64_t kh = h - (p * s.SH - s.PT);
        for (int64_t q = 0; q < s.Q; q++) {
            int64_t kw_lo, kw_hi;
            window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
            const float* dyq = dyn + (p * s.Q + q) * C;
            const uint8_t* aq = an + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            for (int64_t c = 0; c < C; c += 16) {
                const __mmask16 cm = tail_mask(c, C);
                const __m512i a32 = load_u8(aq + c, cm);
                const __m512 g = load(dyq + c, cm);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                    const __mmask16 hit = _mm512_cmpeq_epi32_mask(
                        a32, _mm512_set1_epi32(static_cast<int>(kh * s.KW + kw)));
                    float* d = dxq + kw * C + c;
                    _mm512_mask_storeu_ps(d, cm & hit, _mm512_add_ps(load(d, cm), g));
                }
            }
        }
    }
}

// Output row (n, p): xn (H,W,C) of image n -> yr (Q,C), the mean of each window's input
// positions, summed in row-major window order (as the portable kernel).
void avg_pool2d_row_avx512(float* yr, const float* xn, const Pool2dShape& s, int64_t p) {
    const int64_t C = s.C;
    int64_t kh_lo, kh_hi;
    window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
    const int64_t h0 = p * s.SH - s.PT;
    for (int64_t q = 0; q < s.Q; q++) {
        int64_t kw_lo, kw_hi;
        window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
        const int64_t w0 = q * s.SW - s.PL;
        const __m512 cv = _mm512_set1_ps(static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo)));
        float* yq = yr + q * C;
        for (int64_t c = 0; c < C; c += 16) {
            const __mmask16 cm = tail_mask(c, C);
            __m512 acc = _mm512_setzero_ps();
            for (int64_t kh = kh_lo; kh < kh_hi; kh++)
                for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                    acc = _mm512_add_ps(acc, load(xn + ((h0 + kh) * s.W + w0 + kw) * C + c, cm));
            _mm512_mask_storeu_ps(yq + c, cm, _mm512_div_ps(acc, cv));
        }
    }
}

// Input row (n, h): dyn (P,Q,C) -> dxr (W,C), dx = the sum over the windows holding (h, w) of
// dy / count.
void avg_pool2d_backward_row_avx512(float* dxr, const float* dyn, const Pool2dShape& s,
                                    int64_t h) {
    const int64_t C = s.C;
    if (s.SH >= s.KH && s.SW >= s.KW) {  // each dx element has at most one window: store
        int64_t p, kh;
        if (!only_window(h, s, &p, &kh)) {
            std::memset(dxr, 0, sizeof(float) * s.W * C);
            return;
        }
        int64_t kh_lo, kh_hi;
        window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
        direct_row(dxr, s, [&](int64_t q, int64_t kw_lo, int64_t kw_hi) {
            const __m512 cv =
                _mm512_set1_ps(static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo)));
            const float* dyq = dyn + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            for (int64_t c = 0; c < C; c += 16) {
                const __mmask16 cm = tail_mask(c, C);
                const __m512 g = _mm512_div_ps(load(dyq + c, cm), cv);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                    _mm512_mask_storeu_ps(dxq + kw * C + c, cm, g);
            }
        });
        return;
    }
    std::memset(dxr, 0, sizeof(float) * s.W * C);
    int64_t p_lo, p_hi;
    rows_holding(h, s, &p_lo, &p_hi);
    for (int64_t p = p_lo; p <= p_hi; p++) {
        int64_t kh_lo, kh_hi;
        window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
        for (int64_t q = 0; q < s.Q; q++) {
            int64_t kw_lo, kw_hi;
            window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
            const __m512 cv =
                _mm512_set1_ps(static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo)));
            const float* dyq = dyn + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            for (int64_t c = 0; c < C; c += 16) {
                const __mmask16 cm = tail_mask(c, C);
                const __m512 g = _mm512_div_ps(load(dyq + c, cm), cv);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                    float* d = dxq + kw * C + c;
                    _mm512_mask_storeu_ps(d, cm, _mm512_add_ps(load(d, cm), g));
                }
            }
        }
    }
}

// ---- Global pooling (pool.cpp has the threading): the portable loops' operations per channel,
// 16 channels per zmm, so the results are the same bits.

// One image's channel block: yb (cn) = mean over s < S of xb[s*C + c] (double sums in s order,
// one division in double, one rounding to float: as the portable loop). A block that fits the
// L2 budget keeps 32 channels' sums in registers across all S rows; a larger one streams the
// rows in order with the sums in an L1 array (strided re-reads would miss). Same bits either way.
void global_avg_pool_block_avx512(float* yb, const float* xb, int64_t S, int64_t C, int64_t cn) {
    const __m512d sv = _mm512_set1_pd(static_cast<double>(S));
    if (S * cn * 4 > (int64_t{128} << 10)) {
        alignas(64) double acc[256];  // cn <= 256 (pool.cpp's block)
        for (int64_t c = 0; c < cn; c += 8) _mm512_store_pd(acc + c, _mm512_setzero_pd());
        for (int64_t i = 0; i < S; i++) {
            const float* xr = xb + i * C;
            for (int64_t c = 0; c < cn; c += 16) {
                const __m512 v = load(xr + c, tail_mask(c, cn));
                _mm512_store_pd(acc + c, _mm512_add_pd(_mm512_load_pd(acc + c),
                                                       _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
                _mm512_store_pd(acc + c + 8,
                                _mm512_add_pd(_mm512_load_pd(acc + c + 8),
                                              _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1))));
            }
        }
        for (int64_t c = 0; c < cn; c += 8) {
            const __mmask8 m = cn - c >= 8 ? 0xFF : static_cast<__mmask8>((1u << (cn - c)) - 1u);
            const __m512d mean = _mm512_div_pd(_mm512_load_pd(acc + c), sv);
            _mm256_mask_storeu_ps(yb + c, m, _mm512_cvtpd_ps(mean));
        }
        return;
    }
    for (int64_t c = 0; c < cn; c += 32) {  // 32 channels: four independent double chains
        const __mmask16 m0 = tail_mask(c, cn), m1 = c + 16 < cn ? tail_mask(c + 16, cn) : 0;
        __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < S; i++) {
            const float* xr = xb + i * C + c;
            const __m512 v0 = load(xr, m0), v1 = load(xr + 16, m1);
            a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(v0)));
            a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v0, 1)));
            a2 = _mm512_add_pd(a2, _mm512_cvtps_pd(_mm512_castps512_ps256(v1)));
            a3 = _mm512_add_pd(a3, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v1, 1)));
        }
        const __m512 y0 = _mm512_insertf32x8(
            _mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_div_pd(a0, sv))),
            _mm512_cvtpd_ps(_mm512_div_pd(a1, sv)), 1);
        const __m512 y1 = _mm512_insertf32x8(
            _mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_div_pd(a2, sv))),
            _mm512_cvtpd_ps(_mm512_div_pd(a3, sv)), 1);
        _mm512_mask_storeu_ps(yb + c, m0, y0);
        if (m1) _mm512_mask_storeu_ps(yb + c + 16, m1, y1);
    }
}

// dxr (C) = dyn (C) * inv.
void global_avg_pool_backward_row_avx512(float* dxr, const float* dyn, int64_t C, float inv) {
    const __m512 iv = _mm512_set1_ps(inv);
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = tail_mask(c, C);
        _mm512_mask_storeu_ps(dxr + c, m, _mm512_mul_ps(load(dyn + c, m), iv));
    }
}

// One image: yn (C) = max over s < S of xn[s*C + c], an (C) = that s (a NaN wins, of several
// the last; ties keep the first), the portable rule in the same s order, rows streamed in order
// with yn / an as the running state (masked stores where a row takes over).
void global_max_pool_image_avx512(float* yn, int32_t* an, const float* xn, int64_t S,
                                  int64_t C) {
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = tail_mask(c, C);
        _mm512_mask_storeu_ps(yn + c, m, load(xn + c, m));
        _mm512_mask_storeu_epi32(an + c, m, _mm512_setzero_si512());
    }
    for (int64_t i = 1; i < S; i++) {
        const float* xr = xn + i * C;
        const __m512i iv = _mm512_set1_epi32(static_cast<int32_t>(i));
        for (int64_t c = 0; c < C; c += 16) {
            const __mmask16 m = tail_mask(c, C);
            const __m512 v = load(xr + c, m);
            const __mmask16 t = takes(v, load(yn + c, m)) & m;
            _mm512_mask_storeu_ps(yn + c, t, v);
            _mm512_mask_storeu_epi32(an + c, t, iv);
        }
    }
}

}  // namespace grebe
