// gemm_bf16_avx512bf16.cpp — AVX512-BF16 code (vdpbf16ps): the bf16 peak loop.
// Built with the AVX-512 flags plus -mavx512bf16 (file suffix); everything but the
// *_avx512bf16 entry points has internal linkage. Called only when has_bf16().
#include <immintrin.h>
#include <omp.h>

#include "kernels/bf16_internal.h"
#include "kernels/gemm/gemm_internal.h"

namespace grebe {
namespace bf16 {
namespace {

// The vdpbf16ps peak of one thread for `iters` iterations: 24 independent register
// accumulators, 24 vdpbf16ps per iteration (16 lanes x 2 products = 64 flops each, no loads).
// Returns a value that depends on every accumulator, so the compiler keeps them all.
float peak_loop(int64_t iters) {
    __m512 acc[24];
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80);  // bf16 1.0
    const __m512bh y = (__m512bh)_mm512_set1_epi16(0x3380);  // bf16 ~6e-8
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps(float(i));
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    }
    __m512 s = acc[0];
#pragma GCC unroll 24
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float t[16];
    _mm512_store_ps(t, s);
    return t[0] + t[15];
}

}  // namespace

double peak_dpbf16_avx512bf16(int threads, int64_t iters, float* sink) {
    double rate = 0.0;
    // Each thread writes only its own slot of sink; the rates are summed by the reduction.
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
        const double t0 = gemm::thread_cpu_seconds();
        sink[omp_get_thread_num()] = peak_loop(iters);
        const double dt = gemm::thread_cpu_seconds() - t0;
        rate += dt > 0 ? double(iters) * 24 * 16 * 2 * 2 / dt : 0.0;
    }
    return rate;
}

}  // namespace bf16
}  // namespace grebe
