// pool_avx2.cpp — AVX2 row kernels of max pooling (u8 argmax) and average pooling (pool.h has the
// legend and the contracts; pool.cpp the threading). Built with -mavx2 -mfma (file suffix).
// Eight channels per ymm register; the channel tail (C % 8) runs the same logic one lane at a
// time. Non-overlapping backward rows are stored directly (no zeroing pass, no re-reads).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/pool.h"

namespace grebe {

namespace {

// The window positions [lo, hi) of output index `o` that fall inside an axis of length `in`.
inline void window_range(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in,
                         int64_t* lo, int64_t* hi) {
    const int64_t start = o * stride - pad;
    *lo = start < 0 ? -start : 0;
    *hi = start + k > in ? in - start : k;
}

// 8 window indices held as exact small floats (< 256) -> 8 bytes at `dst`.
inline void store_u8x8(uint8_t* dst, __m256 kf) {
    const __m256i k32 = _mm256_cvttps_epi32(kf);
    const __m128i k16 = _mm_packus_epi32(_mm256_castsi256_si128(k32),
                                         _mm256_extracti128_si256(k32, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm_packus_epi16(k16, k16));
}

// Where the max takes v over m: v > m, or v is NaN (PyTorch's rule: a NaN wins, and of several
// NaNs the last); ties keep the earlier position.
inline __m256 takes(__m256 v, __m256 m) {
    return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

inline bool takes(float v, float m) { return v > m || v != v; }

// One output pixel: yq (C), aq (C) from the window rows x(h0+kh, w0+kw) with kh in [kh_lo,
// kh_hi), kw in [kw_lo, kw_hi), in row-major window order.
inline void max_pixel(float* yq, uint8_t* aq, const float* xn, int64_t W, int64_t C, int64_t KW,
                      int64_t h0, int64_t w0, int64_t kh_lo, int64_t kh_hi, int64_t kw_lo,
                      int64_t kw_hi) {
    const float* first = xn + ((h0 + kh_lo) * W + w0 + kw_lo) * C;
    const float k_first = static_cast<float>(kh_lo * KW + kw_lo);
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 m = _mm256_loadu_ps(first + c);
        __m256 a = _mm256_set1_ps(k_first);
        for (int64_t kh = kh_lo; kh < kh_hi; kh++)
            for (int64_t kw = (kh == kh_lo ? kw_lo + 1 : kw_lo); kw < kw_hi; kw++) {
                const __m256 v = _mm256_loadu_ps(xn + ((h0 + kh) * W + w0 + kw) * C + c);
                const __m256 t = takes(v, m);
                m = _mm256_blendv_ps(m, v, t);
                a = _mm256_blendv_ps(a, _mm256_set1_ps(static_cast<float>(kh * KW + kw)), t);
            }
        _mm256_storeu_ps(yq + c, m);
        store_u8x8(aq + c, a);
    }
    for (; c < C; c++) {
        float m = first[c];
        uint8_t a = static_cast<uint8_t>(k_first);
        for (int64_t kh = kh_lo; kh < kh_hi; kh++)
            for (int64_t kw = (kh == kh_lo ? kw_lo + 1 : kw_lo); kw < kw_hi; kw++) {
                const float v = xn[((h0 + kh) * W + w0 + kw) * C + c];
                if (takes(v, m)) {
                    m = v;
                    a = static_cast<uint8_t>(kh * KW + kw);
                }
            }
        yq[c] = m;
        aq[c] = a;
    }
}

// The common case, a whole 2x2 window (KW = 2: indices 0, 1, 2, 3), fully unrolled:
// x0 points at the window's top-left pixel (C floats), WC = W * C.
inline void max_pixel_2x2(float* yq, uint8_t* aq, const float* x0, int64_t WC, int64_t C) {
    const float* x1 = x0 + C;
    const float* x2 = x0 + WC;
    const float* x3 = x2 + C;
    const __m256 k1 = _mm256_set1_ps(1.0f), k2 = _mm256_set1_ps(2.0f), k3 = _mm256_set1_ps(3.0f);
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 m = _mm256_loadu_ps(x0 + c);
        const __m256 v1 = _mm256_loadu_ps(x1 + c);
        const __m256 v2 = _mm256_loadu_ps(x2 + c);
        const __m256 v3 = _mm256_loadu_ps(x3 + c);
        __m256 t = takes(v1, m);
        m = _mm256_blendv_ps(m, v1, t);
        __m256 a = _mm256_and_ps(t, k1);
        t = takes(v2, m);
        m = _mm256_blendv_ps(m, v2, t);
        a = _mm256_blendv_ps(a, k2, t);
        t = takes(v3, m);
        m = _mm256_blendv_ps(m, v3, t);
        a = _mm256_blendv_ps(a, k3, t);
        _mm256_storeu_ps(yq + c, m);
        store_u8x8(aq + c, a);
    }
    for (; c < C; c++) {
        const float v[4] = {x0[c], x1[c], x2[c], x3[c]};
        float m = v[0];
        uint8_t a = 0;
        for (uint8_t k = 1; k < 4; k++)
            if (takes(v[k], m)) {
                m = v[k];
                a = k;
            }
        yq[c] = m;
        aq[c] = a;
    }
}

// Non-overlapping windows (SH >= KH, SW >= KW): the one output row p whose window holds input
// row h, and h's row inside it; false when no window holds h (rows left over by 'valid', or
// the gaps of stride > pool).
inline bool only_window(int64_t h, const Pool2dShape& s, int64_t* p, int64_t* kh) {
    *p = (h + s.PT) / s.SH;
    *kh = h + s.PT - *p * s.SH;
    return *p < s.P && *kh < s.KH;
}

// Writes one input row dxr (W,C) of a non-overlapping backward: write(q, kw_lo, kw_hi) stores
// the columns of window q; the columns no window covers get zeros. Every element is stored
// once, so the row needs no zeroing pass and no read-modify-write.
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

}  // namespace

// Output row (n, p): xn (H,W,C) of image n -> yr (Q,C), ar (Q,C).
void max_pool2d_row_u8_avx2(float* yr, uint8_t* ar, const float* xn, const Pool2dShape& s,
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
void max_pool2d_backward_row_u8_avx2(float* dxr, const float* dyn, const uint8_t* an,
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
            int64_t c = 0;
            for (; c + 8 <= C; c += 8) {
                const __m256i a8 = _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(aq + c)));
                const __m256 g = _mm256_loadu_ps(dyq + c);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                    const __m256i hit = _mm256_cmpeq_epi32(
                        a8, _mm256_set1_epi32(static_cast<int>(kh * s.KW + kw)));
                    _mm256_storeu_ps(dxq + kw * C + c,
                                     _mm256_and_ps(_mm256_castsi256_ps(hit), g));
                }
            }
            for (; c < C; c++)
                for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                    dxq[kw * C + c] = aq[c] == kh * s.KW + kw ? dyq[c] : 0.0f;
        });
        return;
    }
    // Overlapping windows: zero the row (it stays in L1), then add each dy whose window's
    // winner lies in this row, in (p, q) order.
    std::memset(dxr, 0, sizeof(float) * s.W * C);
    const int64_t a = h + s.PT - s.KH + 1;
    const int64_t p_lo = a <= 0 ? 0 : (a + s.SH - 1) / s.SH;
    const int64_t b = (h + s.PT) / s.SH;
    const int64_t p_hi = b < s.P - 1 ? b : s.P - 1;
    for (int64_t p = p_lo; p <= p_hi; p++) {
        const int64_t kh = h - (p * s.SH - s.PT);
        for (int64_t q = 0; q < s.Q; q++) {
            int64_t kw_lo, kw_hi;
            window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
            const float* dyq = dyn + (p * s.Q + q) * C;
            const uint8_t* aq = an + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            int64_t c = 0;
            for (; c + 8 <= C; c += 8) {
                const __m256i a8 = _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(aq + c)));
                const __m256 g = _mm256_loadu_ps(dyq + c);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                    const __m256i hit = _mm256_cmpeq_epi32(
                        a8, _mm256_set1_epi32(static_cast<int>(kh * s.KW + kw)));
                    float* d = dxq + kw * C + c;
                    _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d),
                                                      _mm256_and_ps(_mm256_castsi256_ps(hit),
                                                                    g)));
                }
            }
            for (; c < C; c++)
                for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                    if (aq[c] == kh * s.KW + kw) dxq[kw * C + c] += dyq[c];
        }
    }
}

// Output row (n, p): xn (H,W,C) of image n -> yr (Q,C), the mean of each window's input
// positions, summed in row-major window order (as the portable kernel).
void avg_pool2d_row_avx2(float* yr, const float* xn, const Pool2dShape& s, int64_t p) {
    const int64_t C = s.C;
    int64_t kh_lo, kh_hi;
    window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
    const int64_t h0 = p * s.SH - s.PT;
    for (int64_t q = 0; q < s.Q; q++) {
        int64_t kw_lo, kw_hi;
        window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
        const int64_t w0 = q * s.SW - s.PL;
        const float count = static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo));
        const __m256 cv = _mm256_set1_ps(count);
        float* yq = yr + q * C;
        int64_t c = 0;
        for (; c + 8 <= C; c += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int64_t kh = kh_lo; kh < kh_hi; kh++)
                for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                    acc = _mm256_add_ps(acc, _mm256_loadu_ps(
                                                 xn + ((h0 + kh) * s.W + w0 + kw) * C + c));
            _mm256_storeu_ps(yq + c, _mm256_div_ps(acc, cv));
        }
        for (; c < C; c++) {
            float acc = 0.0f;
            for (int64_t kh = kh_lo; kh < kh_hi; kh++)
                for (int64_t kw = kw_lo; kw < kw_hi; kw++)
                    acc += xn[((h0 + kh) * s.W + w0 + kw) * C + c];
            yq[c] = acc / count;
        }
    }
}

// Input row (n, h): dyn (P,Q,C) -> dxr (W,C), dx = the sum over the windows holding (h, w) of
// dy / count.
void avg_pool2d_backward_row_avx2(float* dxr, const float* dyn, const Pool2dShape& s,
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
            const float count = static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo));
            const __m256 cv = _mm256_set1_ps(count);
            const float* dyq = dyn + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            int64_t c = 0;
            for (; c + 8 <= C; c += 8) {
                const __m256 g = _mm256_div_ps(_mm256_loadu_ps(dyq + c), cv);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) _mm256_storeu_ps(dxq + kw * C + c, g);
            }
            for (; c < C; c++) {
                const float g = dyq[c] / count;
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) dxq[kw * C + c] = g;
            }
        });
        return;
    }
    std::memset(dxr, 0, sizeof(float) * s.W * C);
    const int64_t a = h + s.PT - s.KH + 1;
    const int64_t p_lo = a <= 0 ? 0 : (a + s.SH - 1) / s.SH;
    const int64_t b = (h + s.PT) / s.SH;
    const int64_t p_hi = b < s.P - 1 ? b : s.P - 1;
    for (int64_t p = p_lo; p <= p_hi; p++) {
        int64_t kh_lo, kh_hi;
        window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
        for (int64_t q = 0; q < s.Q; q++) {
            int64_t kw_lo, kw_hi;
            window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
            const float count = static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo));
            const __m256 cv = _mm256_set1_ps(count);
            const float* dyq = dyn + (p * s.Q + q) * C;
            float* dxq = dxr + (q * s.SW - s.PL) * C;
            int64_t c = 0;
            for (; c + 8 <= C; c += 8) {
                const __m256 g = _mm256_div_ps(_mm256_loadu_ps(dyq + c), cv);
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                    float* d = dxq + kw * C + c;
                    _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), g));
                }
            }
            for (; c < C; c++) {
                const float g = dyq[c] / count;
                for (int64_t kw = kw_lo; kw < kw_hi; kw++) dxq[kw * C + c] += g;
            }
        }
    }
}

}  // namespace grebe
