// depthwise_conv.cpp — depthwise 2D convolution over NHWC float32 (depthwise_conv.h): the entry
// points that pick the AVX-512 or AVX2 kernels (depthwise_conv_avx512.cpp, _avx2.cpp) or the
// portable ones here, the backward-weights driver (chunks of images x blocks of channels, then a
// fixed-order sum), and the plain reference loops. Built without ISA flags.
// Legend as in depthwise_conv.h: N batch, H/W/C input, M multiplier, O = C*M, R/S kernel.
#include "kernels/depthwise_conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/runtime.h"

namespace grebe {

namespace {

constexpr int64_t kImagesPerChunk = 4;  // backward-weights: images per partial sum
constexpr int64_t kChannelBlock = 64;   // backward-weights: output channels per piece

bool use_avx512(const DepthwiseShape& s) { return s.M == 1 && active_isa() == Isa::avx512; }
// AVX2: stride 1 only. Measured (Zen 4, 1 thread, batch 8): 2.4x the portable loops at
// 112x112x32, 1.8-2.3x at 14x14x384 and 7x7x960, but 0.65x at 112x112x96 stride 2, where the
// portable per-pixel loops stream the input better (the AVX-512 kernels lose there too).
bool use_avx2(const DepthwiseShape& s) {
    return s.M == 1 && s.SH == 1 && s.SW == 1 && active_isa() == Isa::avx2;
}

// Input row/column of output index o at tap t, or -1 when it falls in the padding.
inline int64_t in_index(int64_t o, int64_t t, int64_t stride, int64_t pad, int64_t dil,
                        int64_t in) {
    const int64_t i = o * stride - pad + t * dil;
    return i >= 0 && i < in ? i : -1;
}

// Output index o with o*stride - pad + t*dil == i, or -1 (not on the stride grid / outside).
inline int64_t out_index(int64_t i, int64_t t, int64_t stride, int64_t pad, int64_t dil,
                         int64_t out) {
    const int64_t u = i + pad - t * dil;
    if (u < 0 || u % stride) return -1;
    const int64_t o = u / stride;
    return o < out ? o : -1;
}

// y (N,P,Q,O): one output pixel at a time, taps in (r, s) order after the bias.
void forward_generic(float* y, const float* x, const float* w, const float* bias,
                     const DepthwiseShape& s) {
    const int64_t O = s.C * s.M, rows = s.N * s.P;
    const int nt = threads_for(rows * s.Q * O * s.R * s.S);
    // Each (n, p) output row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t np = 0; np < rows; np++) {
        const int64_t n = np / s.P, p = np % s.P;
        for (int64_t q = 0; q < s.Q; q++) {
            float* yo = y + (np * s.Q + q) * O;
            for (int64_t o = 0; o < O; o++) yo[o] = bias ? bias[o] : 0.0f;
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t ih = in_index(p, r, s.SH, s.PT, s.DH, s.H);
                if (ih < 0) continue;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t iw = in_index(q, t, s.SW, s.PL, s.DW, s.W);
                    if (iw < 0) continue;
                    const float* xi = x + ((n * s.H + ih) * s.W + iw) * s.C;
                    const float* wk = w + (r * s.S + t) * O;
                    if (s.M == 1)  // the common case, as a loop the compiler vectorizes
                        for (int64_t c = 0; c < s.C; c++) yo[c] += xi[c] * wk[c];
                    else
                        for (int64_t c = 0; c < s.C; c++)
                            for (int64_t m = 0; m < s.M; m++)
                                yo[c * s.M + m] += xi[c] * wk[c * s.M + m];
                }
            }
        }
    }
}

// dx (N,H,W,C): each input pixel gathers the output pixels its taps reached.
void backward_data_generic(float* dx, const float* dy, const float* w,
                           const DepthwiseShape& s) {
    const int64_t O = s.C * s.M, rows = s.N * s.H;
    const int nt = threads_for(rows * s.W * O * s.R * s.S);
    // Each (n, h) input row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t nh = 0; nh < rows; nh++) {
        const int64_t n = nh / s.H, h = nh % s.H;
        for (int64_t iw = 0; iw < s.W; iw++) {
            float* d = dx + (nh * s.W + iw) * s.C;
            std::fill(d, d + s.C, 0.0f);
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t p = out_index(h, r, s.SH, s.PT, s.DH, s.P);
                if (p < 0) continue;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t q = out_index(iw, t, s.SW, s.PL, s.DW, s.Q);
                    if (q < 0) continue;
                    const float* g = dy + ((n * s.P + p) * s.Q + q) * O;
                    const float* wk = w + (r * s.S + t) * O;
                    if (s.M == 1)
                        for (int64_t c = 0; c < s.C; c++) d[c] += g[c] * wk[c];
                    else
                        for (int64_t c = 0; c < s.C; c++)
                            for (int64_t m = 0; m < s.M; m++)
                                d[c] += g[c * s.M + m] * wk[c * s.M + m];
                }
            }
        }
    }
}

// One piece of backward-weights, portable: images [n0, n1), channels [o0, o0 + ob).
void weights_piece_generic(float* part, float* dbp, const float* dy, const float* x,
                           const DepthwiseShape& s, int64_t n0, int64_t n1, int64_t o0,
                           int64_t ob) {
    const int64_t O = s.C * s.M;
    for (int64_t rs = 0; rs < s.R * s.S; rs++) std::fill(part + rs * O, part + rs * O + ob, 0.f);
    std::fill(dbp, dbp + ob, 0.0f);
    for (int64_t n = n0; n < n1; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++) {
                const float* g = dy + ((n * s.P + p) * s.Q + q) * O + o0;
                for (int64_t o = 0; o < ob; o++) dbp[o] += g[o];
                for (int64_t r = 0; r < s.R; r++) {
                    const int64_t ih = in_index(p, r, s.SH, s.PT, s.DH, s.H);
                    if (ih < 0) continue;
                    for (int64_t t = 0; t < s.S; t++) {
                        const int64_t iw = in_index(q, t, s.SW, s.PL, s.DW, s.W);
                        if (iw < 0) continue;
                        const float* xi = x + ((n * s.H + ih) * s.W + iw) * s.C;
                        float* acc = part + (r * s.S + t) * O;
                        if (s.M == 1)
                            for (int64_t o = 0; o < ob; o++) acc[o] += g[o] * xi[o0 + o];
                        else
                            for (int64_t o = 0; o < ob; o++) acc[o] += g[o] * xi[(o0 + o) / s.M];
                    }
                }
            }
}

}  // namespace

void depthwise_conv2d_forward(float* y, const float* x, const float* w, const float* bias,
                              const DepthwiseShape& s) {
    if (use_avx512(s))
        depthwise::forward_avx512(y, x, w, bias, s);
    else if (use_avx2(s))
        depthwise::forward_avx2(y, x, w, bias, s);
    else
        forward_generic(y, x, w, bias, s);
}

void depthwise_conv2d_backward_data(float* dx, const float* dy, const float* w,
                                    const DepthwiseShape& s) {
    if (use_avx512(s))
        depthwise::backward_data_avx512(dx, dy, w, s);
    else if (use_avx2(s))
        depthwise::backward_data_avx2(dx, dy, w, s);
    else
        backward_data_generic(dx, dy, w, s);
}

// Pieces (chunk of kImagesPerChunk images, block of kChannelBlock channels) each write their
// own partial sums (chunk, R*S, O) and (chunk, O); then dw and db add the chunks in order.
void depthwise_conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x,
                                       const DepthwiseShape& s) {
    const int64_t O = s.C * s.M, RS = s.R * s.S;
    const int64_t chunks = std::max<int64_t>(1, (s.N + kImagesPerChunk - 1) / kImagesPerChunk);
    const int64_t blocks = (O + kChannelBlock - 1) / kChannelBlock, pieces = chunks * blocks;
    std::vector<float> parts(static_cast<size_t>(chunks * RS * O));
    std::vector<float> dbparts(static_cast<size_t>(chunks * O));
    const bool avx512 = use_avx512(s), avx2 = use_avx2(s);
    const int nt = threads_for(s.N * s.P * s.Q * O * RS);
    // Each piece writes only its own (chunk, channel block) slice of parts/dbparts: race-free.
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t i = 0; i < pieces; i++) {
        const int64_t ch = i / blocks, o0 = (i % blocks) * kChannelBlock;
        const int64_t n0 = ch * kImagesPerChunk, n1 = std::min(s.N, n0 + kImagesPerChunk);
        const int64_t ob = std::min(kChannelBlock, O - o0);
        float* part = parts.data() + ch * RS * O + o0;
        float* dbp = dbparts.data() + ch * O + o0;
        if (avx512)
            depthwise::weights_piece_avx512(part, dbp, dy, x, s, n0, n1, o0, ob);
        else if (avx2)
            depthwise::weights_piece_avx2(part, dbp, dy, x, s, n0, n1, o0, ob);
        else
            weights_piece_generic(part, dbp, dy, x, s, n0, n1, o0, ob);
    }
    // Each dw/db element is one iteration, its chunks added in order: race-free, deterministic.
    const int nt2 = threads_for(chunks * RS * O);
#pragma omp parallel for num_threads(nt2) schedule(static)
    for (int64_t e = 0; e < RS * O; e++) {
        float v = 0.0f;
        for (int64_t ch = 0; ch < chunks; ch++) v += parts[ch * RS * O + e];
        dw[e] = v;
    }
    if (db)
        for (int64_t o = 0; o < O; o++) {
            float v = 0.0f;
            for (int64_t ch = 0; ch < chunks; ch++) v += dbparts[ch * O + o];
            db[o] = v;
        }
}

// ---- reference loops (test oracle) ------------------------------------------------------------

void depthwise_conv2d_forward_reference(float* y, const float* x, const float* w,
                                        const float* bias, const DepthwiseShape& s) {
    const int64_t O = s.C * s.M;
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t o = 0; o < O; o++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int64_t r = 0; r < s.R; r++)
                        for (int64_t t = 0; t < s.S; t++) {
                            const int64_t ih = p * s.SH - s.PT + r * s.DH;
                            const int64_t iw = q * s.SW - s.PL + t * s.DW;
                            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                            acc += double(x[((n * s.H + ih) * s.W + iw) * s.C + o / s.M]) *
                                   w[(r * s.S + t) * O + o];
                        }
                    y[((n * s.P + p) * s.Q + q) * O + o] = static_cast<float>(acc);
                }
}

void depthwise_conv2d_backward_data_reference(float* dx, const float* dy, const float* w,
                                              const DepthwiseShape& s) {
    const int64_t O = s.C * s.M;
    std::vector<double> acc(static_cast<size_t>(s.N * s.H * s.W * s.C), 0.0);
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t q = 0; q < s.Q; q++)
                for (int64_t o = 0; o < O; o++)
                    for (int64_t r = 0; r < s.R; r++)
                        for (int64_t t = 0; t < s.S; t++) {
                            const int64_t ih = p * s.SH - s.PT + r * s.DH;
                            const int64_t iw = q * s.SW - s.PL + t * s.DW;
                            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                            acc[((n * s.H + ih) * s.W + iw) * s.C + o / s.M] +=
                                double(dy[((n * s.P + p) * s.Q + q) * O + o]) *
                                w[(r * s.S + t) * O + o];
                        }
    for (size_t i = 0; i < acc.size(); i++) dx[i] = static_cast<float>(acc[i]);
}

void depthwise_conv2d_backward_weights_reference(float* dw, float* db, const float* dy,
                                                 const float* x, const DepthwiseShape& s) {
    const int64_t O = s.C * s.M;
    for (int64_t r = 0; r < s.R; r++)
        for (int64_t t = 0; t < s.S; t++)
            for (int64_t o = 0; o < O; o++) {
                double acc = 0.0;
                for (int64_t n = 0; n < s.N; n++)
                    for (int64_t p = 0; p < s.P; p++)
                        for (int64_t q = 0; q < s.Q; q++) {
                            const int64_t ih = p * s.SH - s.PT + r * s.DH;
                            const int64_t iw = q * s.SW - s.PL + t * s.DW;
                            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                            acc += double(dy[((n * s.P + p) * s.Q + q) * O + o]) *
                                   x[((n * s.H + ih) * s.W + iw) * s.C + o / s.M];
                        }
                dw[(r * s.S + t) * O + o] = static_cast<float>(acc);
            }
    if (db)
        for (int64_t o = 0; o < O; o++) {
            double acc = 0.0;
            for (int64_t i = 0; i < s.N * s.P * s.Q; i++) acc += dy[i * O + o];
            db[o] = static_cast<float>(acc);
        }
}

}  // namespace grebe
