// gemm.h — single-precision matrix multiply, row-major, BLAS semantics.
//   C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
// op(A) = A (M,K) with row stride lda, or A^T where A is stored (K,M) with row stride lda.
// op(B) likewise. beta == 0 means C is written without being read (NaNs in C are ignored).
// Results are bit-identical for any thread count: threads split M or N, never K.
#pragma once
#include <cstdint>

namespace grebe {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// The plain triple loop: the test oracle and the last-resort fallback. Serial.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc);

}  // namespace grebe
