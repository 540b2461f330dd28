// conv_bf16_avx512bf16.cpp — convolution with vdpbf16ps (bf16.h contracts): a direct forward
// over pairs of input channels (also the input gradient, run over dy with the kernel flipped)
// and a direct weight gradient over pairs of output columns (the fused conv + pool's pooling
// steps: conv_pool_bf16_avx512bf16.cpp). Built with the AVX-512 flags plus -mavx512bf16 (file
// suffix); only the *_avx512bf16 entry points have external linkage, and they are called only
// when has_bf16().
//
// Legend as in conv.h; Cp = ceil(C/2) channel pairs, Hp/Wp the zero-padded input size.
//   xb (N, Hp, Wp, Cp) words: the input rounded to bf16 (round_bf16's rounding), zero-padded,
//      channels 2c and 2c+1 in one 32-bit word (an odd last channel paired with +0);
//   wb (ceil(K/32), R, S, Cp, 32) words: the weights the same way, 32 output channels a panel.
// Then y[n,p,q,k] = sum over (r, s, c-pair) of dot(xb word, wb word) in that fixed order, one
// fp32 chain per output, no bounds checks (the padding is in xb): exactly the bf16 product
// with fp32 accumulation, the same bits for any thread count.
#include <immintrin.h>
#include <omp.h>

#include <cstring>

#include "kernels/bf16_internal.h"
#include "kernels/conv.h"
#include "kernels/runtime.h"

namespace grebe {
namespace bf16 {
namespace {

constexpr int kMaxPix = 12;  // output pixels per register tile (x 2 vectors = 24 accumulators)

inline __mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// The bf16 bits of x (round to nearest even, NaN quieted and truncated): round_bf16's rule.
inline uint32_t bf16_bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return ((u | 0x00400000u) >> 16) & 0xFFFFu;
    return ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16) & 0xFFFFu;
}

// 16 lanes of round_bf16, the bits in the high half of each lane (low half zero).
inline __m512i rne_hi(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_maskz_srli_epi32(__mmask16(0xFFFF), u, 16),
                                         _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(
        _mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
    return _mm512_and_si512(r, _mm512_set1_epi32(int(0xFFFF0000u)));
}

// out (n/2 words) = adjacent pairs of src (n floats, n even), word t = bf16(src[2t]) |
// bf16(src[2t+1]) << 16.
void pairs_even(uint32_t* out, const float* src, int64_t n) {
    const __m512i odd = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37,
                                         35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9,
                                         7, 5, 3, 1);
    for (int64_t t = 0; t < n; t += 32) {
        const __m512 v0 = _mm512_maskz_loadu_ps(lanes(n - t), src + t);
        const __m512 v1 = _mm512_maskz_loadu_ps(lanes(n - t - 16), src + t + 16);
        const __m512i w = _mm512_permutex2var_epi16(rne_hi(v0), odd, rne_hi(v1));
        const int64_t left = (n - t) / 2;
        _mm512_mask_storeu_epi32(out + t / 2, lanes(left < 16 ? left : 16), w);
    }
}

// xb (N, Hp, Wp, Cp) from x (N, H, W, C): see the file comment. Rows (n, h) are independent.
void convert_input(uint32_t* xb, const float* x, const Conv2dShape& s, int64_t Hp, int64_t Wp,
                   int64_t Cp) {
    const int64_t rows = s.N * Hp;
    const int nt = threads_for(rows * Wp * Cp * 4);
    // Each padded row (n, h) is written by one iteration only: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t nh = 0; nh < rows; nh++) {
        const int64_t n = nh / Hp, h = nh % Hp - s.PT;
        uint32_t* d = xb + nh * Wp * Cp;
        if (h < 0 || h >= s.H) {
            std::memset(d, 0, Wp * Cp * 4);
            continue;
        }
        std::memset(d, 0, s.PL * Cp * 4);
        std::memset(d + (s.PL + s.W) * Cp, 0, (Wp - s.PL - s.W) * Cp * 4);
        const float* src = x + (n * s.H + h) * s.W * s.C;
        uint32_t* dst = d + s.PL * Cp;
        if (s.C % 2 == 0) {
            pairs_even(dst, src, s.W * s.C);
            continue;
        }
        for (int64_t w = 0; w < s.W; w++)
            for (int64_t c = 0; c < Cp; c++) {
                const uint32_t lo = bf16_bits(src[w * s.C + 2 * c]);
                const uint32_t hi = 2 * c + 1 < s.C ? bf16_bits(src[w * s.C + 2 * c + 1]) : 0u;
                dst[w * Cp + c] = lo | hi << 16;
            }
    }
}

// wb (ceil(K/32), R, S, Cp, 32) from w (R, S, C, K): see the file comment.
void pack_weights(uint32_t* wb, const float* w, const Conv2dShape& s, int64_t Cp) {
    const int64_t panels = (s.K + 31) / 32;
    for (int64_t kq = 0; kq < panels; kq++)
        for (int64_t rs = 0; rs < s.R * s.S; rs++)
            for (int64_t c = 0; c < Cp; c++) {
                uint32_t* d = wb + ((kq * s.R * s.S + rs) * Cp + c) * 32;
                for (int64_t j = 0; j < 32; j++) {
                    const int64_t k = kq * 32 + j;
                    if (k >= s.K) {
                        d[j] = 0;
                        continue;
                    }
                    const float* src = w + (rs * s.C + 2 * c) * s.K + k;
                    const uint32_t lo = bf16_bits(src[0]);
                    const uint32_t hi = 2 * c + 1 < s.C ? bf16_bits(src[s.K]) : 0u;
                    d[j] = lo | hi << 16;
                }
            }
}

struct Geom {
    int64_t Cp, Wp, Hp;
    int64_t pix;     // words between the input windows of two adjacent output pixels (SW*Cp)
    int64_t rstep;   // words between kernel rows (DH * Wp * Cp)
    int64_t sstep;   // words between kernel columns (DW * Cp)
};

// y tile (M pixels of one output row, NV x 16 channels from k0) = act(sum of the window dots +
// bias). a: the first pixel's window origin in xb; wp: the panel's weights.
template <int M, int NV>
void tile(float* y, int64_t ldy, int nk, const uint32_t* a, const uint32_t* wp,
          const Conv2dShape& s, const Geom& g, const float* bias, bool relu) {
    __m512 acc0[M], acc1[M];
#pragma GCC unroll 12
    for (int i = 0; i < M; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (int64_t r = 0; r < s.R; r++)
        for (int64_t t = 0; t < s.S; t++) {
            const uint32_t* ar = a + r * g.rstep + t * g.sstep;
            const uint32_t* wr = wp + (r * s.S + t) * g.Cp * 32;
#pragma GCC unroll 2
            for (int64_t c = 0; c < g.Cp; c++) {
                const __m512bh b0 = (__m512bh)_mm512_loadu_si512(wr + c * 32);
                const __m512bh b1 = (__m512bh)_mm512_loadu_si512(wr + c * 32 + 16);
#pragma GCC unroll 12
                for (int i = 0; i < M; i++) {
                    const __m512bh ai =
                        (__m512bh)_mm512_set1_epi32(static_cast<int>(ar[i * g.pix + c]));
                    acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
                    if (NV == 2) acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
                }
            }
        }
    const __mmask16 m0 = lanes(nk), m1 = lanes(nk - 16);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : zero;
    const __m512 bias1 = bias && NV == 2 ? _mm512_maskz_loadu_ps(m1, bias + 16) : zero;
#pragma GCC unroll 12
    for (int i = 0; i < M; i++) {
        __m512 r0 = _mm512_add_ps(acc0[i], bias0);
        __m512 r1 = _mm512_add_ps(acc1[i], bias1);
        if (relu) {  // max(0, x) with x second: NaN propagates
            r0 = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r0);
            r1 = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r1);
        }
        _mm512_mask_storeu_ps(y + i * ldy, m0, r0);
        if (NV == 2) _mm512_mask_storeu_ps(y + i * ldy + 16, m1, r1);
    }
}

using TileFn = void (*)(float*, int64_t, int, const uint32_t*, const uint32_t*,
                        const Conv2dShape&, const Geom&, const float*, bool);
template <int NV>
constexpr TileFn kTiles[kMaxPix] = {&tile<1, NV>, &tile<2, NV>,  &tile<3, NV>,  &tile<4, NV>,
                                    &tile<5, NV>, &tile<6, NV>,  &tile<7, NV>,  &tile<8, NV>,
                                    &tile<9, NV>, &tile<10, NV>, &tile<11, NV>, &tile<12, NV>};

// ---- weight gradient: dw[r,s,c,k] = sum over (n, p, q) of x[n, h, w, c] * dy[n, p, q, k] ----
// Pairs run along q: xs (N, S, H, Qp, C) words pair x at the input columns of output columns 2j
// and 2j+1 for kernel column s (zero outside the image or past Q); dyp (N, P, Qp, Kp) words
// pair dy at 2j and 2j+1 (Kp = K rounded up to 32, zero-padded).
struct DwGeom {
    int64_t Qp, Kp;
};

void convert_dw_operands(uint32_t* xs, uint32_t* dyp, const float* x, const float* dy,
                         const Conv2dShape& s, const DwGeom& g) {
    const int nt = threads_for(s.N * s.H * s.W * s.C * s.S);
    // Image n's slices of xs and dyp are written by iteration n only: race-free.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t n = 0; n < s.N; n++) {
        for (int64_t t = 0; t < s.S; t++)
            for (int64_t h = 0; h < s.H; h++) {
                const float* xrow = x + (n * s.H + h) * s.W * s.C;
                uint32_t* d = xs + ((n * s.S + t) * s.H + h) * g.Qp * s.C;
                for (int64_t j = 0; j < g.Qp; j++) {
                    const int64_t w0 = 2 * j * s.SW - s.PL + t * s.DW, w1 = w0 + s.SW;
                    const bool in0 = w0 >= 0 && w0 < s.W;
                    const bool in1 = 2 * j + 1 < s.Q && w1 >= 0 && w1 < s.W;
                    for (int64_t c = 0; c < s.C; c += 16) {
                        const __mmask16 mc = lanes(s.C - c);
                        const __m512 x0 = in0 ? _mm512_maskz_loadu_ps(mc, xrow + w0 * s.C + c)
                                              : _mm512_setzero_ps();
                        const __m512 x1 = in1 ? _mm512_maskz_loadu_ps(mc, xrow + w1 * s.C + c)
                                              : _mm512_setzero_ps();
                        const __m512i w = _mm512_or_si512(
                            _mm512_maskz_srli_epi32(__mmask16(0xFFFF), rne_hi(x0), 16),
                            rne_hi(x1));
                        _mm512_mask_storeu_epi32(d + j * s.C + c, mc, w);
                    }
                }
            }
        for (int64_t p = 0; p < s.P; p++)
            for (int64_t j = 0; j < g.Qp; j++) {
                const float* d0 = dy + ((n * s.P + p) * s.Q + 2 * j) * s.K;
                const bool has1 = 2 * j + 1 < s.Q;
                uint32_t* d = dyp + ((n * s.P + p) * g.Qp + j) * g.Kp;
                for (int64_t k = 0; k < g.Kp; k += 16) {
                    const __mmask16 mk = lanes(s.K - k);
                    const __m512 y0 = _mm512_maskz_loadu_ps(mk, d0 + k);
                    const __m512 y1 = has1 ? _mm512_maskz_loadu_ps(mk, d0 + s.K + k)
                                           : _mm512_setzero_ps();
                    _mm512_storeu_si512(d + k,
                                        _mm512_or_si512(_mm512_maskz_srli_epi32(
                                                            __mmask16(0xFFFF), rne_hi(y0), 16),
                                                        rne_hi(y1)));
                }
            }
    }
}

// dw tile (M input channels from c0, NV x 16 filters from k0) at kernel tap (r, t) plus (or,
// when first, instead of) its current value: the sum over images [n0, n1), output rows and
// q-pairs, in that order, of the pair dots.
template <int M, int NV>
void dw_tile(float* dw, int nk, const uint32_t* xs, const uint32_t* dyp, const Conv2dShape& s,
             const DwGeom& g, int64_t r, int64_t t, int64_t c0, int64_t k0, int64_t n0,
             int64_t n1) {
    const __mmask16 m0 = lanes(nk), m1 = lanes(nk - 16);
    float* d = dw + ((r * s.S + t) * s.C + c0) * s.K + k0;
    __m512 acc0[M], acc1[M];
#pragma GCC unroll 12
    for (int i = 0; i < M; i++) {
        acc0[i] = n0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, d + i * s.K);
        acc1[i] = n0 == 0 || NV == 1 ? _mm512_setzero_ps()
                                     : _mm512_maskz_loadu_ps(m1, d + i * s.K + 16);
    }
    for (int64_t n = n0; n < n1; n++)
        for (int64_t p = 0; p < s.P; p++) {
            const int64_t h = p * s.SH - s.PT + r * s.DH;
            if (h < 0 || h >= s.H) continue;
            const uint32_t* a = xs + ((n * s.S + t) * s.H + h) * g.Qp * s.C + c0;
            const uint32_t* b = dyp + (n * s.P + p) * g.Qp * g.Kp + k0;
#pragma GCC unroll 2
            for (int64_t j = 0; j < g.Qp; j++) {
                const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + j * g.Kp);
                const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + j * g.Kp + 16);
#pragma GCC unroll 12
                for (int i = 0; i < M; i++) {
                    const __m512bh ai =
                        (__m512bh)_mm512_set1_epi32(static_cast<int>(a[j * s.C + i]));
                    acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
                    if (NV == 2) acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
                }
            }
        }
#pragma GCC unroll 12
    for (int i = 0; i < M; i++) {
        _mm512_mask_storeu_ps(d + i * s.K, m0, acc0[i]);
        if (NV == 2) _mm512_mask_storeu_ps(d + i * s.K + 16, m1, acc1[i]);
    }
}

using DwFn = void (*)(float*, int, const uint32_t*, const uint32_t*, const Conv2dShape&,
                      const DwGeom&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
template <int NV>
constexpr DwFn kDw[kMaxPix] = {&dw_tile<1, NV>, &dw_tile<2, NV>,  &dw_tile<3, NV>,
                               &dw_tile<4, NV>, &dw_tile<5, NV>,  &dw_tile<6, NV>,
                               &dw_tile<7, NV>, &dw_tile<8, NV>,  &dw_tile<9, NV>,
                               &dw_tile<10, NV>, &dw_tile<11, NV>, &dw_tile<12, NV>};

}  // namespace

int64_t conv_direct_words(const Conv2dShape& s) {
    const int64_t Cp = (s.C + 1) / 2;
    const int64_t xb = s.N * (s.H + s.PT + s.PB) * (s.W + s.PL + s.PR) * Cp;
    return xb + (s.K + 31) / 32 * s.R * s.S * Cp * 32;
}

void conv_forward_direct_avx512bf16(float* y, const float* x, const float* w, const float* bias,
                                    bool relu, const Conv2dShape& s, uint32_t* work) {
    // x (N,H,W,C), w (R,S,C,K) -> y (N,P,Q,K) = act(conv(bf16(x), bf16(w)) + bias)
    Geom g;
    g.Cp = (s.C + 1) / 2, g.Hp = s.H + s.PT + s.PB, g.Wp = s.W + s.PL + s.PR;
    g.pix = s.SW * g.Cp, g.rstep = s.DH * g.Wp * g.Cp, g.sstep = s.DW * g.Cp;
    uint32_t* xb = work;
    uint32_t* wb = work + s.N * g.Hp * g.Wp * g.Cp;
    convert_input(xb, x, s, g.Hp, g.Wp, g.Cp);
    pack_weights(wb, w, s, g.Cp);
    const int64_t rows = s.N * s.P, panels = (s.K + 31) / 32;
    const int64_t tiles = (s.Q + kMaxPix - 1) / kMaxPix;  // balanced: sizes differ by <= 1
    const int nt = threads_for(rows * s.Q * s.K * s.R * s.S * s.C);
    // Each output row (n, p) is computed by one iteration, which alone writes it: race-free,
    // and each output's chain is the same whatever the thread.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t np = 0; np < rows; np++) {
        const int64_t n = np / s.P, p = np % s.P;
        const uint32_t* arow = xb + (n * g.Hp + p * s.SH) * g.Wp * g.Cp;
        for (int64_t kq = 0; kq < panels; kq++) {
            const int nk = static_cast<int>(s.K - kq * 32 < 32 ? s.K - kq * 32 : 32);
            const uint32_t* wp = wb + kq * s.R * s.S * g.Cp * 32;
            const float* bq = bias ? bias + kq * 32 : nullptr;
            for (int64_t tq = 0; tq < tiles; tq++) {
                const int64_t q0 = s.Q * tq / tiles, q1 = s.Q * (tq + 1) / tiles;
                float* yt = y + (np * s.Q + q0) * s.K + kq * 32;
                const uint32_t* a = arow + q0 * g.pix;
                const int m = static_cast<int>(q1 - q0);
                if (nk > 16)
                    kTiles<2>[m - 1](yt, s.K, nk, a, wp, s, g, bq, relu);
                else
                    kTiles<1>[m - 1](yt, s.K, nk, a, wp, s, g, bq, relu);
            }
        }
    }
}

int64_t conv_dw_words(const Conv2dShape& s) {
    const int64_t Qp = (s.Q + 1) / 2, Kp = (s.K + 31) / 32 * 32;
    return s.N * s.S * s.H * Qp * s.C + s.N * s.P * Qp * Kp;
}

void conv_backward_weights_avx512bf16(float* dw, const float* dy, const float* x,
                                      const Conv2dShape& s, uint32_t* work) {
    // x (N,H,W,C), dy (N,P,Q,K) -> dw (R,S,C,K) = sum over (n,p,q) of bf16(x) * bf16(dy)
    DwGeom g;
    g.Qp = (s.Q + 1) / 2, g.Kp = (s.K + 31) / 32 * 32;
    uint32_t* xs = work;
    uint32_t* dyp = work + s.N * s.S * s.H * g.Qp * s.C;
    convert_dw_operands(xs, dyp, x, dy, s, g);
    const int64_t ctiles = (s.C + kMaxPix - 1) / kMaxPix, panels = (s.K + 31) / 32;
    const int64_t units = s.R * s.S * ctiles * panels;
    int nt = threads_for(s.N * s.P * s.Q * s.R * s.S * s.C * s.K);
    if (nt > units) nt = static_cast<int>(units);
    // Images run in chunks whose operands (about 128 KiB) stay in L2 while every unit reads
    // them, instead of every unit streaming all of x and dy from memory; the chunk size depends
    // on the shape only. A unit adds chunk after chunk into its dw block, in image order.
    const int64_t per_image = s.S * s.H * g.Qp * s.C + s.P * g.Qp * g.Kp;
    const int64_t chunk = per_image >= 32768 ? 1 : 32768 / per_image;
    // Unit (tap, channel tile, filter panel) alone writes its block of dw and sums its
    // reduction in a fixed order (images, rows, q-pairs): race-free and the same bits for any
    // thread count (static schedule: the barrier after each chunk orders a unit's chunks).
#pragma omp parallel num_threads(nt)
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
        const int64_t n1 = n0 + chunk < s.N ? n0 + chunk : s.N;
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            const int64_t kq = u % panels, ct = u / panels % ctiles, rs = u / panels / ctiles;
            const int64_t c0 = s.C * ct / ctiles, c1 = s.C * (ct + 1) / ctiles;
            const int nk = static_cast<int>(s.K - kq * 32 < 32 ? s.K - kq * 32 : 32);
            const int m = static_cast<int>(c1 - c0);
            if (nk > 16)
                kDw<2>[m - 1](dw, nk, xs, dyp, s, g, rs / s.S, rs % s.S, c0, kq * 32, n0, n1);
            else
                kDw<1>[m - 1](dw, nk, xs, dyp, s, g, rs / s.S, rs % s.S, c0, kq * 32, n0, n1);
        }
    }
}

}  // namespace bf16
}  // namespace grebe
