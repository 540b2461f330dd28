// elementwise.h — activations, the fused bias + activation epilogue of Dense, and softmax /
// log_softmax over the rows of a matrix, float32, forward and backward.
// Legend: n elements; M rows, N columns (the last axis); act an Act code, alpha its parameter.
// Every kernel overwrites its outputs (nothing accumulates). Outputs may alias their inputs
// (y == x) where a comment says so. Results are bit-identical for any thread count: threads
// split elements or rows, and every element is computed by the same code wherever it falls
// (vector tails use masked loads, not a scalar loop).
#pragma once
#include <cstdint>

namespace grebe {

// Activation codes shared with python/grebe/ops/activation.py (keep the numbers in sync).
enum class Act : int {
    linear = 0,
    relu = 1,
    relu6 = 2,
    leaky_relu = 3,    // alpha: the negative slope
    elu = 4,           // alpha: the scale of the negative part
    selu = 5,
    sigmoid = 6,
    hard_sigmoid = 7,  // relu6(x + 3) / 6, as Keras 3 and PyTorch
    tanh = 8,
    gelu = 9,          // exact: x * Phi(x), Phi the standard normal CDF (erf)
    gelu_tanh = 10,    // the tanh approximation
    silu = 11,         // x * sigmoid(x), a.k.a. swish
    softplus = 12,
    count = 13,
};

// True when act's gradient is computed from its output y (relu, sigmoid, tanh, linear);
// otherwise backward needs the input x.
bool act_grad_uses_output(Act act);

// x (n) -> y (n) = act(x). y may equal x.
void act_forward(float* y, const float* x, int64_t n, Act act, float alpha);

// dy (n), x (n) or y (n) -> dx (n) = dy * act'(x). Pass y when act_grad_uses_output(act),
// else x (the other may be nullptr). dx may equal dy.
void act_backward(float* dx, const float* dy, const float* x, const float* y, int64_t n, Act act,
                  float alpha);

// x (M, N), bias (N) or nullptr -> y (M, N) = act(x + bias) by rows. y may equal x.
void bias_act_forward(float* y, const float* x, const float* bias, int64_t M, int64_t N, Act act,
                      float alpha);

// dy (M, N) and x or y (M, N) as for act_backward -> dz (M, N) = dy * act'(.) and, when dbias
// is not nullptr, dbias (N) = the column sums of dz (rows added in order 0..M-1). dz may equal dy.
void bias_act_backward(float* dz, float* dbias, const float* dy, const float* x, const float* y,
                       int64_t M, int64_t N, Act act, float alpha);

// x (M, N) -> y (M, N): softmax of each row, or log_softmax when log (log-sum-exp: the row max
// is subtracted before exp, so huge logits stay finite). y may equal x.
void softmax_forward(float* y, const float* x, int64_t M, int64_t N, bool log);

// dy (M, N), y (M, N) the forward output -> dx (M, N).
// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy). dx may equal dy.
void softmax_backward(float* dx, const float* dy, const float* y, int64_t M, int64_t N, bool log);

// The portable scalar versions of the above, one thread: the test oracle for the vector code.
void act_forward_reference(float* y, const float* x, int64_t n, Act act, float alpha);
void act_backward_reference(float* dx, const float* dy, const float* x, const float* y,
                            int64_t n, Act act, float alpha);
void softmax_forward_reference(float* y, const float* x, int64_t M, int64_t N, bool log);
void softmax_backward_reference(float* dx, const float* dy, const float* y, int64_t M, int64_t N,
                                bool log);

}  // namespace grebe
