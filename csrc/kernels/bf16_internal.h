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
    kConvWork = 5, kConvDy = 6,                   // conv: bf16 operands, masked/routed dy
    kNumSlots = 7
};
float* scratch(int slot, size_t floats);

// round_bf16 of x (n) into scratch slot `slot`; returns it (nullptr when x is nullptr).
const float* rounded(int slot, const float* x, int64_t n);

// The AVX512-BF16 GEMM (gemm/gemm_bf16_avx512bf16.cpp): the sgemm_bias_act_bf16 contract for
// M, N, K > 0 and alpha != 0, on `threads` threads.
void sbgemm_avx512bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                       const float* bias, bool relu, float* C, int64_t ldc, int threads);
// vdpbf16ps peak loop: iters iterations on each of `threads` threads; the sum over threads of
// flops per CPU second. sink (threads floats) keeps the loops alive.
double peak_dpbf16_avx512bf16(int threads, int64_t iters, float* sink);

}  // namespace bf16
}  // namespace grebe
