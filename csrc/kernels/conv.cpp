// conv.cpp — 2D convolution over NHWC float32 (conv.h): the entry points that pick the per-ISA
// kernels (grebe::active_isa()), the portable kernels, the plain reference loops (test
// oracle), and the scratch buffers. Built without ISA flags; AVX2 code lives in conv_avx2.cpp
// and conv_weights_avx2.cpp, AVX-512 code in conv_avx512.cpp, conv_data_avx512.cpp and
// conv_weights_avx512.cpp.
// Legend as in conv.h: N batch, H/W/C input, K filters, R/S kernel, P/Q output.
#include "kernels/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/conv_internal.h"
#include "kernels/runtime.h"

namespace grebe {

namespace conv {

void* scratch(int slot, size_t bytes) {
    struct Buf {
        void* p = nullptr;
        size_t n = 0;
        ~Buf() { std::free(p); }
    };
    thread_local Buf bufs[kNumSlots];
    Buf& b = bufs[slot];
    if (b.n < bytes) {
        std::free(b.p);
        b.p = nullptr;
        b.n = 0;
        const size_t rounded = (bytes + 63) / 64 * 64;
        b.p = std::aligned_alloc(64, rounded);
        if (!b.p) throw std::bad_alloc();
        b.n = rounded;
    }
    return b.p;
}

void expand_dy(float* dy, const DySource& src, int64_t N, int64_t P, int64_t Q, int64_t K) {
    const int64_t P2 = P / src.PH, Q2 = Q / src.PW, rows = N * P;
    const int nt = threads_for(rows * Q * K);
    // Each (n, p) row of dy belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t np = 0; np < rows; np++) {
        const int64_t n = np / P, p = np % P;
        for (int64_t q = 0; q < Q; q++) {
            float* d = dy + (np * Q + q) * K;
            if (!src.dyp) {
                const int64_t at = (np * Q + q) * K;
                for (int64_t k = 0; k < K; k++)
                    d[k] = src.relu_y && !(src.relu_y[at + k] > 0.0f) ? 0.0f : src.dy[at + k];
                continue;
            }
            const int64_t at = ((n * P2 + p / src.PH) * Q2 + q / src.PW) * K;
            const uint8_t code = static_cast<uint8_t>((p % src.PH) * src.PW + q % src.PW);
            for (int64_t k = 0; k < K; k++)
                d[k] = src.am[at + k] == code && src.yp[at + k] > 0.0f ? src.dyp[at + k] : 0.0f;
        }
    }
}

}  // namespace conv

int64_t conv2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                           int64_t pad_before, int64_t pad_after) {
    const int64_t span = in + pad_before + pad_after - ((k - 1) * dilation + 1);
    if (span < 0) return 0;
    return span / stride + 1;
}

namespace {

// Input row of output row p at kernel row r, or -1 outside the image.
inline int64_t in_row(int64_t p, int64_t r, int64_t stride, int64_t dil, int64_t pad,
                      int64_t size) {
    const int64_t h = p * stride - pad + r * dil;
    return h >= 0 && h < size ? h : -1;
}

inline float grad_through_relu(const float* dy, const float* relu_y, int64_t i) {
    return relu_y && !(relu_y[i] > 0.0f) ? 0.0f : dy[i];
}

// ---- portable kernels: direct loops, vectorizable over the contiguous K or C axis ----------

// x (N,H,W,C), w (R,S,C,K) -> y (N,P,Q,K). Each (n, p) output row belongs to one iteration of
// the parallel loop: race-free, and each y element is summed in (r, s, c) order.
void forward_generic(float* y, const float* x, const float* w, const float* bias, bool relu,
                     const Conv2dShape& s) {
    const int64_t rows = s.N * s.P;
    const int nt = threads_for(2 * rows * s.Q * s.K * s.R * s.S * s.C);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t np = 0; np < rows; np++) {
        const int64_t n = np / s.P, p = np % s.P;
        for (int64_t q = 0; q < s.Q; q++) {
            float* yo = y + (np * s.Q + q) * s.K;
            for (int64_t k = 0; k < s.K; k++) yo[k] = bias ? bias[k] : 0.0f;
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t h = in_row(p, r, s.SH, s.DH, s.PT, s.H);
                if (h < 0) continue;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t v = in_row(q, t, s.SW, s.DW, s.PL, s.W);
                    if (v < 0) continue;
                    const float* xi = x + ((n * s.H + h) * s.W + v) * s.C;
                    const float* wi = w + (r * s.S + t) * s.C * s.K;
                    for (int64_t c = 0; c < s.C; c++)
                        for (int64_t k = 0; k < s.K; k++) yo[k] += xi[c] * wi[c * s.K + k];
                }
            }
            if (relu)
                for (int64_t k = 0; k < s.K; k++) yo[k] = 0.0f > yo[k] ? 0.0f : yo[k];
        }
    }
}

// dy (N,P,Q,K), w -> dx (N,H,W,C). Each (n, h) row of dx belongs to one iteration: race-free;
// each dx element sums its (r, s, k) terms in a fixed order.
void backward_data_generic(float* dx, const float* dy, const float* relu_y, const float* w,
                           const Conv2dShape& s) {
    const int64_t rows = s.N * s.H;
    const int nt = threads_for(2 * s.N * s.P * s.Q * s.K * s.R * s.S * s.C);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t nh = 0; nh < rows; nh++) {
        const int64_t n = nh / s.H, h = nh % s.H;
        std::memset(dx + nh * s.W * s.C, 0, s.W * s.C * sizeof(float));
        for (int64_t r = 0; r < s.R; r++) {
            const int64_t ph = h + s.PT - r * s.DH;  // = p * SH when row p reads h at tap r
            if (ph < 0 || ph % s.SH || ph / s.SH >= s.P) continue;
            const int64_t p = ph / s.SH;
            for (int64_t v = 0; v < s.W; v++) {
                float* dxo = dx + (nh * s.W + v) * s.C;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t qw = v + s.PL - t * s.DW;
                    if (qw < 0 || qw % s.SW || qw / s.SW >= s.Q) continue;
                    const int64_t i = ((n * s.P + p) * s.Q + qw / s.SW) * s.K;
                    const float* wi = w + (r * s.S + t) * s.C * s.K;
                    for (int64_t c = 0; c < s.C; c++) {
                        float acc = 0.0f;
                        for (int64_t k = 0; k < s.K; k++)
                            acc += grad_through_relu(dy, relu_y, i + k) * wi[c * s.K + k];
                        dxo[c] += acc;
                    }
                }
            }
        }
    }
}

// x, dy -> dw (R,S,C,K), db (K). Each (r, s, c) row of dw belongs to one iteration (and db to
// the serial loop after it): race-free; each element sums over (n, p, q) in order.
void backward_weights_generic(float* dw, float* db, const float* dy, const float* relu_y,
                              const float* x, const Conv2dShape& s) {
    const int64_t RSC = s.R * s.S * s.C;
    const int nt = threads_for(2 * s.N * s.P * s.Q * s.K * RSC);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t row = 0; row < RSC; row++) {
        const int64_t r = row / (s.S * s.C), t = row / s.C % s.S, c = row % s.C;
        float* dwo = dw + row * s.K;
        for (int64_t k = 0; k < s.K; k++) dwo[k] = 0.0f;
        for (int64_t n = 0; n < s.N; n++)
            for (int64_t p = 0; p < s.P; p++) {
                const int64_t h = in_row(p, r, s.SH, s.DH, s.PT, s.H);
                if (h < 0) continue;
                for (int64_t q = 0; q < s.Q; q++) {
                    const int64_t v = in_row(q, t, s.SW, s.DW, s.PL, s.W);
                    if (v < 0) continue;
                    const float xv = x[((n * s.H + h) * s.W + v) * s.C + c];
                    const int64_t i = ((n * s.P + p) * s.Q + q) * s.K;
                    for (int64_t k = 0; k < s.K; k++)
                        dwo[k] += xv * grad_through_relu(dy, relu_y, i + k);
                }
            }
    }
    if (db) {  // summed in double, as the SIMD paths do (see conv_weights_avx512.cpp)
        std::vector<double> acc(s.K, 0.0);
        for (int64_t i = 0; i < s.N * s.P * s.Q; i++)
            for (int64_t k = 0; k < s.K; k++) acc[k] += grad_through_relu(dy, relu_y, i * s.K + k);
        for (int64_t k = 0; k < s.K; k++) db[k] = static_cast<float>(acc[k]);
    }
}

}  // namespace

// ---- entry points ----------------------------------------------------------------------------

void conv2d_forward(float* y, const float* x, const float* w, const float* bias, bool relu,
                    const Conv2dShape& s) {
    if (active_isa() >= Isa::avx512)
        conv::forward_avx512(y, x, w, bias, relu, s);
    else if (active_isa() >= Isa::avx2)
        conv::forward_avx2(y, x, w, bias, relu, s);
    else
        forward_generic(y, x, w, bias, relu, s);
}

void conv2d_backward_data(float* dx, const float* dy, const float* relu_y, const float* w,
                          const Conv2dShape& s) {
    if (active_isa() >= Isa::avx2) {
        conv::DySource src;
        src.dy = dy;
        src.relu_y = relu_y;
        if (active_isa() >= Isa::avx512)
            conv::backward_data_avx512(dx, src, w, s);
        else
            conv::backward_data_avx2(dx, src, w, s);
    } else {
        backward_data_generic(dx, dy, relu_y, w, s);
    }
}

void conv2d_backward_weights(float* dw, float* db, const float* dy, const float* relu_y,
                             const float* x, const Conv2dShape& s) {
    if (active_isa() >= Isa::avx2) {
        conv::DySource src;
        src.dy = dy;
        src.relu_y = relu_y;
        if (active_isa() >= Isa::avx512)
            conv::backward_weights_avx512(dw, db, src, x, s);
        else
            conv::backward_weights_avx2(dw, db, src, x, s);
    } else {
        backward_weights_generic(dw, db, dy, relu_y, x, s);
    }
}

// dst (n) = src where mask > 0, else +0. Branch-free (a bit mask), so the compiler vectorizes
// it and random signs cost no mispredictions. Elementwise: any split is race-free.
static void mask_by_relu(float* dst, const float* src, const float* mask, int64_t n) {
    const int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        std::memcpy(&bits, src + i, 4);
        bits &= 0u - static_cast<uint32_t>(mask[i] > 0.0f);
        std::memcpy(dst + i, &bits, 4);
    }
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* relu_y,
                     const float* x, const float* w, const Conv2dShape& s) {
    if (relu_y && dx && dw) {
        const int64_t n = s.N * s.P * s.Q * s.K;
        float* masked = static_cast<float*>(conv::scratch(conv::kMaskedDy, n * sizeof(float)));
        mask_by_relu(masked, dy, relu_y, n);
        dy = masked;
        relu_y = nullptr;
    }
    if (dx) conv2d_backward_data(dx, dy, relu_y, w, s);
    if (dw) conv2d_backward_weights(dw, db, dy, relu_y, x, s);
}

// ---- Conv2D(relu) + MaxPooling, fused (see conv.h) -------------------------------------------

namespace {

// The conv output rows/columns that the pooling keeps: P2*PH x Q2*PW.
Conv2dShape pooled_region(const Conv2dShape& s, int64_t PH, int64_t PW) {
    Conv2dShape t = s;
    t.P = s.P / PH * PH;
    t.Q = s.Q / PW * PW;
    return t;
}

// Portable path: the conv into scratch, then the pooling loops (same winner rule as AVX2).
void forward_relu_maxpool_generic(float* yp, uint8_t* am, const float* x, const float* w,
                                  const float* bias, const Conv2dShape& s, int64_t PH,
                                  int64_t PW) {
    const Conv2dShape t = pooled_region(s, PH, PW);
    const int64_t P2 = t.P / PH, Q2 = t.Q / PW, K = s.K;
    float* y = static_cast<float*>(conv::scratch(conv::kPooledDy, t.N * t.P * t.Q * K * 4));
    forward_generic(y, x, w, bias, false, t);
    const int64_t rows = t.N * P2;
    const int nt = threads_for(rows * Q2 * K * PH * PW);
    // Each (n, i) pooled row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ni = 0; ni < rows; ni++) {
        const int64_t n = ni / P2, i = ni % P2;
        for (int64_t j = 0; j < Q2; j++)
            for (int64_t k = 0; k < K; k++) {
                float best = 0.0f;
                int idx = 0;
                for (int64_t a = 0; a < PH; a++)
                    for (int64_t b = 0; b < PW; b++) {
                        const float v = y[((n * t.P + i * PH + a) * t.Q + j * PW + b) * K + k];
                        if ((a == 0 && b == 0) || v > best || v != v) {
                            best = v;
                            idx = static_cast<int>(a * PW + b);
                        }
                    }
                yp[(ni * Q2 + j) * K + k] = 0.0f > best ? 0.0f : best;
                am[(ni * Q2 + j) * K + k] = static_cast<uint8_t>(idx);
            }
    }
}

}  // namespace

void conv2d_relu_maxpool_forward(float* yp, uint8_t* am, const float* x, const float* w,
                                 const float* bias, const Conv2dShape& s, int64_t PH,
                                 int64_t PW) {
    if (active_isa() >= Isa::avx512)
        conv::forward_relu_maxpool_avx512(yp, am, x, w, bias, s, PH, PW);
    else if (active_isa() >= Isa::avx2)
        conv::forward_relu_maxpool_avx2(yp, am, x, w, bias, s, PH, PW);
    else
        forward_relu_maxpool_generic(yp, am, x, w, bias, s, PH, PW);
}

void conv2d_relu_maxpool_backward(float* dx, float* dw, float* db, const float* dyp,
                                  const uint8_t* am, const float* yp, const float* x,
                                  const float* w, const Conv2dShape& s, int64_t PH,
                                  int64_t PW) {
    const Conv2dShape t = pooled_region(s, PH, PW);  // the pixels whose gradient may be != 0
    conv::DySource src;
    src.dyp = dyp, src.am = am, src.yp = yp, src.PH = PH, src.PW = PW;
    if (active_isa() >= Isa::avx512) {  // routes the pooled gradient on the fly
        if (dx) conv::backward_data_avx512(dx, src, w, t);
        if (dw) conv::backward_weights_avx512(dw, db, src, x, t);
        return;
    }
    if (active_isa() >= Isa::avx2) {  // routes the pooled gradient on the fly, block by block
        if (dx) conv::backward_data_avx2(dx, src, w, t);
        if (dw) conv::backward_weights_avx2(dw, db, src, x, t);
        return;
    }
    float* dy = static_cast<float*>(
        conv::scratch(conv::kPooledDy, std::max<int64_t>(1, t.N * t.P * t.Q * t.K) * 4));
    conv::expand_dy(dy, src, t.N, t.P, t.Q, t.K);
    conv2d_backward(dx, dw, db, dy, nullptr, x, w, t);
}

// ---- the reference: the definition in conv.h, term by term, in double ------------------------

void conv2d_forward_reference(float* y, const float* x, const float* w, const float* bias,
                              bool relu, const Conv2dShape& s) {
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t k = 0; k < s.K; k++) {
                    double acc = bias ? bias[k] : 0.0;
                    for (int64_t r = 0; r < s.R; r++)
                        for (int64_t t = 0; t < s.S; t++)
                            for (int64_t c = 0; c < s.C; c++) {
                                const int64_t h = p * s.SH - s.PT + r * s.DH;
                                const int64_t v = q * s.SW - s.PL + t * s.DW;
                                if (h < 0 || h >= s.H || v < 0 || v >= s.W) continue;
                                acc += double(x[((n * s.H + h) * s.W + v) * s.C + c]) *
                                       w[((r * s.S + t) * s.C + c) * s.K + k];
                            }
                    if (relu && acc < 0) acc = 0;
                    y[((n * s.P + p) * s.Q + q) * s.K + k] = static_cast<float>(acc);
                }
}

void conv2d_backward_data_reference(float* dx, const float* dy, const float* relu_y,
                                    const float* w, const Conv2dShape& s) {
    std::vector<double> acc(s.N * s.H * s.W * s.C, 0.0);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t k = 0; k < s.K; k++) {
                    const int64_t i = ((n * s.P + p) * s.Q + q) * s.K + k;
                    const double g = grad_through_relu(dy, relu_y, i);
                    for (int64_t r = 0; r < s.R; r++)
                        for (int64_t t = 0; t < s.S; t++)
                            for (int64_t c = 0; c < s.C; c++) {
                                const int64_t h = p * s.SH - s.PT + r * s.DH;
                                const int64_t v = q * s.SW - s.PL + t * s.DW;
                                if (h < 0 || h >= s.H || v < 0 || v >= s.W) continue;
                                acc[((n * s.H + h) * s.W + v) * s.C + c] +=
                                    g * w[((r * s.S + t) * s.C + c) * s.K + k];
                            }
                }
    for (size_t i = 0; i < acc.size(); i++) dx[i] = static_cast<float>(acc[i]);
}

void conv2d_backward_weights_reference(float* dw, float* db, const float* dy,
                                       const float* relu_y, const float* x,
                                       const Conv2dShape& s) {
    std::vector<double> acc(s.R * s.S * s.C * s.K, 0.0), accb(s.K, 0.0);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t k = 0; k < s.K; k++) {
                    const int64_t i = ((n * s.P + p) * s.Q + q) * s.K + k;
                    const double g = grad_through_relu(dy, relu_y, i);
                    accb[k] += g;
                    for (int64_t r = 0; r < s.R; r++)
                        for (int64_t t = 0; t < s.S; t++)
                            for (int64_t c = 0; c < s.C; c++) {
                                const int64_t h = p * s.SH - s.PT + r * s.DH;
                                const int64_t v = q * s.SW - s.PL + t * s.DW;
                                if (h < 0 || h >= s.H || v < 0 || v >= s.W) continue;
                                acc[((r * s.S + t) * s.C + c) * s.K + k] +=
                                    double(x[((n * s.H + h) * s.W + v) * s.C + c]) * g;
                            }
                }
    for (size_t i = 0; i < acc.size(); i++) dw[i] = static_cast<float>(acc[i]);
    if (db)
        for (int64_t k = 0; k < s.K; k++) db[k] = static_cast<float>(accb[k]);
}

}  // namespace grebe
