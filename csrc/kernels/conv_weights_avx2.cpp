// conv_weights_avx2.cpp — NHWC convolution backward-weights (and bias) for AVX2+FMA.
// Built with -mavx2 -mfma (file suffix); everything but backward_weights_avx2 has internal
// linkage, and no std:: template is instantiated here.
//
// dW is cut into column panels (16 or 32 output channels) and the batch into a few chunks
// (their number set by the shape alone); one thread owns each (chunk, panel) unit: it
// accumulates 6 x 16 (or 3 x 32) register tiles of the chunk's partial dW over blocks of
// pixels, reading x in place and dy in place, or from a relu-masked copy of the panel that it
// makes once per block for all of its tiles. No two threads touch the same element, each is
// summed in a fixed order by the same instructions on whichever thread, and the chunks'
// partials are added in chunk order at the end: bit-identical for any thread count.
#include <omp.h>

#include <cstring>
#include <vector>

#include "kernels/conv_avx2_common.h"

namespace grebe {
namespace conv {
namespace {

// dW tile: MR consecutive rows of dW (MR (r, s, c) of one segment) x 8*NV output channels,
// accumulated in registers over np pixels and added to dwt:
//   dwt[i][j] += sum_m xb[pix[m] + i] * dyb[m*lddy + j]      (i < mr, j < nr)
// TAIL (mr < MR): rows i >= mr repeat row mr-1 and are not stored. Columns nr..8*NV-1 are
// computed from dyb (which must hold them: zero padding or real data) and not stored.
template <int MR, int NV, bool TAIL>
void wgt_tile(float* dwt, int64_t ldw, int mr, int nr, const float* xb, const int64_t* pix,
              int64_t np, const float* dyb, int64_t lddy) {
    __m256 acc[MR][NV];
    const bool full = mr == MR && nr == NV * 8;
    alignas(32) float t[MR][NV * 8];
    if (full) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = _mm256_loadu_ps(dwt + i * ldw + v * 8);
    } else {
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NV * 8; j++) t[i][j] = i < mr && j < nr ? dwt[i * ldw + j] : 0;
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = _mm256_load_ps(t[i] + v * 8);
    }
    int64_t o[MR];
    for (int i = 0; i < MR; i++) o[i] = TAIL ? (i < mr ? i : mr - 1) : i;
    // MR * NV = 12 independent FMA chains per pixel.
#pragma GCC unroll 2
    for (int64_t m = 0; m < np; m++) {
        const float* a = xb + pix[m];
        const float* d = dyb + m * lddy;
        if (NV <= 2) {  // 6 x 16: two dy vectors, one broadcast at a time
            __m256 dv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) dv[v] = _mm256_loadu_ps(d + v * 8);
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) {
                const __m256 b = _mm256_broadcast_ss(a + o[i]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(b, dv[v], acc[i][v]);
            }
        } else {  // 3 x 32: three broadcasts, one dy vector at a time
            __m256 b[MR];
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) b[i] = _mm256_broadcast_ss(a + o[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const __m256 dv = _mm256_loadu_ps(d + v * 8);
#pragma GCC unroll 6
                for (int i = 0; i < MR; i++) acc[i][v] = _mm256_fmadd_ps(b[i], dv, acc[i][v]);
            }
        }
    }
    if (full) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) _mm256_storeu_ps(dwt + i * ldw + v * 8, acc[i][v]);
        return;
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm256_store_ps(t[i] + v * 8, acc[i][v]);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) dwt[i * ldw + j] = t[i][j];
}

// acc[0..8*NV) += sum_m dyb[m*lddy + 0..8*NV), in double: the bias gradient of one panel of
// 8*NV columns (columns past nr are zero-padded or ignored by the caller). Each row's floats
// widen to double before they add, so the sum is the float dy's exact sum to ~1e-16: a bias in
// front of a normalization, whose gradient is 0, gets no summation noise for Adam to amplify.
template <int NV>
void bias_block(double* acc, const float* dyb, int64_t lddy, int64_t np) {
    __m256d lo[NV], hi[NV];
    for (int v = 0; v < NV; v++) {
        lo[v] = _mm256_loadu_pd(acc + v * 8);
        hi[v] = _mm256_loadu_pd(acc + v * 8 + 4);
    }
    for (int64_t m = 0; m < np; m++)
        for (int v = 0; v < NV; v++) {
            const __m256 f = _mm256_loadu_ps(dyb + m * lddy + v * 8);
            lo[v] = _mm256_add_pd(lo[v], _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
            hi[v] = _mm256_add_pd(hi[v], _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
        }
    for (int v = 0; v < NV; v++) {
        _mm256_storeu_pd(acc + v * 8, lo[v]);
        _mm256_storeu_pd(acc + v * 8 + 4, hi[v]);
    }
}

// The dW tiling of one shape: MR x NR tiles (6 x 16 or 3 x 32, whichever wastes less on the
// segment length L and on K; ties go to 6 x 16, which needs fewer registers).
struct WeightTiling {
    int64_t MR, NR, rts, RT, npanel;
};

WeightTiling weight_tiling(int64_t L, int64_t K) {
    auto eff = [&](int64_t mr, int64_t nr) {
        return double(L) / (cdiv(L, mr) * mr) * double(K) / (cdiv(K, nr) * nr);
    };
    WeightTiling t;
    if (eff(6, 16) >= eff(3, 32)) t.MR = 6, t.NR = 16;
    else t.MR = 3, t.NR = 32;
    t.rts = cdiv(L, t.MR);
    t.npanel = cdiv(K, t.NR);
    return t;
}

void run_wgt_tile(const WeightTiling& wt, float* dwt, int64_t ldw, int mr, int nr,
                  const float* xb, const int64_t* pix, int64_t np, const float* dyb,
                  int64_t lddy) {
    if (wt.MR == 6) {
        if (mr == 6) wgt_tile<6, 2, false>(dwt, ldw, mr, nr, xb, pix, np, dyb, lddy);
        else wgt_tile<6, 2, true>(dwt, ldw, mr, nr, xb, pix, np, dyb, lddy);
    } else {
        if (mr == 3) wgt_tile<3, 4, false>(dwt, ldw, mr, nr, xb, pix, np, dyb, lddy);
        else wgt_tile<3, 4, true>(dwt, ldw, mr, nr, xb, pix, np, dyb, lddy);
    }
}

// Work units: (batch chunk g, dW column panel j); at least this many when the batch allows.
constexpr int64_t kMinWeightUnits = 8;
// Pixels per dy block: a block's panel (<= 32 KiB at NR = 32) stays in L1 for all its tiles.
constexpr int64_t kWeightBlockFloats = 8192;

}  // namespace

void backward_weights_avx2(float* dw, float* db, const DySource& dy, const float* x,
                           const Conv2dShape& s) {
    const int64_t RSC = s.R * s.S * s.C, PQ = s.P * s.Q;
    std::memset(dw, 0, RSC * s.K * sizeof(float));
    if (db) std::memset(db, 0, s.K * sizeof(float));
    if (s.N == 0 || PQ <= 0 || s.K == 0) return;
    const int64_t Hp = s.H + s.PT + s.PB, Wp = s.W + s.PL + s.PR;
    const bool place = s.PT || s.PB || s.PL || s.PR;
    int64_t* tables = static_cast<int64_t*>(scratch(kTables, (s.R * s.S + PQ) * 8));
    int64_t* seg = tables;
    int64_t L;
    const int64_t nseg = segments(seg, &L, s.R, s.S, s.DH, s.DW, Wp, s.C);
    int64_t* pix = tables + s.R * s.S;
    pixel_offsets(pix, s.P, s.Q, s.SH, s.SW, Wp, s.C);
    WeightTiling wt = weight_tiling(L, s.K);
    wt.RT = nseg * wt.rts;
    // dy is read in place when no mask is needed and every panel is whole; otherwise each unit
    // copies (and masks, and zero-pads) its panel of each block of pixels.
    const bool direct = dy.plain() && s.K % wt.NR == 0;
    // Batch chunks: their number depends on the shape only (never on threads).
    const int64_t G0 = imin(s.N, cdiv(kMinWeightUnits, wt.npanel));
    const int64_t ipc = cdiv(s.N, G0), G = cdiv(s.N, ipc);
    const int64_t part = RSC * s.K;  // one chunk's dW
    // One chunk's db per row, in double; the chunks add in chunk order below.
    std::vector<double> dbparts(db ? static_cast<size_t>(G * s.K) : 0);
    float* parts = nullptr;
    if (G > 1) {
        parts = static_cast<float*>(scratch(kPartials, G * part * 4));
        std::memset(parts, 0, G * part * sizeof(float));
    }
    const int64_t PB = imin(PQ, imax(6, kWeightBlockFloats / wt.NR));
    const int64_t units = G * wt.npanel;
    const int nt = team_size(2 * s.N * PQ * RSC * s.K, units);
    int64_t xstride = 0, bstride = 0;
    float* xbufs = place ? thread_slices(kImage, nt, Hp * Wp * s.C, &xstride) : nullptr;
    float* blks = direct ? nullptr : thread_slices(kBlock, nt, PB * wt.NR, &bstride);
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float* xbuf = place ? xbufs + tid * xstride : nullptr;
        float* blk = direct ? nullptr : blks + tid * bstride;
        // Unit (g, j) owns columns [j*NR, j*NR + NR) of chunk g's partial dW (of dW itself when
        // G == 1) and of dbparts[g]: no element is written by two threads, and each is summed over
        // the chunk's pixels in order by the same instructions whichever thread runs the unit.
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            const int64_t g = u / wt.npanel, j = u % wt.npanel, k0 = j * wt.NR;
            const int nr = static_cast<int>(imin(wt.NR, s.K - k0));
            float* dwg = G > 1 ? parts + g * part : dw;
            alignas(64) double accb[64] = {};  // this unit's bias gradient (NR <= 64 columns)
            for (int64_t n = g * ipc; n < imin(s.N, (g + 1) * ipc); n++) {
                const float* ximg = x + n * s.H * s.W * s.C;
                if (place) {
                    place_image(xbuf, Hp, Wp, ximg, nullptr, s.H, s.W, s.C, s.PT, s.PL, 1, 1);
                    ximg = xbuf;
                }
                for (int64_t m0 = 0; m0 < PQ; m0 += PB) {
                    const int64_t np = imin(PB, PQ - m0);
                    const float* dyb = blk;
                    int64_t lddy = wt.NR;
                    if (direct) {
                        dyb = dy.dy + (n * PQ + m0) * s.K + k0;
                        lddy = s.K;
                    } else {  // this panel of the block, masked or routed, zero-padded
                        fill_dy_rows(blk, wt.NR, wt.NR, dy, n, m0, np, k0, nr, s.P, s.Q, s.K);
                    }
                    for (int64_t rt = 0; rt < wt.RT; rt++) {
                        const int64_t sg = rt / wt.rts, r0 = (rt % wt.rts) * wt.MR;
                        const int mr = static_cast<int>(imin(wt.MR, L - r0));
                        run_wgt_tile(wt, dwg + (sg * L + r0) * s.K + k0, s.K, mr, nr,
                                     ximg + seg[sg] + r0, pix + m0, np, dyb, lddy);
                    }
                    if (db) {
                        if (wt.NR == 16) bias_block<2>(accb, dyb, lddy, np);
                        else bias_block<4>(accb, dyb, lddy, np);
                    }
                }
            }
            if (db)
                for (int c = 0; c < nr; c++) dbparts[g * s.K + k0 + c] = accb[c];
        }
    }
    if (G > 1)  // add the chunks' partials in chunk order
        for (int64_t g = 0; g < G; g++) {
            const float* pg = parts + g * part;
            for (int64_t e = 0; e < RSC * s.K; e++) dw[e] += pg[e];
        }
    if (db)
        for (int64_t k = 0; k < s.K; k++) {
            double v = 0.0;
            for (int64_t g = 0; g < G; g++) v += dbparts[g * s.K + k];
            db[k] = static_cast<float>(v);
        }
}

}  // namespace conv
}  // namespace grebe
