// conv.h — 2D convolution over NHWC float32 with Keras's kernel layout (R, S, C, K) = HWIO.
// Conv1D runs through the same kernels with H = 1 (and R = 1).
//
// Legend: N batch, H/W input height/width, C input channels, K output channels (filters),
// R/S kernel height/width, SH/SW strides, DH/DW dilations, PT/PB/PL/PR zero padding at the
// top/bottom/left/right, P/Q output height/width:
//   P = (H + PT + PB - ((R - 1) * DH + 1)) / SH + 1,  Q likewise.
//   y[n, p, q, k] = act(bias[k] + sum_{r,s,c} x[n, p*SH - PT + r*DH, q*SW - PL + s*DW, c]
//                                             * w[r, s, c, k])        (out-of-image x is 0)
//
// Every kernel overwrites its outputs. Results are bit-identical for any thread count: threads
// split outputs (pixels, images, or slices of dW), never a reduction, and every block size and
// algorithm choice depends only on the shape and the ISA.
#pragma once
#include <cstdint>

namespace grebe {

struct Conv2dShape {
    int64_t N, H, W, C;       // input (N, H, W, C)
    int64_t K, R, S;          // kernel (R, S, C, K)
    int64_t SH, SW, DH, DW;   // strides, dilations (>= 1)
    int64_t PT, PB, PL, PR;   // zero padding (>= 0)
    int64_t P, Q;             // output (N, P, Q, K), from conv2d_output_size
};

// Output size of one spatial axis; <= 0 when the (dilated) kernel does not fit.
int64_t conv2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                           int64_t pad_before, int64_t pad_after);

// x (N,H,W,C), w (R,S,C,K), bias (K) or nullptr -> y (N,P,Q,K).
// relu: y = max(0, .) fused into the store (NaN propagates).
void conv2d_forward(float* y, const float* x, const float* w, const float* bias, bool relu,
                    const Conv2dShape& s);

// dy (N,P,Q,K), w (R,S,C,K) -> dx (N,H,W,C).
// relu_y: when not nullptr, the forward output y (N,P,Q,K) of a relu-fused forward; dy is
// taken as dy * (y > 0), the gradient through the fused relu.
void conv2d_backward_data(float* dx, const float* dy, const float* relu_y, const float* w,
                          const Conv2dShape& s);

// x (N,H,W,C), dy (N,P,Q,K) -> dw (R,S,C,K), and db (K) when db is not nullptr.
// relu_y as in conv2d_backward_data.
void conv2d_backward_weights(float* dw, float* db, const float* dy, const float* relu_y,
                             const float* x, const Conv2dShape& s);

// Both backward passes in one call: dx (N,H,W,C) when dx is not nullptr, dw (and db) when dw
// is not nullptr. With relu_y and both gradients wanted, dy is relu-masked once (into a reused
// buffer) and both passes read the masked copy, instead of masking on the fly twice.
// Same results as conv2d_backward_data + conv2d_backward_weights, bit for bit.
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* relu_y,
                     const float* x, const float* w, const Conv2dShape& s);

// Conv2D(relu) followed by MaxPooling(PH x PW, strides = pool size, 'valid'), fused: the conv
// output is pooled while it is still in L1, and only pooled values and u8 argmax indices are
// written. P2 = P / PH, Q2 = Q / PW; conv output rows >= P2*PH and columns >= Q2*PW, which the
// pooling drops, are never computed. PH * PW <= 256.
//   yp[n,i,j,k] = max(0, max_{a<PH, b<PW} y[n, i*PH + a, j*PW + b, k]) with y = conv + bias,
//   am[n,i,j,k] = the winner's a*PW + b (first of ties in row-major order; a NaN wins, the last
//   of several, as max_pool2d_forward). yp equals conv2d_forward(relu) then max pooling, bit
//   for bit.
// x (N,H,W,C), w (R,S,C,K), bias (K) or nullptr -> yp (N,P2,Q2,K), am (N,P2,Q2,K).
void conv2d_relu_maxpool_forward(float* yp, uint8_t* am, const float* x, const float* w,
                                 const float* bias, const Conv2dShape& s, int64_t PH,
                                 int64_t PW);
// dyp (N,P2,Q2,K) with am, yp from the forward -> dx (or nullptr), dw and db (or nullptr):
// the gradients of the fused op (dyp reaches a window's winner where yp > 0).
void conv2d_relu_maxpool_backward(float* dx, float* dw, float* db, const float* dyp,
                                  const uint8_t* am, const float* yp, const float* x,
                                  const float* w, const Conv2dShape& s, int64_t PH,
                                  int64_t PW);

// The plain 7-deep loops of the definition above: the test oracle. Serial, double accumulators.
void conv2d_forward_reference(float* y, const float* x, const float* w, const float* bias,
                              bool relu, const Conv2dShape& s);
void conv2d_backward_data_reference(float* dx, const float* dy, const float* relu_y,
                                    const float* w, const Conv2dShape& s);
void conv2d_backward_weights_reference(float* dw, float* db, const float* dy,
                                       const float* relu_y, const float* x,
                                       const Conv2dShape& s);

}  // namespace grebe
