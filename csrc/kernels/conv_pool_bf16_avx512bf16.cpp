// conv_pool_bf16_avx512bf16.cpp — the pooling steps of the bf16 fused conv + ReLU + max pool
// (conv_bf16.cpp): the forward's relu + max pooling of the conv output, and the backward's
// routing of the pooled gradient to each window's winner. AVX-512, 16 channels at a time,
// branch-free (random winners would mispredict every branch). Built with the AVX512-BF16 file
// flags (suffix) and called only when has_bf16(); internal linkage but for the entry points.
#include <immintrin.h>
#include <omp.h>

#include "kernels/conv_bf16_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace bf16 {
namespace {

inline __mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

}  // namespace

void expand_pooled_dy_avx512bf16(float* dy, const float* dyp, const uint8_t* am,
                                 const float* yp, const Conv2dShape& t, int64_t PH,
                                 int64_t PW) {
    // dyp, am, yp (N, P2, Q2, K) -> dy (N, t.P, t.Q, K): each pooled gradient goes to its
    // window's winner where yp > 0, zero elsewhere (conv::expand_dy's rule, branch-free).
    const int64_t P2 = t.P / PH, Q2 = t.Q / PW, K = t.K, rows = t.N * P2;
    const int nt = threads_for(rows * Q2 * K * PH * PW);
    const __m512 zero = _mm512_setzero_ps();
    // Pooled row (n, i) writes only conv rows i*PH .. i*PH+PH-1 of image n: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ni = 0; ni < rows; ni++) {
        const int64_t n = ni / P2, i = ni % P2;
        for (int64_t j = 0; j < Q2; j++) {
            const int64_t o = (ni * Q2 + j) * K;
            for (int64_t k = 0; k < K; k += 16) {
                const __mmask16 mk = lanes(K - k);
                const __m512 g = _mm512_maskz_loadu_ps(mk, dyp + o + k);
                const __mmask16 pos = _mm512_mask_cmp_ps_mask(
                    mk, _mm512_maskz_loadu_ps(mk, yp + o + k), zero, _CMP_GT_OQ);
                const __m128i am8 = _mm_maskz_loadu_epi8(mk, am + o + k);
                const __m512i idx = _mm512_maskz_cvtepu8_epi32(__mmask16(0xFFFF), am8);
                for (int64_t a = 0; a < PH; a++)
                    for (int64_t b = 0; b < PW; b++) {
                        const __mmask16 hit = _mm512_mask_cmpeq_epi32_mask(
                            pos, idx, _mm512_set1_epi32(int(a * PW + b)));
                        float* d = dy + ((n * t.P + i * PH + a) * t.Q + j * PW + b) * K + k;
                        _mm512_mask_storeu_ps(d, mk, _mm512_maskz_mov_ps(hit, g));
                    }
            }
        }
    }
}

void relu_maxpool_avx512bf16(float* yp, uint8_t* am, const float* y, const Conv2dShape& t,
                             int64_t PH, int64_t PW) {
    // y (N, t.P, t.Q, K) -> yp, am (N, P2, Q2, K): max over each PH x PW window (first of ties,
    // a NaN wins, the last one), then max(0, .) with NaN kept; 16 channels at a time.
    const int64_t P2 = t.P / PH, Q2 = t.Q / PW, K = t.K, rows = t.N * P2;
    const int nt = threads_for(rows * Q2 * K * PH * PW);
    const __m512 zero = _mm512_setzero_ps();
    // Each (n, i) pooled row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ni = 0; ni < rows; ni++) {
        const int64_t n = ni / P2, i = ni % P2;
        for (int64_t j = 0; j < Q2; j++) {
            const float* y0 = y + ((n * t.P + i * PH) * t.Q + j * PW) * K;
            for (int64_t k = 0; k < K; k += 16) {
                const __mmask16 mk = lanes(K - k);
                __m512 best = _mm512_maskz_loadu_ps(mk, y0 + k);
                __m512i idx = _mm512_setzero_si512();
                for (int64_t a = 0; a < PH; a++)
                    for (int64_t b = 0; b < PW; b++) {
                        if (a == 0 && b == 0) continue;
                        const __m512 v = _mm512_maskz_loadu_ps(mk, y0 + (a * t.Q + b) * K + k);
                        const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                                               _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                        best = _mm512_mask_mov_ps(best, take, v);
                        idx = _mm512_mask_mov_epi32(idx, take,
                                                    _mm512_set1_epi32(int(a * PW + b)));
                    }
                best = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, best);  // NaN stays
                _mm512_mask_storeu_ps(yp + (ni * Q2 + j) * K + k, mk, best);
                _mm512_mask_cvtepi32_storeu_epi8(am + (ni * Q2 + j) * K + k, mk, idx);
            }
        }
    }
}

}  // namespace bf16
}  // namespace grebe
