// pool.h — max and average pooling over NHWC float32, and global pooling.
// 1D pooling is 2D pooling with H = 1 (KH = SH = 1, PT = 0).
//
// Legend: N batch, H/W input height/width, C channels, KH/KW window, SH/SW strides, PT/PL
// padding before the first row/column (the padding after is implicit in P/Q), P/Q output
// height/width. Window (p, q) covers input rows p*SH - PT .. p*SH - PT + KH - 1 and columns
// q*SW - PL .. q*SW - PL + KW - 1; its positions outside the input are skipped: they never win a
// max and are not counted by an average (TF/Keras 'same' semantics; PyTorch's
// count_include_pad=False). Every window must hold at least one input position
// (pool_output_size guarantees it).
//
// Max-pool argmax: the index kh * KW + kw of the winner inside its (unclipped) window, as u8 when
// KH * KW <= 256 (the oneDNN choice: 1 byte per output instead of PyTorch's 8), else int32.
// Ties keep the first position in row-major window order; a NaN wins (of several, the last),
// as PyTorch.
//
// Every kernel overwrites its outputs. Results are bit-identical for any thread count: threads
// split output rows (forward) or input rows (backward) and no sum is ever split across threads.
#pragma once
#include <cstdint>

namespace grebe {

struct Pool2dShape {
    int64_t N, H, W, C;  // input (N, H, W, C)
    int64_t KH, KW;      // window (>= 1)
    int64_t SH, SW;      // strides (>= 1)
    int64_t PT, PL;      // padding before (0 <= PT < KH, 0 <= PL < KW)
    int64_t P, Q;        // output (N, P, Q, C)
};

// Output size of one axis and the padding before it. same=false: 'valid', floor((in - k) / s)
// + 1, no padding (<= 0 when the window is larger than the input). same=true: TF's rule,
// ceil(in / s) outputs, total padding max((out - 1) * s + k - in, 0) with the smaller half
// before (the extra one goes after).
int64_t pool_output_size(int64_t in, int64_t k, int64_t stride, bool same, int64_t* pad_before);

// The full shape of a pooling for input (N, H, W, C), window (KH, KW), strides (SH, SW).
Pool2dShape pool2d_shape(int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW,
                         int64_t SH, int64_t SW, bool same);

// x (N,H,W,C) -> y (N,P,Q,C), argmax (N,P,Q,C) window indices. The u8 form needs KH*KW <= 256.
void max_pool2d_forward(float* y, uint8_t* argmax, const float* x, const Pool2dShape& s);
void max_pool2d_forward(float* y, int32_t* argmax, const float* x, const Pool2dShape& s);

// dy (N,P,Q,C), argmax (N,P,Q,C) -> dx (N,H,W,C): each dy goes to its window's winner; a
// position that wins several overlapping windows receives their sum, added in (p, q) order.
void max_pool2d_backward(float* dx, const float* dy, const uint8_t* argmax, const Pool2dShape& s);
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, const Pool2dShape& s);

// x (N,H,W,C) -> y (N,P,Q,C): the mean of each window's input positions.
void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s);
// dy (N,P,Q,C) -> dx (N,H,W,C): dx[h,w] = sum over the windows holding (h,w) of dy / count.
void avg_pool2d_backward(float* dx, const float* dy, const Pool2dShape& s);

// Global pooling: x (N, S, C) with S = every axis between batch and channels flattened.
// x (N,S,C) -> y (N,C) = mean over S (accumulated in double, in s order).
void global_avg_pool_forward(float* y, const float* x, int64_t N, int64_t S, int64_t C);
// dy (N,C) -> dx (N,S,C) = dy / S.
void global_avg_pool_backward(float* dx, const float* dy, int64_t N, int64_t S, int64_t C);
// x (N,S,C) -> y (N,C) = max over S, argmax (N,C) = its s (first of ties; a NaN wins, as above).
void global_max_pool_forward(float* y, int32_t* argmax, const float* x, int64_t N, int64_t S,
                             int64_t C);
// dy (N,C), argmax (N,C) -> dx (N,S,C): dy at the winner, 0 elsewhere.
void global_max_pool_backward(float* dx, const float* dy, const int32_t* argmax, int64_t N,
                              int64_t S, int64_t C);

}  // namespace grebe
