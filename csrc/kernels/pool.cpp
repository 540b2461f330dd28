// pool.cpp — max and average pooling over NHWC float32 (see pool.h for the legend), and global
// pooling. Built without ISA flags: the portable row kernels live here, the AVX2 and AVX-512
// ones (max pooling with a u8 argmax, average pooling) in pool_avx2.cpp / pool_avx512.cpp,
// chosen at run time with grebe::active_isa(). Global average pooling (both ways) and
// global max forward have AVX-512 bodies too (the same per-channel operations in the same
// order: the same bits).
//
// Threading: forward kernels give each thread whole output rows (n, p); backward kernels give
// each thread whole input rows (n, h) and *gather* from the windows that hold the row, so
// overlapping windows (stride < pool) never make two threads write one dx element, and every
// dx element sums its contributions in the same (p, q) order for any thread count.
#include "kernels/pool.h"

#include <cstring>

#include "kernels/runtime.h"

namespace grebe {

// AVX2 row kernels (pool_avx2.cpp); same contracts as the portable ones below.
void max_pool2d_row_u8_avx2(float* yr, uint8_t* ar, const float* xn, const Pool2dShape& s,
                            int64_t p);
void max_pool2d_backward_row_u8_avx2(float* dxr, const float* dyn, const uint8_t* an,
                                     const Pool2dShape& s, int64_t h);
void avg_pool2d_row_avx2(float* yr, const float* xn, const Pool2dShape& s, int64_t p);
// AVX-512 row kernels (pool_avx512.cpp); the same contracts.
void max_pool2d_row_u8_avx512(float* yr, uint8_t* ar, const float* xn, const Pool2dShape& s,
                              int64_t p);
void max_pool2d_backward_row_u8_avx512(float* dxr, const float* dyn, const uint8_t* an,
                                       const Pool2dShape& s, int64_t h);
void avg_pool2d_row_avx512(float* yr, const float* xn, const Pool2dShape& s, int64_t p);
void avg_pool2d_backward_row_avx512(float* dxr, const float* dyn, const Pool2dShape& s,
                                    int64_t h);
void avg_pool2d_backward_row_avx2(float* dxr, const float* dyn, const Pool2dShape& s,
                                  int64_t h);
// AVX-512 global pooling bodies (pool_avx512.cpp); the portable loops' operations, same bits.
void global_avg_pool_block_avx512(float* yb, const float* xb, int64_t S, int64_t C, int64_t cn);
void global_avg_pool_backward_row_avx512(float* dxr, const float* dyn, int64_t C, float inv);
void global_max_pool_image_avx512(float* yn, int32_t* an, const float* xn, int64_t S,
                                  int64_t C);

int64_t pool_output_size(int64_t in, int64_t k, int64_t stride, bool same, int64_t* pad_before) {
    if (!same) {
        *pad_before = 0;
        return in >= k ? (in - k) / stride + 1 : 0;
    }
    const int64_t out = (in + stride - 1) / stride;
    int64_t total = (out - 1) * stride + k - in;
    if (total < 0) total = 0;
    *pad_before = total / 2;
    return out;
}

Pool2dShape pool2d_shape(int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW,
                         int64_t SH, int64_t SW, bool same) {
    Pool2dShape s{N, H, W, C, KH, KW, SH, SW, 0, 0, 0, 0};
    s.P = pool_output_size(H, KH, SH, same, &s.PT);
    s.Q = pool_output_size(W, KW, SW, same, &s.PL);
    return s;
}

namespace {

// The window positions [lo, hi) of output index `o` that fall inside an axis of length `in`.
inline void window_range(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in,
                         int64_t* lo, int64_t* hi) {
    const int64_t start = o * stride - pad;
    *lo = start < 0 ? -start : 0;
    *hi = start + k > in ? in - start : k;
}

// The output rows [p_lo, p_hi] whose windows hold input row h (empty when p_lo > p_hi).
inline void rows_holding(int64_t h, const Pool2dShape& s, int64_t* p_lo, int64_t* p_hi) {
    const int64_t a = h + s.PT - s.KH + 1;  // p >= a / SH, rounded up
    *p_lo = a <= 0 ? 0 : (a + s.SH - 1) / s.SH;
    const int64_t b = (h + s.PT) / s.SH;
    *p_hi = b < s.P - 1 ? b : s.P - 1;
}

// yq, aq (C) = the running max and its index, updated with window position k's row xr (C).
// Unconditional stores (selects) and no aliasing so that the loop vectorizes.
template <typename Idx>
void max_update(float* __restrict yq, Idx* __restrict aq, const float* __restrict xr, Idx k,
                int64_t C) {
    for (int64_t c = 0; c < C; c++) {
        const float v = xr[c], m = yq[c];
        const bool take = (v > m) | (v != v);  // a NaN wins (PyTorch)
        yq[c] = take ? v : m;
        aq[c] = take ? k : aq[c];
    }
}

// Output row (n, p): xn (H,W,C) of image n -> yr (Q,C), ar (Q,C).
template <typename Idx>
void max_row(float* yr, Idx* ar, const float* xn, const Pool2dShape& s, int64_t p) {
    const int64_t C = s.C;
    int64_t kh_lo, kh_hi;
    window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
    const int64_t h0 = p * s.SH - s.PT;
    for (int64_t q = 0; q < s.Q; q++) {
        int64_t kw_lo, kw_hi;
        window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
        const int64_t w0 = q * s.SW - s.PL;
        float* yq = yr + q * C;
        Idx* aq = ar + q * C;
        bool first = true;
        for (int64_t kh = kh_lo; kh < kh_hi; kh++)
            for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                const float* xr = xn + ((h0 + kh) * s.W + w0 + kw) * C;
                const Idx k = static_cast<Idx>(kh * s.KW + kw);
                if (first) {
                    for (int64_t c = 0; c < C; c++) {
                        yq[c] = xr[c];
                        aq[c] = k;
                    }
                    first = false;
                    continue;
                }
                max_update(yq, aq, xr, k, C);
            }
    }
}

// Input row (n, h): dyn (P,Q,C), an (P,Q,C) of image n -> dxr (W,C).
template <typename Idx>
void max_backward_row(float* dxr, const float* dyn, const Idx* an, const Pool2dShape& s,
                      int64_t h) {
    const int64_t C = s.C;
    std::memset(dxr, 0, sizeof(float) * s.W * C);
    int64_t p_lo, p_hi;
    rows_holding(h, s, &p_lo, &p_hi);
    for (int64_t p = p_lo; p <= p_hi; p++) {
        const int64_t kh = h - (p * s.SH - s.PT);
        for (int64_t q = 0; q < s.Q; q++) {
            int64_t kw_lo, kw_hi;
            window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
            const float* dyq = dyn + (p * s.Q + q) * C;
            const Idx* aq = an + (p * s.Q + q) * C;
            for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                float* dxw = dxr + (q * s.SW - s.PL + kw) * C;
                const Idx k = static_cast<Idx>(kh * s.KW + kw);
                // dx += dy where the winner is here, else += 0: the select is a bit mask on
                // dy so the loop vectorizes (a float select would be "control flow" to GCC).
                for (int64_t c = 0; c < C; c++) {
                    uint32_t bits;
                    std::memcpy(&bits, dyq + c, sizeof bits);
                    bits &= 0u - static_cast<uint32_t>(aq[c] == k);
                    float add;
                    std::memcpy(&add, &bits, sizeof add);
                    dxw[c] += add;
                }
            }
        }
    }
}

// Output row (n, p): xn (H,W,C) -> yr (Q,C), the mean over each window's input positions.
void avg_row(float* yr, const float* xn, const Pool2dShape& s, int64_t p) {
    const int64_t C = s.C;
    int64_t kh_lo, kh_hi;
    window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
    const int64_t h0 = p * s.SH - s.PT;
    for (int64_t q = 0; q < s.Q; q++) {
        int64_t kw_lo, kw_hi;
        window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
        const int64_t w0 = q * s.SW - s.PL;
        float* yq = yr + q * C;
        for (int64_t c = 0; c < C; c++) yq[c] = 0.0f;
        for (int64_t kh = kh_lo; kh < kh_hi; kh++)
            for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                const float* xr = xn + ((h0 + kh) * s.W + w0 + kw) * C;
                for (int64_t c = 0; c < C; c++) yq[c] += xr[c];
            }
        const float count = static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo));
        for (int64_t c = 0; c < C; c++) yq[c] /= count;
    }
}

// Input row (n, h): dyn (P,Q,C) -> dxr (W,C).
void avg_backward_row(float* dxr, const float* dyn, const Pool2dShape& s, int64_t h) {
    const int64_t C = s.C;
    std::memset(dxr, 0, sizeof(float) * s.W * C);
    int64_t p_lo, p_hi;
    rows_holding(h, s, &p_lo, &p_hi);
    for (int64_t p = p_lo; p <= p_hi; p++) {
        int64_t kh_lo, kh_hi;
        window_range(p, s.SH, s.PT, s.KH, s.H, &kh_lo, &kh_hi);
        for (int64_t q = 0; q < s.Q; q++) {
            int64_t kw_lo, kw_hi;
            window_range(q, s.SW, s.PL, s.KW, s.W, &kw_lo, &kw_hi);
            const float count = static_cast<float>((kh_hi - kh_lo) * (kw_hi - kw_lo));
            const float* dyq = dyn + (p * s.Q + q) * C;
            for (int64_t kw = kw_lo; kw < kw_hi; kw++) {
                float* dxw = dxr + (q * s.SW - s.PL + kw) * C;
                for (int64_t c = 0; c < C; c++) dxw[c] += dyq[c] / count;
            }
        }
    }
}

// Runs row(n, r) for every n < N, r < R: each call writes only its own row of the output, so
// the rows may go to any thread in any order. `work` sizes the thread team.
template <typename Row>
void for_each_row(int64_t N, int64_t R, int64_t work, const Row& row) {
    #pragma omp parallel for collapse(2) schedule(static) num_threads(threads_for(work))
    for (int64_t n = 0; n < N; n++)
        for (int64_t r = 0; r < R; r++) row(n, r);
}

template <typename Idx>
void max_forward(float* y, Idx* argmax, const float* x, const Pool2dShape& s) {
    const int64_t img = s.H * s.W * s.C, out = s.P * s.Q * s.C, row = s.Q * s.C;
    const bool avx2 = sizeof(Idx) == 1 && active_isa() != Isa::generic;
    const bool avx512 = sizeof(Idx) == 1 && active_isa() == Isa::avx512;
    // Race-free: row (n, p) writes y[n, p] and argmax[n, p] only.
    for_each_row(s.N, s.P, s.N * img, [&](int64_t n, int64_t p) {
        float* yr = y + n * out + p * row;
        Idx* ar = argmax + n * out + p * row;
        if constexpr (sizeof(Idx) == 1) {
            if (avx512) return max_pool2d_row_u8_avx512(yr, ar, x + n * img, s, p);
            if (avx2) return max_pool2d_row_u8_avx2(yr, ar, x + n * img, s, p);
        }
        max_row(yr, ar, x + n * img, s, p);
    });
}

template <typename Idx>
void max_backward(float* dx, const float* dy, const Idx* argmax, const Pool2dShape& s) {
    const int64_t img = s.H * s.W * s.C, out = s.P * s.Q * s.C, row = s.W * s.C;
    const bool avx2 = sizeof(Idx) == 1 && active_isa() != Isa::generic;
    const bool avx512 = sizeof(Idx) == 1 && active_isa() == Isa::avx512;
    // Race-free: row (n, h) writes dx[n, h] only, gathering from the windows that hold it.
    for_each_row(s.N, s.H, s.N * img, [&](int64_t n, int64_t h) {
        float* dxr = dx + n * img + h * row;
        if constexpr (sizeof(Idx) == 1) {
            if (avx512)
                return max_pool2d_backward_row_u8_avx512(dxr, dy + n * out, argmax + n * out, s,
                                                         h);
            if (avx2) return max_pool2d_backward_row_u8_avx2(dxr, dy + n * out, argmax + n * out,
                                                             s, h);
        }
        max_backward_row(dxr, dy + n * out, argmax + n * out, s, h);
    });
}

}  // namespace

void max_pool2d_forward(float* y, uint8_t* argmax, const float* x, const Pool2dShape& s) {
    max_forward(y, argmax, x, s);
}
void max_pool2d_forward(float* y, int32_t* argmax, const float* x, const Pool2dShape& s) {
    max_forward(y, argmax, x, s);
}
void max_pool2d_backward(float* dx, const float* dy, const uint8_t* argmax,
                         const Pool2dShape& s) {
    max_backward(dx, dy, argmax, s);
}
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax,
                         const Pool2dShape& s) {
    max_backward(dx, dy, argmax, s);
}

void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s) {
    const int64_t img = s.H * s.W * s.C, out = s.P * s.Q * s.C, row = s.Q * s.C;
    // Race-free: row (n, p) writes y[n, p] only.
    const bool avx2 = active_isa() != Isa::generic, avx512 = active_isa() == Isa::avx512;
    for_each_row(s.N, s.P, s.N * img, [&](int64_t n, int64_t p) {
        if (avx512) return avg_pool2d_row_avx512(y + n * out + p * row, x + n * img, s, p);
        if (avx2) return avg_pool2d_row_avx2(y + n * out + p * row, x + n * img, s, p);
        avg_row(y + n * out + p * row, x + n * img, s, p);
    });
}

void avg_pool2d_backward(float* dx, const float* dy, const Pool2dShape& s) {
    const int64_t img = s.H * s.W * s.C, out = s.P * s.Q * s.C, row = s.W * s.C;
    // Race-free: row (n, h) writes dx[n, h] only, gathering from the windows that hold it.
    const bool avx2 = active_isa() != Isa::generic, avx512 = active_isa() == Isa::avx512;
    for_each_row(s.N, s.H, s.N * img, [&](int64_t n, int64_t h) {
        if (avx512)
            return avg_pool2d_backward_row_avx512(dx + n * img + h * row, dy + n * out, s, h);
        if (avx2) return avg_pool2d_backward_row_avx2(dx + n * img + h * row, dy + n * out, s, h);
        avg_backward_row(dx + n * img + h * row, dy + n * out, s, h);
    });
}

// Channels per block of the global reductions: the accumulators of one block stay in registers
// / L1 while the block streams through S rows.
constexpr int64_t kGlobalBlock = 256;

void global_avg_pool_forward(float* y, const float* x, int64_t N, int64_t S, int64_t C) {
    const int64_t blocks = (C + kGlobalBlock - 1) / kGlobalBlock;
    const bool avx512 = active_isa() == Isa::avx512;
    // Race-free: block (n, b) writes y[n, b*256 : (b+1)*256] only; each sum runs over s in
    // order inside one thread.
    for_each_row(N, blocks, N * S * C, [&](int64_t n, int64_t b) {
        const int64_t c0 = b * kGlobalBlock;
        const int64_t cn = C - c0 < kGlobalBlock ? C - c0 : kGlobalBlock;
        if (avx512)
            return global_avg_pool_block_avx512(y + n * C + c0, x + n * S * C + c0, S, C, cn);
        double acc[kGlobalBlock];
        for (int64_t c = 0; c < cn; c++) acc[c] = 0.0;
        const float* xn = x + n * S * C + c0;
        for (int64_t i = 0; i < S; i++)
            for (int64_t c = 0; c < cn; c++) acc[c] += xn[i * C + c];
        for (int64_t c = 0; c < cn; c++)
            y[n * C + c0 + c] = static_cast<float>(acc[c] / static_cast<double>(S));
    });
}

void global_avg_pool_backward(float* dx, const float* dy, int64_t N, int64_t S, int64_t C) {
    const float inv = 1.0f / static_cast<float>(S);
    const bool avx512 = active_isa() == Isa::avx512;
    // Race-free: row (n, i) writes dx[n, i] only.
    for_each_row(N, S, N * S * C, [&](int64_t n, int64_t i) {
        float* dxr = dx + (n * S + i) * C;
        const float* dyn = dy + n * C;
        if (avx512) return global_avg_pool_backward_row_avx512(dxr, dyn, C, inv);
        for (int64_t c = 0; c < C; c++) dxr[c] = dyn[c] * inv;
    });
}

void global_max_pool_forward(float* y, int32_t* argmax, const float* x, int64_t N, int64_t S,
                             int64_t C) {
    const bool avx512 = active_isa() == Isa::avx512;
    // Race-free: image n writes y[n] and argmax[n] only.
    for_each_row(N, 1, N * S * C, [&](int64_t n, int64_t) {
        float* yn = y + n * C;
        int32_t* an = argmax + n * C;
        const float* xn = x + n * S * C;
        if (avx512) return global_max_pool_image_avx512(yn, an, xn, S, C);
        for (int64_t c = 0; c < C; c++) {
            yn[c] = xn[c];
            an[c] = 0;
        }
        for (int64_t i = 1; i < S; i++) {
            const float* xr = xn + i * C;
            for (int64_t c = 0; c < C; c++) {
                const float v = xr[c], m = yn[c];
                const bool take = (v > m) | (v != v);  // a NaN wins (PyTorch)
                yn[c] = take ? v : m;
                an[c] = take ? static_cast<int32_t>(i) : an[c];
            }
        }
    });
}

void global_max_pool_backward(float* dx, const float* dy, const int32_t* argmax, int64_t N,
                              int64_t S, int64_t C) {
    // Portable on every ISA: a memset and N*C stores run at the store bandwidth already.
    // Race-free: image n writes dx[n] only.
    for_each_row(N, 1, N * S * C, [&](int64_t n, int64_t) {
        float* dxn = dx + n * S * C;
        std::memset(dxn, 0, sizeof(float) * S * C);
        for (int64_t c = 0; c < C; c++) dxn[argmax[n * C + c] * C + c] = dy[n * C + c];
    });
}

}  // namespace grebe
