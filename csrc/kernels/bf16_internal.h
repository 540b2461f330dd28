// bf16_internal.h — what the portable bf16 files (bf16.cpp, conv_bf16.cpp, rnn_bf16.cpp,
// gemm/sbgemm.cpp) and the AVX512-BF16 file share: declarations only (nothing inline or
// templated crosses files built with different ISA flags).
#pragma once
#include <cstddef>
#include <cstdint>

namespace grebe {
namespace bf16 {

// Grow-only, 64-byte aligned float scratch owned by the calling thread, one buffer per slot
// (reused between calls: a fresh page costs 2.8 us per 4 KiB here). Allocated by the calling
// thread before any parallel region.
enum Slot {
    kOperandA = 0, kOperandB = 1, kOperandC = 2,  // rounded operands (portable paths)
    kPackA = 3, kPackB = 4,                       // sbgemm packing
    kConvW = 5, kConvWork = 6, kConvDy = 7,       // conv: packed weights, per-thread work, dy
    kNumSlots = 8
};
float* scratch(int slot, size_t floats);

// round_bf16 of x (n) into scratch slot `slot`; returns it (nullptr when x is nullptr).
const float* rounded(int slot, const float* x, int64_t n);

// The AVX512-BF16 GEMM (gemm/gemm_bf16_avx512bf16.cpp): the sgemm_bias_act_bf16 contract for
// M, N, K > 0 and alpha != 0, on `threads` threads.
void sbgemm_avx512bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                       const float* bias, bool relu, float* C, int64_t ldc, int threads);
// A GEMM whose B is packed once and reused (convolution weights): pack_b_avx512bf16 fills
// packed_b_words(K, N) words with bf16(op(B)) (K,N); sbgemm_packed_avx512bf16 then computes
// C (M,N) = act(alpha * bf16(op(A)) (M,K) * B + beta * C + bias (N)) on the calling thread
// only, packing A into abuf (packed_a_words(K) words). Same bits as sbgemm_avx512bf16.
int64_t packed_b_words(int64_t K, int64_t N);
int64_t packed_a_words(int64_t K);
void pack_b_avx512bf16(uint32_t* dst, bool trans_b, int64_t K, int64_t N, const float* B,
                       int64_t ldb);
void sbgemm_packed_avx512bf16(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha,
                              const float* A, int64_t lda, const uint32_t* Bp, float beta,
                              const float* bias, bool relu, float* C, int64_t ldc,
                              uint32_t* abuf);
// vdpbf16ps peak loop: iters iterations on each of `threads` threads; the sum over threads of
// flops per CPU second. sink (threads floats) keeps the loops alive.
double peak_dpbf16_avx512bf16(int threads, int64_t iters, float* sink);

}  // namespace bf16
}  // namespace grebe
