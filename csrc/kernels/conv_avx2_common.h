// conv_avx2_common.h — helpers shared by the AVX2 conv files (conv_avx2.cpp,
// conv_weights_avx2.cpp): index helpers, the relu-masked copy, zero-padded image placement, and
// the segment / pixel-offset tables of the implicit GEMM. Include ONLY from *_avx2.cpp and
// *_avx512.cpp files: everything here has internal linkage and is compiled with each includer's
// flags (AVX2 code runs on every AVX-512 CPU).
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels/conv_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace conv {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

alignas(64) const float kZeros16[16] = {};

// Threads for `flops` of work split into `items` pieces: serial when small.
// nt private buffers of `floats` floats each, cut from scratch slot `slot`; thread t uses
// base + t * (*stride). Call before the parallel region.
inline float* thread_slices(int slot, int nt, int64_t floats, int64_t* stride) {
    *stride = (floats + 15) / 16 * 16;  // whole cache lines: no false sharing
    return static_cast<float*>(scratch(slot, static_cast<size_t>(nt * *stride) * 4));
}

inline int team_size(int64_t flops, int64_t items) {
    int64_t nt = flops < (int64_t(1) << 18) ? 1 : threads_for(flops);
    if (nt > items) nt = items;
    return nt < 1 ? 1 : static_cast<int>(nt);
}

// dst (n) = src (n), each value replaced by 0 where mask is not > 0 (mask may be nullptr).
inline void copy_masked(float* dst, const float* src, const float* mask, int64_t n) {
    if (!mask) {
        std::memcpy(dst, src, n * sizeof(float));
        return;
    }
    const __m256 zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(mask + i), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(dst + i, _mm256_and_ps(keep, _mm256_loadu_ps(src + i)));
    }
    for (; i < n; i++) dst[i] = mask[i] > 0.0f ? src[i] : 0.0f;
}

// dst (Hz, Wz, Cs) = zeros, except that src (Hs, Ws, Cs) pixel (i, j) lands at row oh + i*sh,
// column ow + j*sw (pixels landing outside dst are dropped), relu-masked by mask when given.
// Stride 1 zeroes only the border that src does not cover.
inline void place_image(float* dst, int64_t Hz, int64_t Wz, const float* src,
                        const float* mask, int64_t Hs, int64_t Ws, int64_t Cs, int64_t oh,
                        int64_t ow, int64_t sh, int64_t sw) {
    // Source rows i0 <= i < i1 (and columns j0 <= j < j1) land inside dst.
    const int64_t i0 = oh >= 0 ? 0 : cdiv(-oh, sh), j0 = ow >= 0 ? 0 : cdiv(-ow, sw);
    const int64_t i1 = imin(Hs, Hz > oh ? cdiv(Hz - oh, sh) : 0);
    const int64_t j1 = imin(Ws, Wz > ow ? cdiv(Wz - ow, sw) : 0);
    const int64_t row = Wz * Cs;
    if (i0 >= i1 || j0 >= j1) {
        std::memset(dst, 0, Hz * row * sizeof(float));
        return;
    }
    if (sh == 1 && sw == 1) {
        const int64_t r0 = oh + i0, r1 = oh + i1, c0 = ow + j0, c1 = ow + j1;
        std::memset(dst, 0, r0 * row * sizeof(float));
        std::memset(dst + r1 * row, 0, (Hz - r1) * row * sizeof(float));
        for (int64_t r = r0; r < r1; r++) {
            std::memset(dst + r * row, 0, c0 * Cs * sizeof(float));
            std::memset(dst + r * row + c1 * Cs, 0, (Wz - c1) * Cs * sizeof(float));
        }
    } else {
        std::memset(dst, 0, Hz * row * sizeof(float));
    }
    for (int64_t i = i0; i < i1; i++) {
        float* drow = dst + (oh + i * sh) * row;
        const float* srow = src + i * Ws * Cs;
        const float* mrow = mask ? mask + i * Ws * Cs : nullptr;
        if (sw == 1) {
            copy_masked(drow + (ow + j0) * Cs, srow + j0 * Cs, mrow ? mrow + j0 * Cs : nullptr,
                        (j1 - j0) * Cs);
        } else {
            for (int64_t j = j0; j < j1; j++)
                copy_masked(drow + (ow + j * sw) * Cs, srow + j * Cs,
                            mrow ? mrow + j * Cs : nullptr, Cs);
        }
    }
}

// dst[i*ldd + 0..ncols) = dy[n, pixel m0 + i, k0 .. k0 + nr) from src, zero past nr, for
// i < np; pixels are numbered p*Q + q in the (N, P, Q, K) gradient.
inline void fill_dy_rows(float* dst, int64_t ldd, int64_t ncols, const DySource& src, int64_t n,
                         int64_t m0, int64_t np, int64_t k0, int64_t nr, int64_t P, int64_t Q,
                         int64_t K) {
    const int64_t P2 = P / src.PH, Q2 = Q / src.PW;
    for (int64_t i = 0; i < np; i++) {
        float* d = dst + i * ldd;
        const int64_t m = m0 + i, p = m / Q, q = m % Q;
        if (!src.dyp) {
            const int64_t at = ((n * P + p) * Q + q) * K + k0;
            copy_masked(d, src.dy + at, src.relu_y ? src.relu_y + at : nullptr, nr);
        } else {
            const int64_t at = ((n * P2 + p / src.PH) * Q2 + q / src.PW) * K + k0;
            const int code = static_cast<int>((p % src.PH) * src.PW + q % src.PW);
            const float* g = src.dyp + at;
            const float* y = src.yp + at;
            const uint8_t* a = src.am + at;
            const __m256i vcode = _mm256_set1_epi32(code);
            const __m256 zero = _mm256_setzero_ps();
            int64_t k = 0;
            for (; k + 8 <= nr; k += 8) {
                const __m256i ak = _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + k)));
                const __m256 win = _mm256_castsi256_ps(_mm256_cmpeq_epi32(ak, vcode));
                const __m256 pos = _mm256_cmp_ps(_mm256_loadu_ps(y + k), zero, _CMP_GT_OQ);
                _mm256_storeu_ps(d + k, _mm256_and_ps(_mm256_and_ps(win, pos),
                                                      _mm256_loadu_ps(g + k)));
            }
            for (; k < nr; k++) d[k] = a[k] == code && y[k] > 0.0f ? g[k] : 0.0f;
        }
        for (int64_t k = nr; k < ncols; k++) d[k] = 0.0f;
    }
}

// Offsets of the reduction segments inside an image of width Wz and Cs channels: one per
// kernel row of S*Cs contiguous floats when dw == 1, else one per tap of Cs floats.
// Returns the number of segments; *L is the segment length.
inline int64_t segments(int64_t* seg, int64_t* L, int64_t R, int64_t S, int64_t dh,
                        int64_t dw, int64_t Wz, int64_t Cs) {
    if (dw == 1) {
        for (int64_t r = 0; r < R; r++) seg[r] = r * dh * Wz * Cs;
        *L = S * Cs;
        return R;
    }
    for (int64_t r = 0; r < R; r++)
        for (int64_t s = 0; s < S; s++) seg[r * S + s] = (r * dh * Wz + s * dw) * Cs;
    *L = Cs;
    return R * S;
}

// pix[p*Q + q] = offset of output pixel (p, q)'s window origin in an image (Wz, Cs).
inline void pixel_offsets(int64_t* pix, int64_t P, int64_t Q, int64_t sh, int64_t sw,
                          int64_t Wz, int64_t Cs) {
    for (int64_t p = 0; p < P; p++)
        for (int64_t q = 0; q < Q; q++) pix[p * Q + q] = (p * sh * Wz + q * sw) * Cs;
}

}  // namespace
}  // namespace conv
}  // namespace grebe
