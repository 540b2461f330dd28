// gemm_reference.cpp — the plain triple loop, accumulating in double so it is a sharp oracle.
#include "kernels/gemm/gemm.h"

namespace grebe {

void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc) {
    // C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc += static_cast<double>(a) * static_cast<double>(b);
            }
            float prev = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
            C[i * ldc + j] = static_cast<float>(alpha * acc) + prev;
        }
    }
}

}  // namespace grebe
