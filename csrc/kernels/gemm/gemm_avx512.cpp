// gemm_avx512.cpp — SGEMM for AVX-512F: a 6 x 32 micro-kernel (12 zmm accumulators, two
// vectors of B and six broadcasts of A per k) under the blocked driver of gemm_driver.h. Edges
// use mask registers, so unpacked operands and partial tiles never read past their ends.
// Built with -mavx512f... (file suffix); everything but sgemm_avx512 has internal linkage.
#include <immintrin.h>

#include "kernels/gemm/gemm_driver.h"

namespace grebe {
namespace gemm {
namespace {

template <int R>
void ukr_6x32(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
              int n, float* c, int64_t ldc, float alpha, float beta, const float* bias,
              bool relu) {
    __m512 acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        acc0[i] = _mm512_setzero_ps();
        acc1[i] = _mm512_setzero_ps();
    }
    // Lanes of the two vectors that hold columns < n (all of them on a full tile).
    const __mmask16 m0 = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
    const __mmask16 m1 = n >= 32 ? __mmask16(0xFFFF)
                                 : n > 16 ? __mmask16((1u << (n - 16)) - 1u) : __mmask16(0);
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; p++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
        const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * rsa]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
        a += csa;
        b += rsb;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : zero;
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : zero;
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        float* ci = c + i * ldc;
        __m512 r0 = acc0[i], r1 = acc1[i];
        if (alpha != 1.0f) {
            r0 = _mm512_mul_ps(va, r0);
            r1 = _mm512_mul_ps(va, r1);
        }
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
        }
        if (bias) {
            r0 = _mm512_add_ps(r0, bias0);
            r1 = _mm512_add_ps(r1, bias1);
        }
        if (relu) {  // max(0, x) with x second: a NaN in x propagates. (The maskz form with a
                     // full mask is _mm512_max_ps without gcc 12's false uninitialized warning.)
            r0 = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r0);
            r1 = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r1);
        }
        _mm512_mask_storeu_ps(ci, m0, r0);
        _mm512_mask_storeu_ps(ci + 16, m1, r1);
    }
}

struct Avx512Kernel {
    static constexpr BlockSizes kBlocks = kBlocksAvx512;
    static constexpr bool kDirect = true;

    static void tile(int m, int n, int64_t k, const float* a, int64_t rsa, int64_t csa,
                     const float* b, int64_t rsb, float* c, int64_t ldc, float alpha,
                     float beta, const float* bias, bool relu) {
        switch (m) {
            case 6: ukr_6x32<6>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu); break;
            case 5: ukr_6x32<5>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu); break;
            case 4: ukr_6x32<4>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu); break;
            case 3: ukr_6x32<3>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu); break;
            case 2: ukr_6x32<2>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu); break;
            default: ukr_6x32<1>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu); break;
        }
    }
};

}  // namespace

void sgemm_avx512(const Args& g) { run<Avx512Kernel>(g); }

}  // namespace gemm
}  // namespace grebe
