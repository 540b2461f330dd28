// conv_internal.h — what conv.cpp (portable build) and the per-ISA conv files share:
// declarations only. Nothing inline or templated is shared between files built with different
// ISA flags, so no AVX2 code can reach the portable path through the linker.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/conv.h"

namespace grebe {
namespace conv {

// Grow-only, 64-byte aligned scratch owned by the calling thread, one buffer per slot; kept
// between calls because a fresh page costs 2.8 us per 4 KiB here. Only the thread that calls a
// conv kernel allocates (before any parallel region, so std::bad_alloc reaches the caller);
// buffers the OpenMP threads need privately are slices of one slot (thread_slices).
enum Slot { kPackedW = 0, kTables = 1, kPartials = 2, kPackedBias = 3, kMaskedDy = 4,
            kImage = 5, kBlock = 6, kTarget = 7, kPooledDy = 8, kNumSlots = 9 };
void* scratch(int slot, size_t bytes);

// Where the backward kernels read the output gradient dy (N, P, Q, K) from: dy itself,
// relu-masked by relu_y (dy * (relu_y > 0)) when relu_y is given; or, when dyp is given, routed
// from the pooled gradient of a fused relu + max pooling (conv2d_relu_maxpool_*): dy[n, p, q, k]
// = dyp[n, p/PH, q/PW, k] where am there is (p%PH)*PW + q%PW and yp there is > 0, else 0.
struct DySource {
    const float* dy = nullptr;
    const float* relu_y = nullptr;
    const float* dyp = nullptr;
    const uint8_t* am = nullptr;
    const float* yp = nullptr;
    int64_t PH = 1, PW = 1;
    bool plain() const { return dyp == nullptr && relu_y == nullptr; }
};

// The whole of dy (N, P, Q, K) from src (portable; for the paths that need it materialized).
void expand_dy(float* dy, const DySource& src, int64_t N, int64_t P, int64_t Q, int64_t K);

// AVX2+FMA kernels (conv_avx2.cpp, conv_weights_avx2.cpp), the contracts of conv.h.
void forward_avx2(float* y, const float* x, const float* w, const float* bias, bool relu,
                  const Conv2dShape& s);
void backward_data_avx2(float* dx, const DySource& dy, const float* w, const Conv2dShape& s);
void forward_relu_maxpool_avx2(float* yp, uint8_t* am, const float* x, const float* w,
                               const float* bias, const Conv2dShape& s, int64_t PH, int64_t PW);
void backward_weights_avx2(float* dw, float* db, const DySource& dy, const float* x,
                           const Conv2dShape& s);

// AVX-512F kernels (conv_avx512.cpp, conv_data_avx512.cpp, conv_weights_avx512.cpp), the same
// contracts.
void forward_avx512(float* y, const float* x, const float* w, const float* bias, bool relu,
                    const Conv2dShape& s);
void backward_data_avx512(float* dx, const DySource& dy, const float* w, const Conv2dShape& s);
void forward_relu_maxpool_avx512(float* yp, uint8_t* am, const float* x, const float* w,
                                 const float* bias, const Conv2dShape& s, int64_t PH,
                                 int64_t PW);
void backward_weights_avx512(float* dw, float* db, const DySource& dy, const float* x,
                             const Conv2dShape& s);

}  // namespace conv
}  // namespace grebe
