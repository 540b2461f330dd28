// conv_bf16.cpp — convolution with bf16 operands and fp32 accumulation (bf16.h): x, w and dy
// are rounded to bf16 (into scratch) and the fp32 kernels of conv.h run on the rounded copies;
// the bias gradient is the fp32 sum of the unrounded dy. Built without ISA flags.
// Legend as in conv.h: N batch, H/W/C input, K filters, R/S kernel, P/Q output.
#include "kernels/bf16.h"
#include "kernels/bf16_internal.h"
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

}  // namespace

void conv2d_forward_bf16(float* y, const float* x, const float* w, const float* bias, bool relu,
                         const Conv2dShape& s) {
    // x (N,H,W,C), w (R,S,C,K), bias (K) -> y (N,P,Q,K), x and w rounded to bf16
    const float* xr = bf16::rounded(bf16::kOperandA, x, x_size(s));
    const float* wr = bf16::rounded(bf16::kOperandB, w, w_size(s));
    conv2d_forward(y, xr, wr, bias, relu, s);
}

void conv2d_backward_data_bf16(float* dx, const float* dy, const float* relu_y, const float* w,
                               const Conv2dShape& s) {
    // dy (N,P,Q,K), w (R,S,C,K) -> dx (N,H,W,C), dy and w rounded. Rounding commutes with the
    // relu mask (a masked element is +0 either way).
    const float* dyr = bf16::rounded(bf16::kOperandA, dy, y_size(s));
    const float* wr = bf16::rounded(bf16::kOperandB, w, w_size(s));
    conv2d_backward_data(dx, dyr, relu_y, wr, s);
}

void conv2d_backward_weights_bf16(float* dw, float* db, const float* dy, const float* relu_y,
                                  const float* x, const Conv2dShape& s) {
    // x (N,H,W,C), dy (N,P,Q,K) -> dw (R,S,C,K) from rounded x and dy; db (K) from dy as is
    const float* dyr = bf16::rounded(bf16::kOperandA, dy, y_size(s));
    const float* xr = bf16::rounded(bf16::kOperandB, x, x_size(s));
    conv2d_backward_weights(dw, nullptr, dyr, relu_y, xr, s);
    if (db) bias_grad(db, dy, relu_y, s.N * s.P * s.Q, s.K);
}

void conv2d_backward_bf16(float* dx, float* dw, float* db, const float* dy, const float* relu_y,
                          const float* x, const float* w, const Conv2dShape& s) {
    // dy (N,P,Q,K), x (N,H,W,C), w (R,S,C,K) -> dx, dw (rounded operands), db (unrounded dy)
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
    const float* dypr = bf16::rounded(bf16::kOperandA, dyp, pooled * s.K);
    const float* xr = dw ? bf16::rounded(bf16::kOperandB, x, x_size(s)) : nullptr;
    const float* wr = dx ? bf16::rounded(bf16::kOperandC, w, w_size(s)) : nullptr;
    conv2d_relu_maxpool_backward(dx, dw, nullptr, dypr, am, yp, xr, wr, s, PH, PW);
    if (db) pooled_bias_grad(db, dyp, yp, pooled, s.K);
}

}  // namespace grebe
