// grouped_conv.h — grouped 2D convolution over NHWC float32 (Keras's Conv2D(groups=G)), one
// call for all groups: the input is lowered once (im2col, group-major columns) and every group's
// product runs in one strided-batched GEMM (grebe::sgemm_strided_batched), so there is no
// launch, copy or concatenation per group.
//
// Legend as in conv.h, plus G groups, Cg = C/G input and Kg = K/G output channels per group.
// Kernel (R, S, Cg, K), Keras's layout: group g uses input channels [g*Cg, (g+1)*Cg) and
// filters [g*Kg, (g+1)*Kg):
//   y[n,p,q,g*Kg+k] = bias[g*Kg+k] + sum_{r,s,c<Cg} x[n, p*SH-PT+r*DH, q*SW-PL+s*DW, g*Cg+c]
//                                                    * w[r, s, c, g*Kg+k]
// Lowered rows: col (rows = n,p,q; G, R, S, Cg), so group g's block is a (rows, R*S*Cg) matrix
// with row stride G*R*S*Cg, and w seen as (R*S*Cg, K) gives group g's (R*S*Cg, Kg) block at
// column g*Kg. Images run in chunks (a constant number of lowered values per chunk, so the
// buffer stays in cache); dw sums the chunks in order. Results are bit-identical for any
// thread count (the GEMM's contract; lowering splits rows; col2im is a gather over input rows).
#pragma once
#include <cstdint>

#include "kernels/conv.h"

namespace grebe {

// x (N,H,W,C), w (R,S,C/G,K), bias (K) or nullptr -> y (N,P,Q,K). s.C is the full C.
void grouped_conv2d_forward(float* y, const float* x, const float* w, const float* bias,
                            const Conv2dShape& s, int64_t G);

// dy (N,P,Q,K), w (R,S,C/G,K) -> dx (N,H,W,C).
void grouped_conv2d_backward_data(float* dx, const float* dy, const float* w,
                                  const Conv2dShape& s, int64_t G);

// x (N,H,W,C), dy (N,P,Q,K) -> dw (R,S,C/G,K), and db (K) when db is not nullptr.
void grouped_conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x,
                                     const Conv2dShape& s, int64_t G);

}  // namespace grebe
