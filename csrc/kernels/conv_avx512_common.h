// conv_avx512_common.h — what the AVX-512 conv files (conv_avx512.cpp, conv_data_avx512.cpp)
// share: the register tiles, the choice of tile per layer width, the gather convolution driver
// and the weight packing. Include ONLY from *_avx512.cpp files: everything here has internal
// linkage and is compiled with the includer's AVX-512 flags.
//
// The register tile is chosen per call from the number of output columns, so that ResNet's
// 16/32/64-wide layers all keep >= 12 independent FMA chains on Zen 5 (32 zmm, 2 FMA pipes,
// latency 4):
//   cols >= 64: 6 pixels x 64 columns (4 zmm) = 24 accumulators, 6 broadcasts + 4 loads a step
//   cols > 16:  8 pixels x 32 columns (2 zmm) = 16 accumulators
//   cols <= 16: 12 pixels x 16 columns        = 12 accumulators
// Pixels are read through MR row pointers, which all stay in general registers.
#pragma once
#include <omp.h>

#include "kernels/conv_avx2_common.h"

namespace grebe {
namespace conv {
namespace {

enum Mode { kStore = 0, kStoreRelu = 1, kAdd = 2 };
constexpr int kMaxMR = 12;

// Lanes of vector v (columns 16v .. 16v+15) that hold columns < nr.
inline __mmask16 lanes(int nr, int v) {
    const int n = nr - 16 * v;
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// The MR x (16*NV) tile: MR output rows (pixels) x 16*NV output columns.
//   acc[i][j] = bias[j] + sum_{g < nseg} sum_{l < L} a[i][seg[g] + l] * wp[(g*L + l)*16*NV + j]
// then stored (kStore), stored as max(0, .) (kStoreRelu: NaN propagates), or added into out
// (kAdd) at out[i][0..nr). Rows i >= mr are computed (their a pointers repeat a valid row) but
// never written; rows are written in order 0..mr-1, so kAdd targets may overlap.
template <int MR, int NV, int MODE>
void tile(const float* const* a, const int64_t* seg, int64_t nseg, int64_t L, const float* wp,
          const float* bias, float* const* out, int mr, int nr) {
    __m512 acc[MR][NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const __m512 b = _mm512_loadu_ps(bias + 16 * v);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) acc[i][v] = b;
    }
    for (int64_t g = 0; g < nseg; g++) {
        const int64_t o = seg[g];
        const float* ap[MR];
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) ap[i] = a[i] + o;
        // MR * NV (>= 12) independent FMA chains per step.
#pragma GCC unroll 2
        for (int64_t l = 0; l < L; l++) {
            __m512 w[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) w[v] = _mm512_loadu_ps(wp + 16 * v);
#pragma GCC unroll 12
            for (int i = 0; i < MR; i++) {
                const __m512 x = _mm512_set1_ps(ap[i][l]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(x, w[v], acc[i][v]);
            }
            wp += 16 * NV;
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 m[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) m[v] = lanes(nr, v);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float* o = out[i] + 16 * v;
            __m512 r = acc[i][v];
            if (MODE == kAdd) r = _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], o), r);
            // max(0, x) with x second: a NaN propagates. (maskz with a full mask is max_ps
            // without gcc 12's false uninitialized warning.)
            if (MODE == kStoreRelu) r = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r);
            _mm512_mask_storeu_ps(o, m[v], r);
        }
    }
}

// The register tile for a layer with `cols` output columns (see the header comment).
struct Tiling {
    int MR, NV;
};
Tiling tiling_for(int64_t cols) {
    if (cols >= 64) return {6, 4};
    if (cols > 16) return {8, 2};
    return {12, 1};
}

using TileFn = void (*)(const float* const*, const int64_t*, int64_t, int64_t, const float*,
                        const float*, float* const*, int, int);

TileFn tile_fn(Tiling t, int mode) {
    if (t.NV == 4)
        return mode == kStoreRelu ? &tile<6, 4, kStoreRelu>
             : mode == kAdd       ? &tile<6, 4, kAdd> : &tile<6, 4, kStore>;
    if (t.NV == 2)
        return mode == kStoreRelu ? &tile<8, 2, kStoreRelu>
             : mode == kAdd       ? &tile<8, 2, kAdd> : &tile<8, 2, kStore>;
    return mode == kStoreRelu ? &tile<12, 1, kStoreRelu>
         : mode == kAdd       ? &tile<12, 1, kAdd> : &tile<12, 1, kStore>;
}

// One convolution over a batch ("gather": each output pixel reads its window), as in
// conv_avx2.cpp: out (N, P, Q, K) = act(bias + conv(image_n, w)) over image_n (Hz, Wz, Cs),
// src image n itself when !place, else src placed by place_image into a per-thread buffer.
// wp: ceil(K/PW) panels of (R*S*Cs) x PW packed weights (PW = 16*NV of `t`), rows in (r, s, c)
// order; bias: ceil(K/PW)*PW floats.
struct Gather {
    const float* src;
    const float* mask;
    int64_t N, Hs, Ws, Cs;
    bool place;
    int64_t Hz, Wz, oh, ow, ish, isw;
    int64_t R, S, sh, sw, dh, dw;
    int64_t P, Q, K;
    Tiling t;
    const float* wp;
    const float* bias;
    bool relu;
};

// Pixels per work item: a multiple of every MR (6, 8, 12). Within an item the loop runs panel by
// panel, so one weight panel stays in cache while the item's pixels pass under it.
constexpr int64_t kGatherBlock = 48;

void gather_conv(float* out, const Gather& g) {
    const int64_t PQ = g.P * g.Q, PW = 16 * g.t.NV, npanel = cdiv(g.K, PW);
    const int64_t RSC = g.R * g.S * g.Cs;
    int64_t* tables = static_cast<int64_t*>(scratch(kTables, (g.R * g.S + PQ) * 8));
    int64_t* seg = tables;
    int64_t L;
    const int64_t nseg = segments(seg, &L, g.R, g.S, g.dh, g.dw, g.Wz, g.Cs);
    int64_t* pix = tables + g.R * g.S;
    pixel_offsets(pix, g.P, g.Q, g.sh, g.sw, g.Wz, g.Cs);

    const int64_t nb = cdiv(PQ, kGatherBlock), items = g.N * nb;
    const int nt = team_size(2 * g.N * PQ * g.K * RSC, items);
    const TileFn fn = tile_fn(g.t, g.relu ? kStoreRelu : kStore);
    const int MR = g.t.MR;
    int64_t bstride = 0;
    float* bufs = g.place ? thread_slices(kImage, nt, g.Hz * g.Wz * g.Cs, &bstride) : nullptr;
    // Items (image, block of 48 pixels) write disjoint output rows: race-free, and every
    // output element is computed by the same instructions whichever thread runs its item.
#pragma omp parallel num_threads(nt)
    {
        float* buf = g.place ? bufs + omp_get_thread_num() * bstride : nullptr;
        int64_t cur = -1;
        const float* a[kMaxMR];
        float* o[kMaxMR];
#pragma omp for schedule(dynamic, 2)
        for (int64_t it = 0; it < items; it++) {
            const int64_t n = it / nb, m0 = (it % nb) * kGatherBlock;
            const int64_t m1 = imin(PQ, m0 + kGatherBlock);
            const float* img = g.src + n * g.Hs * g.Ws * g.Cs;
            if (g.place) {
                if (n != cur) {
                    place_image(buf, g.Hz, g.Wz, img,
                                g.mask ? g.mask + n * g.Hs * g.Ws * g.Cs : nullptr, g.Hs, g.Ws,
                                g.Cs, g.oh, g.ow, g.ish, g.isw);
                    cur = n;
                }
                img = buf;
            }
            for (int64_t j = 0; j < npanel; j++) {
                const float* wpj = g.wp + j * RSC * PW;
                const int nr = static_cast<int>(imin(PW, g.K - j * PW));
                for (int64_t m = m0; m < m1; m += MR) {
                    const int mr = static_cast<int>(imin(MR, m1 - m));
                    for (int i = 0; i < MR; i++) {
                        const int64_t mi = i < mr ? m + i : m;
                        a[i] = img + pix[mi];
                        o[i] = out + (n * PQ + mi) * g.K + j * PW;
                    }
                    fn(a, seg, nseg, L, wpj, g.bias + j * PW, o, mr, nr);
                }
            }
        }
    }
}

}  // namespace
}  // namespace conv
}  // namespace grebe
