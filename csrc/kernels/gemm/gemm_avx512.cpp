// gemm_avx512.cpp — SGEMM for AVX-512F: a 12 x 32 micro-kernel under the blocked driver of
// gemm_driver.h, and the FMA peak loop. Edges use mask registers, so unpacked operands and
// partial tiles never read past their ends.
// Built with -mavx512f... (file suffix); everything but the *_avx512 entry points has internal
// linkage.
//
// Why 12 x 32 on Zen 5 (32 zmm, 2 FMA pipes, FMA latency 4): 8 independent FMA chains keep
// both pipes busy; 24 accumulators (12 rows x 2 vectors) leave 2 registers for B and 1 for the
// broadcast of A, and give 24 FMAs per 14 loads (2 of B, 12 broadcasts), within Zen 5's load
// bandwidth, so the loop is FMA-bound. 14 x 32 (28 accumulators) measured no faster here and
// wastes more on the M edges of the models' shapes (64 = 5 x 12 + 4); 8 x 48 pads every
// 16/32/64-wide N of the models to 48/96.
#include <immintrin.h>
#include <omp.h>

#include "kernels/gemm/gemm_driver.h"

namespace grebe {
namespace gemm {
namespace {

constexpr int MR = kBlocksAvx512.MR;
constexpr int NR = kBlocksAvx512.NR;
static_assert(NR == 32, "the AVX-512 micro-kernel holds two 16-lane vectors per row");

// C tile (R rows, up to 32 columns) = act(alpha * sum_p a(i, p) * b[p*rsb + j] + beta * C +
// bias[j]). PACKED_A: a is a packed micro-panel, a(i, p) = a[p*MR + i] (constant offsets);
// else a(i, p) = a[i*rsa + p*csa]. beta == 0 never reads C.
template <int R, bool PACKED_A>
void ukr(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
         int n, float* c, int64_t ldc, float alpha, float beta, const float* bias, bool relu) {
    __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        acc0[i] = _mm512_setzero_ps();
        acc1[i] = _mm512_setzero_ps();
    }
    // Lanes of the two vectors that hold columns < n (all of them on a full tile).
    const __mmask16 m0 = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
    const __mmask16 m1 = n >= 32 ? __mmask16(0xFFFF)
                                 : n > 16 ? __mmask16((1u << (n - 16)) - 1u) : __mmask16(0);
    // Bring the C tile towards L1 while the k loop runs: it is read (beta != 0) or written next.
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
    }
    if (PACKED_A) {
#pragma GCC unroll 4
        for (int64_t p = 0; p < k; p++) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
            const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 14
            for (int i = 0; i < R; i++) {
                const __m512 ai = _mm512_set1_ps(a[i]);
                acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
            }
            a += MR;
            b += rsb;
        }
    } else {
#pragma GCC unroll 2
        for (int64_t p = 0; p < k; p++) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
            const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 14
            for (int i = 0; i < R; i++) {
                const __m512 ai = _mm512_set1_ps(a[i * rsa]);
                acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
            }
            a += csa;
            b += rsb;
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : zero;
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : zero;
#pragma GCC unroll 14
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

// Every row count 1..MR, with A packed or in place: the same FMA chain per element either way.
template <int R>
void tile_rows(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
               int64_t rsb, int n, float* c, int64_t ldc, float alpha, float beta,
               const float* bias, bool relu) {
    if (rsa == 1 && csa == MR)
        ukr<R, true>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu);
    else
        ukr<R, false>(k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu);
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, int,
                        float*, int64_t, float, float, const float*, bool);

struct Avx512Kernel {
    static constexpr BlockSizes kBlocks = kBlocksAvx512;
    static constexpr bool kDirect = true;

    static void tile(int m, int n, int64_t k, const float* a, int64_t rsa, int64_t csa,
                     const float* b, int64_t rsb, float* c, int64_t ldc, float alpha,
                     float beta, const float* bias, bool relu) {
        static_assert(MR == 12, "the table below lists rows 1..MR");
        static constexpr TileFn fns[MR] = {
            &tile_rows<1>, &tile_rows<2>, &tile_rows<3>, &tile_rows<4>,
            &tile_rows<5>, &tile_rows<6>, &tile_rows<7>, &tile_rows<8>,
            &tile_rows<9>, &tile_rows<10>, &tile_rows<11>, &tile_rows<12>};
        fns[m - 1](k, a, rsa, csa, b, rsb, n, c, ldc, alpha, beta, bias, relu);
    }
};

// The FMA peak of one thread for `iters` iterations: 24 independent register accumulators, 24
// FMAs of 16 lanes per iteration (no loads). Returns a value that depends on every
// accumulator, so the compiler keeps them all.
float peak_loop(int64_t iters) {
    __m512 acc[24];
    const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps(float(i));
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }
    __m512 s = acc[0];
#pragma GCC unroll 24
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float t[16];
    _mm512_store_ps(t, s);
    return t[0] + t[15];
}

}  // namespace

void sgemm_avx512(const Args& g) { run<Avx512Kernel>(g); }

double peak_fma_avx512(int threads, int64_t iters, float* sink) {
    double rate = 0.0;
    // Each thread writes only its own slot of sink; the rates are summed by the reduction.
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
        const double t0 = thread_cpu_seconds();
        sink[omp_get_thread_num()] = peak_loop(iters);
        const double dt = thread_cpu_seconds() - t0;
        rate += dt > 0 ? double(iters) * 24 * 16 * 2 / dt : 0.0;
    }
    return rate;
}

}  // namespace gemm
}  // namespace grebe
