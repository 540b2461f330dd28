// gemm_avx2.cpp — SGEMM for AVX2+FMA: a 6 x 16 micro-kernel (12 ymm accumulators, two
// vectors of B and six broadcasts of A per k) under the blocked driver of gemm_driver.h.
// Built with -mavx2 -mfma (file suffix); everything but sgemm_avx2 has internal linkage.
#include <immintrin.h>
#include <omp.h>

#include "kernels/gemm/gemm_driver.h"

namespace grebe {
namespace gemm {
namespace {

// C tile (R rows, 16 columns, or n < 16 columns when MASKED) from A at rows a + i*rsa, depth
// stride csa, and B rows b + p*rsb. Unpacked operands are fine: an R < 6 tile reads R rows of
// A and a masked tile reads only n columns of B and C. beta == 0 never reads C.
template <int R, bool MASKED>
void ukr_6x16(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
              int n, float* c, int64_t ldc, float alpha, float beta, const float* bias,
              bool relu) {
    __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        acc0[i] = _mm256_setzero_ps();
        acc1[i] = _mm256_setzero_ps();
    }
    __m256i mask0 = _mm256_set1_epi32(-1), mask1 = mask0;
    if (MASKED) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
        mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane);
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    // 12 independent FMA chains per k: enough to cover 4-cycle latency on 2 FMA pipes.
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; p++) {
        __m256 b0, b1;
        if (MASKED) {
            b0 = _mm256_maskload_ps(b, mask0);
            b1 = _mm256_maskload_ps(b + 8, mask1);
        } else {
            b0 = _mm256_loadu_ps(b);
            b1 = _mm256_loadu_ps(b + 8);
        }
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * rsa);
            acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
        }
        a += csa;
        b += rsb;
    }
    // Epilogue, the same operations for every element: alpha*acc (+ beta*C) (+ bias) (relu).
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256 zero = _mm256_setzero_ps();
    __m256 bias0 = zero, bias1 = zero;
    if (bias) {
        bias0 = MASKED ? _mm256_maskload_ps(bias, mask0) : _mm256_loadu_ps(bias);
        bias1 = MASKED ? _mm256_maskload_ps(bias + 8, mask1) : _mm256_loadu_ps(bias + 8);
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        float* ci = c + i * ldc;
        __m256 r0 = acc0[i], r1 = acc1[i];
        if (alpha != 1.0f) {
            r0 = _mm256_mul_ps(va, r0);
            r1 = _mm256_mul_ps(va, r1);
        }
        if (beta != 0.0f) {
            const __m256 c0 = MASKED ? _mm256_maskload_ps(ci, mask0) : _mm256_loadu_ps(ci);
            const __m256 c1 = MASKED ? _mm256_maskload_ps(ci + 8, mask1) : _mm256_loadu_ps(ci + 8);
            r0 = _mm256_fmadd_ps(vb, c0, r0);
            r1 = _mm256_fmadd_ps(vb, c1, r1);
        }
        if (bias) {
            r0 = _mm256_add_ps(r0, bias0);
            r1 = _mm256_add_ps(r1, bias1);
        }
        if (relu) {  // max(0, x) with x second: a NaN in x propagates.
            r0 = _mm256_max_ps(zero, r0);
            r1 = _mm256_max_ps(zero, r1);
        }
        if (MASKED) {
            _mm256_maskstore_ps(ci, mask0, r0);
            _mm256_maskstore_ps(ci + 8, mask1, r1);
        } else {
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
    }
}

struct Avx2Kernel {
    static constexpr BlockSizes kBlocks = kBlocksAvx2;
    static constexpr bool kDirect = true;

    static void tile(int m, int n, int64_t k, const float* a, int64_t rsa, int64_t csa,
                     const float* b, int64_t rsb, float* c, int64_t ldc, float alpha,
                     float beta, const float* bias, bool relu) {
#define GREBE_UKR(R)                                                                     \
    (n == 16 ? ukr_6x16<R, false>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu) \
             : ukr_6x16<R, true>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu))
        switch (m) {
            case 6: GREBE_UKR(6); break;
            case 5: GREBE_UKR(5); break;
            case 4: GREBE_UKR(4); break;
            case 3: GREBE_UKR(3); break;
            case 2: GREBE_UKR(2); break;
            default: GREBE_UKR(1); break;
        }
#undef GREBE_UKR
    }
};

// The FMA peak of one thread: 12 independent ymm register accumulators, no loads (AVX2 has
// 16 registers). Returns a value that depends on every accumulator.
float peak_loop(int64_t iters) {
    __m256 acc[12];
    const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps(float(i));
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    alignas(32) float t[8];
    __m256 s = acc[0];
#pragma GCC unroll 12
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
    _mm256_store_ps(t, s);
    return t[0] + t[7];
}

}  // namespace

void sgemm_avx2(const Args& g) { run<Avx2Kernel>(g); }

double peak_fma_avx2(int threads, int64_t iters, float* sink) {
    double rate = 0.0;
    // Each thread writes only its own slot of sink; the rates are summed by the reduction.
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
        const double t0 = thread_cpu_seconds();
        sink[omp_get_thread_num()] = peak_loop(iters);
        const double dt = thread_cpu_seconds() - t0;
        rate += dt > 0 ? double(iters) * 12 * 8 * 2 / dt : 0.0;
    }
    return rate;
}

}  // namespace gemm
}  // namespace grebe
