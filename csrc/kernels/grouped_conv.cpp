// grouped_conv.cpp — grouped 2D convolution (grouped_conv.h): im2col with group-major columns,
// one strided-batched GEMM over the groups, and a gathering col2im for the input gradient.
// Portable code; the GEMM inside dispatches per ISA.
#include "kernels/grouped_conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm/gemm.h"
#include "kernels/runtime.h"

namespace grebe {

namespace {

constexpr int64_t kChunkValues = 1 << 20;  // lowered floats per chunk of images (4 MiB)

int64_t images_per_chunk(const Conv2dShape& s) {
    const int64_t per_image = std::max<int64_t>(1, s.P * s.Q * s.R * s.S * s.C);
    return std::max<int64_t>(1, std::min<int64_t>(s.N, kChunkValues / per_image));
}

// col (rows of images [n0, n1); G, R, S, Cg) from x; out-of-image taps are 0.
void im2col(float* col, const float* x, const Conv2dShape& s, int64_t G, int64_t n0,
            int64_t n1) {
    const int64_t Cg = s.C / G, RSC = s.R * s.S * s.C, rows = (n1 - n0) * s.P * s.Q;
    const int nt = threads_for(rows * RSC);
    // Each lowered row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const int64_t n = n0 + i / (s.P * s.Q), p = i / s.Q % s.P, q = i % s.Q;
        float* c = col + i * RSC;
        for (int64_t r = 0; r < s.R; r++)
            for (int64_t t = 0; t < s.S; t++) {
                const int64_t ih = p * s.SH - s.PT + r * s.DH, iw = q * s.SW - s.PL + t * s.DW;
                const bool in = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                const float* xi = x + ((n * s.H + ih) * s.W + iw) * s.C;
                for (int64_t g = 0; g < G; g++) {
                    float* d = c + (g * s.R * s.S + r * s.S + t) * Cg;
                    if (in)
                        std::memcpy(d, xi + g * Cg, sizeof(float) * Cg);
                    else
                        std::fill(d, d + Cg, 0.0f);
                }
            }
    }
}

// dx rows of images [n0, n1) = the sum of the lowered gradients each input pixel fed.
void col2im(float* dx, const float* dcol, const Conv2dShape& s, int64_t G, int64_t n0,
            int64_t n1) {
    const int64_t Cg = s.C / G, RSC = s.R * s.S * s.C, rows = (n1 - n0) * s.H;
    const int nt = threads_for(rows * s.W * s.C * s.R * s.S);
    // Each (n, h) input row belongs to one iteration (a gather): race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const int64_t n = n0 + i / s.H, h = i % s.H;
        for (int64_t iw = 0; iw < s.W; iw++) {
            float* d = dx + ((n * s.H + h) * s.W + iw) * s.C;
            std::fill(d, d + s.C, 0.0f);
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t u = h + s.PT - r * s.DH;
                if (u < 0 || u % s.SH || u / s.SH >= s.P) continue;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t v = iw + s.PL - t * s.DW;
                    if (v < 0 || v % s.SW || v / s.SW >= s.Q) continue;
                    const float* c = dcol + (((i / s.H) * s.P + u / s.SH) * s.Q + v / s.SW) * RSC;
                    for (int64_t g = 0; g < G; g++) {
                        const float* cg = c + (g * s.R * s.S + r * s.S + t) * Cg;
                        for (int64_t k = 0; k < Cg; k++) d[g * Cg + k] += cg[k];
                    }
                }
            }
        }
    }
}

}  // namespace

void grouped_conv2d_forward(float* y, const float* x, const float* w, const float* bias,
                            const Conv2dShape& s, int64_t G) {
    const int64_t RSCg = s.R * s.S * (s.C / G), Kg = s.K / G, PQ = s.P * s.Q;
    const int64_t chunk = images_per_chunk(s);
    std::vector<float> col(static_cast<size_t>(chunk * PQ * RSCg * G));
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
        const int64_t n1 = std::min(s.N, n0 + chunk), rows = (n1 - n0) * PQ;
        im2col(col.data(), x, s, G, n0, n1);
        // y_g (rows, Kg) = col_g (rows, RSCg) @ w_g (RSCg, Kg), for every group g in one call.
        sgemm_strided_batched(false, false, G, rows, Kg, RSCg, 1.0f, col.data(), G * RSCg, RSCg,
                              w, s.K, Kg, 0.0f, y + n0 * PQ * s.K, s.K, Kg);
    }
    if (bias) {
        const int64_t rows = s.N * PQ;
        const int nt = threads_for(rows * s.K);
        // Each output row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t k = 0; k < s.K; k++) y[i * s.K + k] += bias[k];
    }
}

void grouped_conv2d_backward_data(float* dx, const float* dy, const float* w,
                                  const Conv2dShape& s, int64_t G) {
    const int64_t RSCg = s.R * s.S * (s.C / G), Kg = s.K / G, PQ = s.P * s.Q;
    const int64_t chunk = images_per_chunk(s);
    std::vector<float> dcol(static_cast<size_t>(chunk * PQ * RSCg * G));
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
        const int64_t n1 = std::min(s.N, n0 + chunk), rows = (n1 - n0) * PQ;
        // dcol_g (rows, RSCg) = dy_g (rows, Kg) @ w_g^T (Kg, RSCg).
        sgemm_strided_batched(false, true, G, rows, RSCg, Kg, 1.0f, dy + n0 * PQ * s.K, s.K, Kg,
                              w, s.K, Kg, 0.0f, dcol.data(), G * RSCg, RSCg);
        col2im(dx, dcol.data(), s, G, n0, n1);
    }
}

void grouped_conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x,
                                     const Conv2dShape& s, int64_t G) {
    const int64_t RSCg = s.R * s.S * (s.C / G), Kg = s.K / G, PQ = s.P * s.Q;
    const int64_t chunk = images_per_chunk(s);
    std::vector<float> col(static_cast<size_t>(chunk * PQ * RSCg * G));
    if (s.N == 0) std::fill(dw, dw + RSCg * s.K, 0.0f);
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
        const int64_t n1 = std::min(s.N, n0 + chunk), rows = (n1 - n0) * PQ;
        im2col(col.data(), x, s, G, n0, n1);
        // dw_g (RSCg, Kg) (+)= col_g^T (RSCg, rows) @ dy_g (rows, Kg); chunks add in order.
        sgemm_strided_batched(true, false, G, RSCg, Kg, rows, 1.0f, col.data(), G * RSCg, RSCg,
                              dy + n0 * PQ * s.K, s.K, Kg, n0 == 0 ? 0.0f : 1.0f, dw, s.K, Kg);
    }
    if (db) {
        const int64_t rows = s.N * PQ;
        const int nt = threads_for(rows * s.K);
        // Each db[k] belongs to one iteration; rows add in order: race-free, deterministic.
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t k = 0; k < s.K; k++) {
            double v = 0.0;  // in double: see conv_weights_avx512.cpp's bias_block
            for (int64_t i = 0; i < rows; i++) v += dy[i * s.K + k];
            db[k] = static_cast<float>(v);
        }
    }
}

}  // namespace grebe
