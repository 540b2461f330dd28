// gemm.h — single-precision matrix multiply, row-major, BLAS semantics.
//   C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
// op(A) = A (M,K) with row stride lda, or A^T where A is stored (K,M) with row stride lda.
// op(B) likewise. beta == 0 means C is written without being read (NaNs in C are ignored).
// Results are bit-identical for any thread count: threads split M or N, never K, and the block
// sizes depend only on the shape and the ISA (grebe::active_isa()), never on the thread count.
#pragma once
#include <cstdint>

namespace grebe {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// sgemm with a fused epilogue for Dense/Linear layers, applied once to each element of C as
// it is stored for the last time:
//   C (M,N) = act(alpha * op(A) (M,K) * op(B) (K,N) + beta * C + bias (N))
// bias may be nullptr (no bias); relu selects act = max(0, x) (NaN propagates), else identity.
// Same determinism as sgemm; with bias == nullptr and relu == false it equals sgemm bitwise.
void sgemm_bias_act(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                    const float* bias, bool relu, float* C, int64_t ldc);

// A batch of independent products with constant strides between the operands of consecutive
// items (a stride of 0 broadcasts one operand to every item):
//   C[b] (M,N) = alpha * op(A[b]) * op(B[b]) + beta * C[b],  X[b] = X + b * stride_x.
// Small items run one per thread; large ones run one after the other, each on every thread.
// Either way every C element is computed the same way, so results do not depend on threads.
void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                           int64_t K, float alpha, const float* A, int64_t lda, int64_t stride_a,
                           const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                           int64_t ldc, int64_t stride_c);

// The measured FP32 multiply-add peak (GFLOP/s) of the active ISA on `threads` threads: a
// register-only FMA loop (16-lane zmm with AVX-512, 8-lane ymm with AVX2) run for about
// `seconds` after a warm-up. What the benchmarks report their fractions of peak against.
double fma_peak_gflops(int threads, double seconds);

// The plain triple loop: the test oracle and the last-resort fallback. Serial.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc);

}  // namespace grebe
