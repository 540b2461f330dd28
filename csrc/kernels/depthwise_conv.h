// depthwise_conv.h — depthwise 2D convolution over NHWC float32 with Keras's kernel layout
// (R, S, C, M): every input channel c is convolved with its own M filters (M = the depth
// multiplier), giving the output channels o = c*M + m (Keras's and TensorFlow's order).
// DepthwiseConv1D runs through the same kernels with H = 1 (and R = 1).
//
// Legend: N batch, H/W input, C input channels, M depth multiplier, O = C*M output channels,
// R/S kernel, SH/SW strides, DH/DW dilations, PT/PB/PL/PR zero padding, P/Q output:
//   P = (H + PT + PB - ((R - 1) * DH + 1)) / SH + 1,  Q likewise (conv2d_output_size).
//   y[n, p, q, c*M+m] = bias[c*M+m] + sum_{r,s} x[n, p*SH - PT + r*DH, q*SW - PL + s*DW, c]
//                                                 * w[r, s, c, m]        (out-of-image x is 0)
// Seen flat, w (R, S, C, M) is (R*S, O): tap (r, s) holds one weight per output channel, so
// every kernel runs over contiguous output channels, the vector axis in NHWC.
//
// Every kernel overwrites its outputs. Results are bit-identical for any thread count: threads
// split output pixels (forward), input pixels (backward-data, as a gather: no scatter-add), or
// (image chunk, channel block) pieces of dw whose partial sums are added in chunk order
// (backward-weights); chunk and block sizes are constants.
#pragma once
#include <cstdint>

namespace grebe {

struct DepthwiseShape {
    int64_t N, H, W, C, M;    // input (N, H, W, C), depth multiplier M
    int64_t R, S;             // kernel (R, S, C, M)
    int64_t SH, SW, DH, DW;   // strides, dilations (>= 1)
    int64_t PT, PB, PL, PR;   // zero padding (>= 0)
    int64_t P, Q;             // output (N, P, Q, C*M), from conv2d_output_size
};

// x (N,H,W,C), w (R,S,C,M), bias (C*M) or nullptr -> y (N,P,Q,C*M).
void depthwise_conv2d_forward(float* y, const float* x, const float* w, const float* bias,
                              const DepthwiseShape& s);

// dy (N,P,Q,C*M), w (R,S,C,M) -> dx (N,H,W,C).
void depthwise_conv2d_backward_data(float* dx, const float* dy, const float* w,
                                    const DepthwiseShape& s);

// x (N,H,W,C), dy (N,P,Q,C*M) -> dw (R,S,C,M), and db (C*M) when db is not nullptr.
void depthwise_conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x,
                                       const DepthwiseShape& s);

// The plain loops of the definition above: the test oracle. Serial, double accumulators.
void depthwise_conv2d_forward_reference(float* y, const float* x, const float* w,
                                        const float* bias, const DepthwiseShape& s);
void depthwise_conv2d_backward_data_reference(float* dx, const float* dy, const float* w,
                                              const DepthwiseShape& s);
void depthwise_conv2d_backward_weights_reference(float* dw, float* db, const float* dy,
                                                 const float* x, const DepthwiseShape& s);

// The AVX-512 kernels (depthwise_conv_avx512.cpp), for M == 1; the entry points above call
// them when active_isa() is avx512. Same contracts.
namespace depthwise {
void forward_avx512(float* y, const float* x, const float* w, const float* bias,
                    const DepthwiseShape& s);
void backward_data_avx512(float* dx, const float* dy, const float* w, const DepthwiseShape& s);
// One piece of backward-weights: images [n0, n1), channels [o0, o0 + 16*nv) (nv vectors; the
// last may be partial: ob channels in all) -> part (R*S, ob) row stride O, and dbp (ob).
void weights_piece_avx512(float* part, float* dbp, const float* dy, const float* x,
                          const DepthwiseShape& s, int64_t n0, int64_t n1, int64_t o0,
                          int64_t ob);
// The AVX2+FMA kernels (depthwise_conv_avx2.cpp), for M == 1 and stride 1 under avx2.
void forward_avx2(float* y, const float* x, const float* w, const float* bias,
                  const DepthwiseShape& s);
void backward_data_avx2(float* dx, const float* dy, const float* w, const DepthwiseShape& s);
void weights_piece_avx2(float* part, float* dbp, const float* dy, const float* x,
                        const DepthwiseShape& s, int64_t n0, int64_t n1, int64_t o0, int64_t ob);
}  // namespace depthwise

}  // namespace grebe
