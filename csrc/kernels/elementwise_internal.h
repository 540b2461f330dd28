// elementwise_internal.h — what elementwise.cpp (portable, threads) asks of the per-ISA files.
// Each function is serial and handles a contiguous range; elementwise.cpp splits the work.
#pragma once
#include <cstdint>

namespace grebe {

// AVX2+FMA versions (elementwise_avx2.cpp). The act functions return false, doing nothing, for
// an activation they do not vectorize; the caller then runs the portable loop.
bool act_forward_avx2(float* y, const float* x, int64_t n, int act, float alpha);
bool act_backward_avx2(float* dx, const float* dy, const float* x, const float* y, int64_t n,
                       int act, float alpha);
// `rows` consecutive rows of N columns.
void softmax_forward_avx2(float* y, const float* x, int64_t rows, int64_t N, bool log);
void softmax_backward_avx2(float* dx, const float* dy, const float* y, int64_t rows, int64_t N,
                           bool log);

// AVX-512 versions (elementwise_avx512.cpp), the same contracts.
bool act_forward_avx512(float* y, const float* x, int64_t n, int act, float alpha);
bool act_backward_avx512(float* dx, const float* dy, const float* x, const float* y, int64_t n,
                         int act, float alpha);
void softmax_forward_avx512(float* y, const float* x, int64_t rows, int64_t N, bool log);
void softmax_backward_avx512(float* dx, const float* dy, const float* y, int64_t rows, int64_t N,
                             bool log);

}  // namespace grebe
