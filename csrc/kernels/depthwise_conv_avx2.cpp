// depthwise_conv_avx2.cpp — AVX2+FMA depthwise convolution kernels for depth multiplier 1, the
// same loops as depthwise_conv_avx512.cpp with 8 channels per ymm register (depthwise_conv.h has
// the legend and contracts; depthwise_conv.cpp the dispatch and the backward-weights driver).
// Built with -mavx2 -mfma (file suffix). Up to four registers (32 channels) of one output pixel
// are accumulated over all taps before a single store; the channel tail (C % 8) runs through
// masked loads (masked lanes read 0, never touch memory) and masked stores.
// No standard-library templates here (std::vector, std::fill...): an instantiation compiled
// with AVX2 flags could be merged by the linker into the portable build.
#include <immintrin.h>

#include <cstdint>

#include "kernels/depthwise_conv.h"
#include "kernels/runtime.h"

namespace grebe {
namespace depthwise {

namespace {

// The first n (<= 8) lanes of a vector: a lane mask for the masked loads/stores, and whether
// all 8 are in use (then plain loads and stores run).
struct Mask {
    __m256i m;
    bool full;
};
inline Mask tail_mask(int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return {_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 8 ? n : 8)), lane), n >= 8};
}
inline __m256 load(const Mask& m, const float* p) {
    return m.full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.m);
}
inline void store(float* p, const Mask& m, __m256 v) {
    if (m.full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m.m, v);
}

// One output pixel yo (C) over channels [c0, c0 + 8*NV) (the last vector masked by `last`):
// yo = bias + sum over the (ih, iw, tap) list of x row * w tap, in list order.
template <int NV>
inline void pixel_block(float* yo, const float* const* xs, const float* const* ws, int taps,
                        const float* bias, int64_t c0, const Mask& last) {
    const Mask all = tail_mask(8);
    __m256 acc[NV];
    for (int v = 0; v < NV; v++) {
        const Mask& m = v == NV - 1 ? last : all;
        acc[v] = bias ? load(m, bias + c0 + 8 * v) : _mm256_setzero_ps();
    }
    for (int k = 0; k < taps; k++)
        for (int v = 0; v < NV; v++) {
            const Mask& m = v == NV - 1 ? last : all;
            acc[v] = _mm256_fmadd_ps(load(m, xs[k] + c0 + 8 * v), load(m, ws[k] + c0 + 8 * v),
                                     acc[v]);
        }
    for (int v = 0; v < NV; v++) store(yo + c0 + 8 * v, v == NV - 1 ? last : all, acc[v]);
}

// All channels of one pixel: blocks of 32, then one block of 1-3 vectors for the rest.
inline void pixel(float* yo, const float* const* xs, const float* const* ws, int taps,
                  const float* bias, int64_t C) {
    int64_t c0 = 0;
    for (; c0 + 32 <= C; c0 += 32) pixel_block<4>(yo, xs, ws, taps, bias, c0, tail_mask(8));
    const int64_t rest = C - c0;
    if (rest == 0) return;
    const Mask last = tail_mask(rest - (rest - 1) / 8 * 8);
    switch ((rest + 7) / 8) {
        case 1: pixel_block<1>(yo, xs, ws, taps, bias, c0, last); break;
        case 2: pixel_block<2>(yo, xs, ws, taps, bias, c0, last); break;
        case 3: pixel_block<3>(yo, xs, ws, taps, bias, c0, last); break;
        default: pixel_block<4>(yo, xs, ws, taps, bias, c0, last); break;
    }
}

// Eight interior output pixels q0..q0+7 of one row (every tap inside the image): one weight
// load per tap feeds eight accumulators. xrows[k] is the input row of the k-th valid kernel
// row r (rows[k] = r); pixel q, tap (r, t) reads xrows[k] + (q*SW - PL + t*DW)*C.
template <bool Full>
inline __m256 ld(const Mask& m, const float* p) {
    return Full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.m);
}

// Channels [c0, c0 + 8) of interior8 (Full: all 8 in use, plain loads and stores).
template <bool Full>
void interior8_chunk(float* yrow, const float* const* xrows, const int64_t* rows, int nrows,
                     const float* w, const float* bias, const DepthwiseShape& s, int64_t q0,
                     int64_t c0, const Mask& m) {
    const int64_t C = s.C, step = s.SW * C;
    const __m256 b = bias ? ld<Full>(m, bias + c0) : _mm256_setzero_ps();
    __m256 acc[8];
    for (int j = 0; j < 8; j++) acc[j] = b;
    for (int k = 0; k < nrows; k++)
        for (int64_t t = 0; t < s.S; t++) {
            const __m256 wv = ld<Full>(m, w + (rows[k] * s.S + t) * C + c0);
            const float* xp = xrows[k] + (q0 * s.SW - s.PL + t * s.DW) * C + c0;
            for (int j = 0; j < 8; j++)
                acc[j] = _mm256_fmadd_ps(ld<Full>(m, xp + j * step), wv, acc[j]);
        }
    for (int j = 0; j < 8; j++) {
        if (Full) _mm256_storeu_ps(yrow + (q0 + j) * C + c0, acc[j]);
        else _mm256_maskstore_ps(yrow + (q0 + j) * C + c0, m.m, acc[j]);
    }
}

void interior8(float* yrow, const float* const* xrows, const int64_t* rows, int nrows,
               const float* w, const float* bias, const DepthwiseShape& s, int64_t q0) {
    const Mask all = tail_mask(8);
    int64_t c0 = 0;
    for (; c0 + 8 <= s.C; c0 += 8)
        interior8_chunk<true>(yrow, xrows, rows, nrows, w, bias, s, q0, c0, all);
    if (c0 < s.C)
        interior8_chunk<false>(yrow, xrows, rows, nrows, w, bias, s, q0, c0, tail_mask(s.C - c0));
}

}  // namespace

void forward_avx2(float* y, const float* x, const float* w, const float* bias,
                    const DepthwiseShape& s) {
    const int64_t C = s.C, rows = s.N * s.P, RS = s.R * s.S;
    const int nt = threads_for(rows * s.Q * C * RS);
    // Each (n, p) output row belongs to one iteration: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t np = 0; np < rows; np++) {
        const int64_t n = np / s.P, p = np % s.P;
        const float** xs = new const float*[2 * RS + s.R];
        const float** ws = xs + RS;
        const float** xrows = ws + RS;
        int64_t rows_ok[64];
        int nrows = 0;
        for (int64_t r = 0; r < s.R && s.R <= 64; r++) {
            const int64_t ih = p * s.SH - s.PT + r * s.DH;
            if (ih >= 0 && ih < s.H)
                xrows[nrows] = x + (n * s.H + ih) * s.W * C, rows_ok[nrows++] = r;
        }
        // Interior columns [qa, qb): every tap of pixel q lies inside the row.
        int64_t qa = (s.PL + s.SW - 1) / s.SW, qb = qa;
        while (qb < s.Q && qb * s.SW - s.PL + (s.S - 1) * s.DW < s.W) qb++;
        for (int64_t q = 0; q < s.Q; q++) {
            if (s.R <= 64 && q >= qa && q + 8 <= qb) {
                interior8(y + np * s.Q * C, xrows, rows_ok, nrows, w, bias, s, q);
                q += 7;
                continue;
            }
            int taps = 0;  // the taps inside the image, in (r, s) order
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t ih = p * s.SH - s.PT + r * s.DH;
                if (ih < 0 || ih >= s.H) continue;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t iw = q * s.SW - s.PL + t * s.DW;
                    if (iw < 0 || iw >= s.W) continue;
                    xs[taps] = x + ((n * s.H + ih) * s.W + iw) * C;
                    ws[taps++] = w + (r * s.S + t) * C;
                }
            }
            pixel(y + (np * s.Q + q) * C, xs, ws, taps, bias, C);
        }
        delete[] xs;
    }
}

void backward_data_avx2(float* dx, const float* dy, const float* w, const DepthwiseShape& s) {
    const int64_t C = s.C, rows = s.N * s.H, RS = s.R * s.S;
    const int nt = threads_for(rows * s.W * C * RS);
    // Each (n, h) input row belongs to one iteration (a gather, no scatter): race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t nh = 0; nh < rows; nh++) {
        const int64_t n = nh / s.H, h = nh % s.H;
        const float** gs = new const float*[2 * RS];
        const float** ws = gs + RS;
        for (int64_t iw = 0; iw < s.W; iw++) {
            int taps = 0;  // the output pixels this input pixel reached, in (r, s) order
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t u = h + s.PT - r * s.DH;
                if (u < 0 || u % s.SH || u / s.SH >= s.P) continue;
                for (int64_t t = 0; t < s.S; t++) {
                    const int64_t v = iw + s.PL - t * s.DW;
                    if (v < 0 || v % s.SW || v / s.SW >= s.Q) continue;
                    gs[taps] = dy + ((n * s.P + u / s.SH) * s.Q + v / s.SW) * C;
                    ws[taps++] = w + (r * s.S + t) * C;
                }
            }
            pixel(dx + (nh * s.W + iw) * C, gs, ws, taps, nullptr, C);
        }
        delete[] gs;
    }
}

// Per (n, p) row and tap, the row's sum over q is formed in registers, then added to part:
// part[tap] = sum over rows, in row order, of (sum over q of dy * x).
void weights_piece_avx2(float* part, float* dbp, const float* dy, const float* x,
                          const DepthwiseShape& s, int64_t n0, int64_t n1, int64_t o0,
                          int64_t ob) {
    const int64_t C = s.C, RS = s.R * s.S;
    const int nv = static_cast<int>((ob + 7) / 8);
    const Mask last = tail_mask(ob - (nv - 1) * 8), all = tail_mask(8);
    auto mask = [&](int v) -> const Mask& { return v == nv - 1 ? last : all; };
    for (int64_t k = 0; k < RS; k++)
        for (int64_t o = 0; o < ob; o++) part[k * C + o] = 0.0f;
    for (int64_t o = 0; o < ob; o++) dbp[o] = 0.0f;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t p = 0; p < s.P; p++) {
            const float* grow = dy + (n * s.P + p) * s.Q * C + o0;
            for (int v = 0; v < nv; v++) {  // db: this row's sum over q, then into dbp
                __m256 acc = _mm256_setzero_ps();
                for (int64_t q = 0; q < s.Q; q++)
                    acc = _mm256_add_ps(acc, load(mask(v), grow + q * C + 8 * v));
                store(dbp + 8 * v, mask(v), _mm256_add_ps(load(mask(v), dbp + 8 * v), acc));
            }
            for (int64_t r = 0; r < s.R; r++) {
                const int64_t ih = p * s.SH - s.PT + r * s.DH;
                if (ih < 0 || ih >= s.H) continue;
                const float* xrow = x + (n * s.H + ih) * s.W * C + o0;
                for (int64_t t = 0; t < s.S; t++) {
                    // q range whose iw = q*SW - PL + t*DW lies in [0, W).
                    const int64_t off = t * s.DW - s.PL;
                    int64_t qlo = off >= 0 ? 0 : (-off + s.SW - 1) / s.SW;
                    int64_t qhi = s.W - 1 - off < 0 ? 0 : (s.W - 1 - off) / s.SW + 1;
                    if (qhi > s.Q) qhi = s.Q;
                    float* acc_out = part + (r * s.S + t) * C;
                    for (int v = 0; v < nv; v++) {
                        const Mask& m = mask(v);
                        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                        int64_t q = qlo;
                        for (; q + 1 < qhi; q += 2) {  // two chains: hides the FMA latency
                            a0 = _mm256_fmadd_ps(load(m, grow + q * C + 8 * v),
                                                 load(m, xrow + (q * s.SW + off) * C + 8 * v), a0);
                            a1 = _mm256_fmadd_ps(
                                load(m, grow + (q + 1) * C + 8 * v),
                                load(m, xrow + ((q + 1) * s.SW + off) * C + 8 * v), a1);
                        }
                        if (q < qhi)
                            a0 = _mm256_fmadd_ps(load(m, grow + q * C + 8 * v),
                                                 load(m, xrow + (q * s.SW + off) * C + 8 * v), a0);
                        float* d = acc_out + 8 * v;
                        store(d, m, _mm256_add_ps(load(m, d), _mm256_add_ps(a0, a1)));
                    }
                }
            }
        }
}

}  // namespace depthwise
}  // namespace grebe
