// bf16.h — bfloat16 mixed precision: the same ops as gemm.h, conv.h and rnn.h with their
// operands rounded to bfloat16 (round to nearest even) and fp32 accumulation.
//
// Activations and weights stay float32 in memory; a bf16 kernel rounds op(A)/op(B), x, w, dy
// (conv) or x, kernel, recurrent_kernel (RNN) to bf16 as it reads them. Everything else — bias,
// beta * C, the relu mask, gate math, states, the bias gradient — is fp32. Each *_bf16 function
// has the contract of its fp32 namesake with those operands replaced by round_bf16(operand):
//   sgemm_bias_act_bf16(..A, B..)          == sgemm_bias_act(..round(A), round(B)..)
//   conv2d_forward_bf16(y, x, w, ..)       == conv2d_forward(y, round(x), round(w), ..)
//   conv2d_backward_*_bf16(.., dy, x, w)   == the fp32 pass on round(dy), round(x), round(w),
//                                             except db = the fp32 sum of the UNROUNDED
//                                             (relu-masked / pool-routed) dy: the exact bias
//                                             gradient, which costs nothing extra
//   rnn_forward_bf16 / rnn_backward_bf16   == rnn_forward / rnn_backward on round(x),
//                                             round(W), round(R); h, c, gates stay fp32 (the
//                                             gradient is the fp32 one at the rounded point),
//                                             except dW = round(x)^T round(dG) and
//                                             dR = round(h)^T round(dG): the weight gradients
//                                             are one bf16 GEMM each over all T*B rows, dG =
//                                             d(loss)/d(gate pre-activations)
// up to the order of the fp32 additions. Two paths compute it:
//   portable  round the operands into scratch, run the fp32 kernels (any CPU, any ISA);
//   AVX512-BF16 (has_bf16()): vdpbf16ps kernels on bf16-packed operands — the GEMM always;
//             conv forward, input gradient (stride 1) and weight gradient from 8 input
//             channels up (conv_bf16.cpp says why); the RNN weight gradients (the recurrence
//             passes stay the fp32 ones on rounded operands). vdpbf16ps
//             treats bf16 subnormal inputs as zero, flushes subnormal results and adds each pair
//             of products before the accumulator: results differ from the portable path by fp32
//             rounding only (tests/cpp/test_bf16.cpp holds both to the same double reference).
// Results are bit-identical for any thread count on either path (threads split outputs, never
// a reduction; block sizes depend on the shape only).
#pragma once
#include <cstdint>

#include "kernels/conv.h"
#include "kernels/rnn.h"

namespace grebe {

// y (n) = x rounded to the nearest bfloat16 (ties to even), stored as float32: the low 16 bits
// are zero. NaN stays NaN (quieted, sign kept), +-Inf stays +-Inf, finite values past the
// largest bf16 round to +-Inf, subnormals round like any other value. y may equal x.
void round_bf16(float* y, const float* x, int64_t n);
float round_bf16(float x);

// Whether the vdpbf16ps kernels run: the CPU reports AVX512_BF16 and the active ISA is avx512.
bool has_bf16();

// ---- GEMM (gemm.h contracts) ------------------------------------------------------------------
void sgemm_bias_act_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float beta, const float* bias, bool relu, float* C, int64_t ldc);
void sgemm_strided_batched_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                                int64_t K, float alpha, const float* A, int64_t lda,
                                int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                                float beta, float* C, int64_t ldc, int64_t stride_c);
// The measured bf16 multiply-add peak (GFLOP/s, 2 flops per bf16 product) on `threads`
// threads: a register-only vdpbf16ps loop. 0.0 when has_bf16() is false (no such instruction).
double bf16_peak_gflops(int threads, double seconds);

// ---- convolution (conv.h contracts) -----------------------------------------------------------
void conv2d_forward_bf16(float* y, const float* x, const float* w, const float* bias, bool relu,
                         const Conv2dShape& s);
void conv2d_backward_data_bf16(float* dx, const float* dy, const float* relu_y, const float* w,
                               const Conv2dShape& s);
void conv2d_backward_weights_bf16(float* dw, float* db, const float* dy, const float* relu_y,
                                  const float* x, const Conv2dShape& s);
void conv2d_backward_bf16(float* dx, float* dw, float* db, const float* dy, const float* relu_y,
                          const float* x, const float* w, const Conv2dShape& s);
void conv2d_relu_maxpool_forward_bf16(float* yp, uint8_t* am, const float* x, const float* w,
                                      const float* bias, const Conv2dShape& s, int64_t PH,
                                      int64_t PW);
void conv2d_relu_maxpool_backward_bf16(float* dx, float* dw, float* db, const float* dyp,
                                       const uint8_t* am, const float* yp, const float* x,
                                       const float* w, const Conv2dShape& s, int64_t PH,
                                       int64_t PW);

// ---- recurrent layers (rnn.h contracts) -------------------------------------------------------
void rnn_forward_bf16(const RnnArgs& a);
void rnn_backward_bf16(const RnnArgs& a);

}  // namespace grebe
