// gemm_generic.cpp — portable SGEMM: a 6 x 8 micro-kernel in plain C++ whose inner loops the
// compiler vectorizes for the baseline ISA (SSE2 on x86-64), on packed and zero-padded panels.
// Multiply and add stay separate (-ffp-contract=off), so its bits differ from the FMA kernels'.
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

}  // namespace

void sgemm_generic(const Args& g) { run<GenericKernel>(g); }

}  // namespace gemm
}  // namespace grebe
