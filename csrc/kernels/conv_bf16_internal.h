// conv_bf16_internal.h — the AVX512-BF16 convolution code (conv_bf16_avx512bf16.cpp) that
// conv_bf16.cpp dispatches to when has_bf16(): declarations only.
#pragma once
#include <cstdint>

#include "kernels/conv.h"

namespace grebe {
namespace bf16 {

// Direct forward with vdpbf16ps over input-channel pairs (conv_bf16_avx512bf16.cpp): the
// contract of conv2d_forward_bf16; work holds conv_direct_words(s) words (the bf16 padded
// input and packed weights).
int64_t conv_direct_words(const Conv2dShape& s);
void conv_forward_direct_avx512bf16(float* y, const float* x, const float* w, const float* bias,
                                    bool relu, const Conv2dShape& s, uint32_t* work);

// dw (R,S,C,K) = sum over (n,p,q) of bf16(x) * bf16(dy) (dy already masked), vdpbf16ps over
// pairs of output columns; work holds conv_dw_words(s) words.
int64_t conv_dw_words(const Conv2dShape& s);
void conv_backward_weights_avx512bf16(float* dw, const float* dy, const float* x,
                                      const Conv2dShape& s, uint32_t* work);

// yp, am (N,P2,Q2,K) = relu(max pooling of y (N,t.P,t.Q,K)) with conv2d_relu_maxpool_forward's
// winner rule, AVX-512 (conv_bf16_avx512bf16.cpp).
void relu_maxpool_avx512bf16(float* yp, uint8_t* am, const float* y, const Conv2dShape& t,
                             int64_t PH, int64_t PW);

// dy (N,t.P,t.Q,K) from the fused op's pooled gradient: dyp at each window's winner (am) where
// yp > 0, else 0 — conv::expand_dy's rule, AVX-512 and branch-free.
void expand_pooled_dy_avx512bf16(float* dy, const float* dyp, const uint8_t* am,
                                 const float* yp, const Conv2dShape& t, int64_t PH,
                                 int64_t PW);

}  // namespace bf16
}  // namespace grebe
