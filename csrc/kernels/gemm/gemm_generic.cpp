// gemm_generic.cpp — portable SGEMM: a 6 x 8 micro-kernel in plain C++ whose inner loops the
// compiler vectorizes for the baseline ISA (SSE2 on x86-64), on packed and zero-padded panels.
// Multiply and add stay separate (-ffp-contract=off), so its bits differ from the FMA kernels'.
#include <omp.h>

#include "kernels/gemm/gemm_driver.h"

namespace grebe {
namespace gemm {
namespace {

struct GenericKernel {
    static constexpr BlockSizes kBlocks = kBlocksGeneric;
    static constexpr bool kDirect = false;  // needs packed A (rsa=1, csa=MR) and packed B
    static constexpr int MR = kBlocks.MR, NR = kBlocks.NR;

    static void tile(int m, int n, int64_t k, const float* a, int64_t /*rsa*/,
                     int64_t /*csa*/, const float* b, int64_t /*rsb*/, float* c, int64_t ldc,
                     float alpha, float beta, const float* bias, bool relu) {
        float acc[MR][NR] = {};
        for (int64_t p = 0; p < k; p++) {
            for (int i = 0; i < MR; i++) {
                const float ai = a[p * MR + i];
                for (int j = 0; j < NR; j++) acc[i][j] += ai * b[p * NR + j];
            }
        }
        for (int i = 0; i < m; i++) {
            float* ci = c + i * ldc;
            for (int j = 0; j < n; j++) {
                float v = alpha == 1.0f ? acc[i][j] : alpha * acc[i][j];
                if (beta != 0.0f) v = v + beta * ci[j];
                if (bias) v = v + bias[j];
                if (relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN
                ci[j] = v;
            }
        }
    }
};

// The multiply-add peak of one thread in portable code: 8 independent chains of 4 lanes
// (separate multiply and add, as the portable kernels compute).
float peak_loop(int64_t iters) {
    float acc[8][4];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = float(i + j);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = acc[i][j] * 1.0000001f + 0.9999999f;
    float s = 0.0f;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) s += acc[i][j];
    return s;
}

}  // namespace

void sgemm_generic(const Args& g) { run<GenericKernel>(g); }

double peak_fma_generic(int threads, int64_t iters, float* sink) {
    double rate = 0.0;
    // Each thread writes only its own slot of sink; the rates are summed by the reduction.
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
        const double t0 = thread_cpu_seconds();
        sink[omp_get_thread_num()] = peak_loop(iters);
        const double dt = thread_cpu_seconds() - t0;
        rate += dt > 0 ? double(iters) * 8 * 4 * 2 / dt : 0.0;
    }
    return rate;
}

}  // namespace gemm
}  // namespace grebe
