// conv_bf16.cpp — convolution with bf16 operands and fp32 accumulation (bf16.h): the choice,
// per shape and pass, between the vdpbf16ps kernels (conv_bf16_avx512bf16.cpp, when
// has_bf16()) and the portable path (x, w and dy rounded to bf16 into scratch, then the fp32
// kernels of conv.h); the bias gradient is always the fp32 sum of the unrounded dy. Built
// without ISA flags.
// Legend as in conv.h: N batch, H/W/C input, K filters, R/S kernel, P/Q output.
#include "kernels/bf16.h"

#include <cstring>

#include "kernels/bf16_internal.h"
#include "kernels/conv_bf16_internal.h"
#include "kernels/runtime.h"

namespace grebe {

namespace {

int64_t x_size(const Conv2dShape& s) { return s.N * s.H * s.W * s.C; }
int64_t w_size(const Conv2dShape& s) { return s.R * s.S * s.C * s.K; }
int64_t y_size(const Conv2dShape& s) { return s.N * s.P * s.Q * s.K; }

// db (K) = sum over the rows (n, p, q) of dy (rows, K), relu-masked by relu_y when given: the
// fp32 bias gradient. Threads own disjoint 16-column blocks of db and sum their rows in order:
// race-free and the same bits for any thread count.
void bias_grad(float* db, const float* dy, const float* relu_y, int64_t rows, int64_t K) {
    const int64_t blocks = (K + 15) / 16;
    const int nt = threads_for(rows * K);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t kb = 0; kb < blocks; kb++) {
        const int64_t k0 = kb * 16, k1 = k0 + 16 < K ? k0 + 16 : K;
        float acc[16] = {0};
        for (int64_t i = 0; i < rows; i++)
            for (int64_t k = k0; k < k1; k++) {
                const float g = dy[i * K + k];
                acc[k - k0] += relu_y && !(relu_y[i * K + k] > 0.0f) ? 0.0f : g;
            }
        for (int64_t k = k0; k < k1; k++) db[k] = acc[k - k0];
    }
}

// db (K) of the fused conv + relu + max pooling: each pooled gradient reaches exactly one
// conv output (its window's winner) when yp > 0, so db sums dyp (rows, K) where yp > 0.
void pooled_bias_grad(float* db, const float* dyp, const float* yp, int64_t rows, int64_t K) {
    bias_grad(db, dyp, yp, rows, K);
}

// Which bf16 path serves a shape, measured per pass on the seed CNN's and ResNet-20's layers
// (bench/bf16_kernels.py, 1 thread): the vdpbf16ps kernels of conv_bf16_avx512bf16.cpp from 8
// input channels up (below, 3 channels padded to 4 and 3-row register tiles lose to rounding +
// the fp32 kernels); the input gradient as a forward over dy needs stride 1 without dilation
// (strided layers round + run the fp32 kernel). im2col + the bf16 GEMM lost on every layer but
// one and is not kept.
bool direct_forward(const Conv2dShape& s) { return has_bf16() && s.C >= 8; }
bool direct_backward_weights(const Conv2dShape& s) { return has_bf16() && s.C >= 8; }
bool direct_backward_data(const Conv2dShape& s) {
    return has_bf16() && s.K >= 8 && s.SH == 1 && s.SW == 1 && s.DH == 1 && s.DW == 1 &&
           s.PT < s.R && s.PL < s.S;
}

// dy, relu-masked when relu_y is given, as a pointer the vdpbf16ps passes can read: dy itself,
// or a masked copy in scratch.
const float* masked_dy(const float* dy, const float* relu_y, int64_t n) {
    if (!relu_y) return dy;
    float* d = bf16::scratch(bf16::kConvDy, n);
    const int nt = threads_for(n);
    // Elementwise: race-free for any split.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {  // branch-free (random signs would mispredict)
        uint32_t bits;
        std::memcpy(&bits, dy + i, 4);
        bits &= 0u - static_cast<uint32_t>(relu_y[i] > 0.0f);
        std::memcpy(d + i, &bits, 4);
    }
    return d;
}


// dw (R,S,C,K) from x and dy (masked) when direct_backward_weights(s).
void backward_weights_fast(float* dw, const float* dy, const float* x, const Conv2dShape& s) {
    uint32_t* work = reinterpret_cast<uint32_t*>(
        bf16::scratch(bf16::kConvWork, bf16::conv_dw_words(s)));
    bf16::conv_backward_weights_avx512bf16(dw, dy, x, s, work);
}

// The vdpbf16ps direct forward (direct_forward(s) is true).
void forward_fast(float* y, const float* x, const float* w, const float* bias, bool relu,
                  const Conv2dShape& s) {
    uint32_t* work = reinterpret_cast<uint32_t*>(
        bf16::scratch(bf16::kConvWork, bf16::conv_direct_words(s)));
    bf16::conv_forward_direct_avx512bf16(y, x, w, bias, relu, s, work);
}

// dx (N,H,W,C) from dy (N,P,Q,K) (masked) when direct_backward_data(s): with stride 1, dx is
// the forward conv of dy padded by (R-1-PT, ..., S-1-PL, ...) with the kernel flipped and
// its channel axes swapped, w'[r, s, k, c] = w[R-1-r, S-1-s, c, k] (built in scratch).
void backward_data_fast(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
    float* wt = bf16::scratch(bf16::kOperandB, w_size(s));
    for (int64_t r = 0; r < s.R; r++)
        for (int64_t t = 0; t < s.S; t++)
            for (int64_t c = 0; c < s.C; c++)
                for (int64_t k = 0; k < s.K; k++)
                    wt[((r * s.S + t) * s.K + k) * s.C + c] =
                        w[(((s.R - 1 - r) * s.S + (s.S - 1 - t)) * s.C + c) * s.K + k];
    Conv2dShape d = s;
    d.H = s.P, d.W = s.Q, d.C = s.K, d.K = s.C, d.P = s.H, d.Q = s.W;
    // Padded dy must hold H + R - 1 rows: more than R - 1 - PB at the bottom when the output was
    // cut short (a pooling's kept region, conv2d_relu_maxpool_backward).
    d.PT = s.R - 1 - s.PT, d.PB = s.H + s.R - 1 - s.P - d.PT;
    d.PL = s.S - 1 - s.PL, d.PR = s.W + s.S - 1 - s.Q - d.PL;
    forward_fast(dx, dy, wt, nullptr, false, d);
}

// The conv output rows/columns a (PH, PW) pooling keeps: P2*PH x Q2*PW.
Conv2dShape pooled_region(const Conv2dShape& s, int64_t PH, int64_t PW) {
    Conv2dShape t = s;
    t.P = s.P / PH * PH;
    t.Q = s.Q / PW * PW;
    return t;
}

}  // namespace

void conv2d_forward_bf16(float* y, const float* x, const float* w, const float* bias, bool relu,
                         const Conv2dShape& s) {
    // x (N,H,W,C), w (R,S,C,K), bias (K) -> y (N,P,Q,K), x and w rounded to bf16
    if (direct_forward(s)) return forward_fast(y, x, w, bias, relu, s);
    const float* xr = bf16::rounded(bf16::kOperandA, x, x_size(s));
    const float* wr = bf16::rounded(bf16::kOperandB, w, w_size(s));
    conv2d_forward(y, xr, wr, bias, relu, s);
}

void conv2d_backward_data_bf16(float* dx, const float* dy, const float* relu_y, const float* w,
                               const Conv2dShape& s) {
    // dy (N,P,Q,K), w (R,S,C,K) -> dx (N,H,W,C), dy and w rounded. Rounding commutes with the
    // relu mask (a masked element is +0 either way).
    if (direct_backward_data(s))
        return backward_data_fast(dx, masked_dy(dy, relu_y, y_size(s)), w, s);
    const float* dyr = bf16::rounded(bf16::kOperandA, dy, y_size(s));
    const float* wr = bf16::rounded(bf16::kOperandB, w, w_size(s));
    conv2d_backward_data(dx, dyr, relu_y, wr, s);
}

void conv2d_backward_weights_bf16(float* dw, float* db, const float* dy, const float* relu_y,
                                  const float* x, const Conv2dShape& s) {
    // x (N,H,W,C), dy (N,P,Q,K) -> dw (R,S,C,K) from rounded x and dy; db (K) from dy as is
    if (direct_backward_weights(s)) {
        backward_weights_fast(dw, masked_dy(dy, relu_y, y_size(s)), x, s);
        if (db) bias_grad(db, dy, relu_y, s.N * s.P * s.Q, s.K);
        return;
    }
    const float* dyr = bf16::rounded(bf16::kOperandA, dy, y_size(s));
    const float* xr = bf16::rounded(bf16::kOperandB, x, x_size(s));
    conv2d_backward_weights(dw, nullptr, dyr, relu_y, xr, s);
    if (db) bias_grad(db, dy, relu_y, s.N * s.P * s.Q, s.K);
}

void conv2d_backward_bf16(float* dx, float* dw, float* db, const float* dy, const float* relu_y,
                          const float* x, const float* w, const Conv2dShape& s) {
    // dy (N,P,Q,K), x (N,H,W,C), w (R,S,C,K) -> dx, dw (rounded operands), db (unrounded dy)
    const bool fast_dx = dx && direct_backward_data(s), fast_dw = dw && direct_backward_weights(s);
    if (fast_dx || fast_dw) {  // dy relu-masked once for the passes that read it
        const float* g = masked_dy(dy, relu_y, y_size(s));
        if (dx) {
            if (fast_dx)
                backward_data_fast(dx, g, w, s);
            else
                conv2d_backward_data_bf16(dx, dy, relu_y, w, s);
        }
        if (dw) {
            if (fast_dw)
                backward_weights_fast(dw, g, x, s);
            else
                conv2d_backward_weights_bf16(dw, nullptr, dy, relu_y, x, s);
        }
        if (db) bias_grad(db, dy, relu_y, s.N * s.P * s.Q, s.K);
        return;
    }
    const float* dyr = bf16::rounded(bf16::kOperandA, dy, y_size(s));
    const float* xr = dw ? bf16::rounded(bf16::kOperandB, x, x_size(s)) : nullptr;
    const float* wr = dx ? bf16::rounded(bf16::kOperandC, w, w_size(s)) : nullptr;
    conv2d_backward(dx, dw, nullptr, dyr, relu_y, xr, wr, s);
    if (db) bias_grad(db, dy, relu_y, s.N * s.P * s.Q, s.K);
}

void conv2d_relu_maxpool_forward_bf16(float* yp, uint8_t* am, const float* x, const float* w,
                                      const float* bias, const Conv2dShape& s, int64_t PH,
                                      int64_t PW) {
    // x (N,H,W,C), w (R,S,C,K) rounded -> yp, am (N,P/PH,Q/PW,K)
    if (direct_forward(s)) {  // the conv of the kept region into scratch, then the pooling
        const Conv2dShape t = pooled_region(s, PH, PW);
        float* y = bf16::scratch(bf16::kConvDy, t.N * t.P * t.Q * t.K);
        forward_fast(y, x, w, bias, false, t);
        bf16::relu_maxpool_avx512bf16(yp, am, y, t, PH, PW);
        return;
    }
    const float* xr = bf16::rounded(bf16::kOperandA, x, x_size(s));
    const float* wr = bf16::rounded(bf16::kOperandB, w, w_size(s));
    conv2d_relu_maxpool_forward(yp, am, xr, wr, bias, s, PH, PW);
}

void conv2d_relu_maxpool_backward_bf16(float* dx, float* dw, float* db, const float* dyp,
                                       const uint8_t* am, const float* yp, const float* x,
                                       const float* w, const Conv2dShape& s, int64_t PH,
                                       int64_t PW) {
    // dyp (N,P2,Q2,K) rounded, x, w rounded -> dx, dw; db from dyp as is
    const int64_t pooled = s.N * (s.P / PH) * (s.Q / PW);
    const Conv2dShape t = pooled_region(s, PH, PW);
    if ((dx && direct_backward_data(t)) || (dw && direct_backward_weights(t))) {
        // dy routed to the winners (fp32) once, then the plain passes on it
        float* dy = bf16::scratch(bf16::kConvDy, t.N * t.P * t.Q * t.K);
        bf16::expand_pooled_dy_avx512bf16(dy, dyp, am, yp, t, PH, PW);
        conv2d_backward_bf16(dx, dw, nullptr, dy, nullptr, x, w, t);
        if (db) pooled_bias_grad(db, dyp, yp, pooled, s.K);
        return;
    }
    const float* dypr = bf16::rounded(bf16::kOperandA, dyp, pooled * s.K);
    const float* xr = dw ? bf16::rounded(bf16::kOperandB, x, x_size(s)) : nullptr;
    const float* wr = dx ? bf16::rounded(bf16::kOperandC, w, w_size(s)) : nullptr;
    conv2d_relu_maxpool_backward(dx, dw, nullptr, dypr, am, yp, xr, wr, s, PH, PW);
    if (db) pooled_bias_grad(db, dyp, yp, pooled, s.K);
}

}  // namespace grebe
