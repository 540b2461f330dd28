// batchnorm.h — batch normalization over the rows of a (M, C) float32 matrix: M = every axis
// but the channel axis flattened (N*H*W for NHWC), C channels.
//
// Training:  mean, var = batch_norm_stats(x)   (biased variance, as Keras and TF use)
//            y = x * scale + shift, scale = gamma / sqrt(var + eps), shift = beta - mean * scale
// Backward:  dbeta = sum dy, dgamma = sum dy * xhat, xhat = (x - mean) * inv_std
//            dx = gamma * inv_std * (dy - dbeta / M - xhat * dgamma / M)
//
// Sums run over fixed blocks of rows (64 rows in float, accumulated into double per 1024-row
// unit, units added in order), so every result is bit-identical for any thread count. The
// variance is computed from data shifted by the first row (x - x[0]), which keeps the one-pass
// formula E[d^2] - E[d]^2 free of cancellation when |mean| >> std.
// On AVX-512 CPUs every kernel runs batchnorm_avx512.cpp's variant (same scheme; four row
// partials per 64-row sub-block), chosen at run time with grebe::active_isa().
#pragma once
#include <cstdint>

namespace grebe {

// x (M,C) -> mean (C), var (C) (biased, >= 0). M >= 1.
void batch_norm_stats(float* mean, float* var, const float* x, int64_t M, int64_t C);

// x (M,C), scale (C), shift (C) -> y (M,C) = x * scale + shift (y may alias x).
void batch_norm_apply(float* y, const float* x, const float* scale, const float* shift,
                      int64_t M, int64_t C);

// dy (M,C), x (M,C), mean (C), inv_std (C) -> dbeta (C) = sum dy,
// dgamma (C) = sum dy * (x - mean) * inv_std.
void batch_norm_backward_reduce(float* dbeta, float* dgamma, const float* dy, const float* x,
                                const float* mean, const float* inv_std, int64_t M, int64_t C);

// dy, x (M,C), mean, inv_std, gamma, dbeta, dgamma (C) -> dx (M,C), the input gradient of the
// training-mode (batch statistics) normalization. gamma may be nullptr (scale=False: 1).
void batch_norm_backward_data(float* dx, const float* dy, const float* x, const float* mean,
                              const float* inv_std, const float* gamma, const float* dbeta,
                              const float* dgamma, int64_t M, int64_t C);

// batch_norm_(relu_)backward_reduce and _data in one call (dx may be nullptr; relu_y nullptr,
// or the fused ReLU's output (M,C)), with dx's columns summing to 0 up to the rounding of their
// own elements: each dx is evaluated in double from double sums and rounded once, so a bias in
// front (whose true gradient, the column sum, is 0) gets no systematic noise from a
// float-rounded mean or dbeta / M. Under AVX-512 the same operations run 16 channels a step
// (batch_norm_backward_*_avx512): the same bits on every ISA (the training path calls it).
void batch_norm_backward(float* dx, float* dbeta, float* dgamma, const float* dy,
                         const float* relu_y, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t M, int64_t C);

// Batch norm followed by a ReLU, as one pass each way (ResNet's BN + ReLU):
// x (M,C), scale, shift (C) -> y (M,C) = max(x * scale + shift, 0), NaN kept (y may alias x).
void batch_norm_apply_relu(float* y, const float* x, const float* scale, const float* shift,
                           int64_t M, int64_t C);


}  // namespace grebe
