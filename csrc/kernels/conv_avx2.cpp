// conv_avx2.cpp — NHWC convolution for AVX2+FMA: forward and backward-data (backward-weights
// is in conv_weights_avx2.cpp). Built with -mavx2 -mfma (file suffix); everything but the
// *_avx2 entry points has internal linkage, and no std:: template is instantiated here.
//
//
// Design (see PERF_NOTES.md, "Convolution"):
// - Forward is an implicit GEMM (Dukhan's indirect convolution, without an im2col copy):
//   a 6 x 16 register tile holds 6 output pixels x 16 output channels; its A operand is read
//   straight from the image through 6 pixel pointers. With dilation_w == 1 the S*C values of
//   one kernel row are contiguous in NHWC, so the reduction runs over R "segments" of S*C
//   floats (conv2 of the seed CNN: 3 segments of 96). Padded images are copied once per image
//   into a per-thread zero-bordered buffer that stays in L1/L2, so the inner loop has no
//   bounds checks. Weights are packed once per call into 16-wide panels.
// - Backward-data (batch >= 8) scatters: per image, one thread computes dy (PQ x K) times the
//   transposed weights (K x 16-wide slices of one kernel row) and adds each 6 x 16 tile into
//   dx in the tile's epilogue (col2im fused into the GEMM). Only the useful products are
//   computed (no multiplications by padding zeros), and the one thread that owns an image adds
//   into its dx in a fixed order. Small batches instead run the forward kernel over dy padded
//   (and zero-interleaved for strides) with flipped, transposed weights, split by pixels.
// - Backward-weights: dW is cut into column panels (16 or 32 output channels) and the batch
//   into a few chunks (their number set by the shape alone); one thread owns each (chunk,
//   panel) unit: it accumulates 6 x 16 (or 3 x 32) register tiles of the chunk's partial dW
//   over blocks of pixels, reading x in place and dy in place, or from a relu-masked copy of
//   the panel that it makes once per block for all of its tiles. No two threads touch the same
//   element, and the chunks' partials are added in chunk order at the end.
// - Every loop gives each output element the same instructions on whichever thread runs it,
//   so results are bit-identical for any thread count, and the loops can use dynamic
//   schedules (a core shared with another process then slows a kernel down, not to a halt).
#include <omp.h>

#include <cstring>

#include "kernels/conv_avx2_common.h"

namespace grebe {
namespace conv {
namespace {

enum Mode { kStore = 0, kStoreRelu = 1, kAdd = 2 };

// The 6 x 16 tile: 6 output rows (pixels) x 16 output columns, 12 ymm accumulators.
//   acc[i][j] = bias[j] + sum_{g < nseg} sum_{l < L} a[i][seg[g] + l] * wp[(g*L + l)*16 + j]
// then stored (kStore), stored as max(0, .) (kStoreRelu), or added into out (kAdd, no bias) at
// out[i][0..nr). Rows i >= mr are computed (their a pointers repeat a valid row) but never
// written. Rows are written in order 0..mr-1, so kAdd targets may overlap.
template <int MODE>
void tile_6x16(const float* const* a, const int64_t* seg, int64_t nseg, int64_t L,
               const float* wp, const float* bias, float* const* out, int mr, int nr) {
    __m256 acc[6][2];
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        acc[i][0] = b0;
        acc[i][1] = b1;
    }
    for (int64_t g = 0; g < nseg; g++) {
        const int64_t o = seg[g];
        const float* a0 = a[0] + o;
        const float* a1 = a[1] + o;
        const float* a2 = a[2] + o;
        const float* a3 = a[3] + o;
        const float* a4 = a[4] + o;
        const float* a5 = a[5] + o;
        // 12 independent FMA chains per step: enough to hide the 4-cycle latency on 2 pipes.
#pragma GCC unroll 4
        for (int64_t l = 0; l < L; l++) {
            const __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8);
            __m256 v;
            v = _mm256_broadcast_ss(a0 + l);
            acc[0][0] = _mm256_fmadd_ps(v, w0, acc[0][0]);
            acc[0][1] = _mm256_fmadd_ps(v, w1, acc[0][1]);
            v = _mm256_broadcast_ss(a1 + l);
            acc[1][0] = _mm256_fmadd_ps(v, w0, acc[1][0]);
            acc[1][1] = _mm256_fmadd_ps(v, w1, acc[1][1]);
            v = _mm256_broadcast_ss(a2 + l);
            acc[2][0] = _mm256_fmadd_ps(v, w0, acc[2][0]);
            acc[2][1] = _mm256_fmadd_ps(v, w1, acc[2][1]);
            v = _mm256_broadcast_ss(a3 + l);
            acc[3][0] = _mm256_fmadd_ps(v, w0, acc[3][0]);
            acc[3][1] = _mm256_fmadd_ps(v, w1, acc[3][1]);
            v = _mm256_broadcast_ss(a4 + l);
            acc[4][0] = _mm256_fmadd_ps(v, w0, acc[4][0]);
            acc[4][1] = _mm256_fmadd_ps(v, w1, acc[4][1]);
            v = _mm256_broadcast_ss(a5 + l);
            acc[5][0] = _mm256_fmadd_ps(v, w0, acc[5][0]);
            acc[5][1] = _mm256_fmadd_ps(v, w1, acc[5][1]);
            wp += 16;
        }
    }
    const __m256 zero = _mm256_setzero_ps();
    if (mr == 6 && nr == 16) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256 r0 = acc[i][0], r1 = acc[i][1];
            if (MODE == kAdd) {
                r0 = _mm256_add_ps(_mm256_loadu_ps(out[i]), r0);
                r1 = _mm256_add_ps(_mm256_loadu_ps(out[i] + 8), r1);
            } else if (MODE == kStoreRelu) {  // max(0, x) with x second: NaN propagates
                r0 = _mm256_max_ps(zero, r0);
                r1 = _mm256_max_ps(zero, r1);
            }
            _mm256_storeu_ps(out[i], r0);
            _mm256_storeu_ps(out[i] + 8, r1);
        }
        return;
    }
    alignas(32) float t[6][16];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        _mm256_store_ps(t[i], acc[i][0]);
        _mm256_store_ps(t[i] + 8, acc[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        float* o = out[i];
        for (int j = 0; j < nr; j++) {
            const float v = t[i][j];
            if (MODE == kAdd) o[j] = o[j] + v;
            else if (MODE == kStoreRelu) o[j] = 0.0f > v ? 0.0f : v;  // as _mm256_max_ps(0, v)
            else o[j] = v;
        }
    }
}

// One convolution over a batch by 6 x 16 tiles ("gather": each output pixel reads its window):
//   out (N, P, Q, K) = act(bias + conv(image_n, w)), with stride (sh, sw), dilation (dh, dw),
//   kernel (R, S) over image_n (Hz, Wz, Cs). image_n is src image n (Hs, Ws, Cs) itself when
//   !place (then Hz == Hs, Wz == Ws), else src placed by place_image(oh, ow, ish, isw, mask)
//   into a per-thread buffer. wp: ceil(K/16) panels of (R*S*Cs) x 16 packed weights, rows in
//   (r, s, c) order; bias: ceil(K/16)*16 floats.
struct Gather {
    const float* src;
    const float* mask;
    int64_t N, Hs, Ws, Cs;
    bool place;
    int64_t Hz, Wz, oh, ow, ish, isw;
    int64_t R, S, sh, sw, dh, dw;
    int64_t P, Q, K;
    const float* wp;
    const float* bias;
    bool relu;
};

// Pixels per work item of gather_conv: 8 tiles of 6. Within an item the loop runs panel by
// panel, so one 16-wide weight panel (conv2: 288 x 16 floats = 18 KiB) stays in L1 while the
// item's 48 pixels pass under it.
constexpr int64_t kGatherBlock = 48;

void gather_conv(float* out, const Gather& g) {
    const int64_t PQ = g.P * g.Q, npanel = cdiv(g.K, 16), RSC = g.R * g.S * g.Cs;
    int64_t* tables = static_cast<int64_t*>(scratch(kTables, (g.R * g.S + PQ) * 8));
    int64_t* seg = tables;
    int64_t L;
    const int64_t nseg = segments(seg, &L, g.R, g.S, g.dh, g.dw, g.Wz, g.Cs);
    int64_t* pix = tables + g.R * g.S;
    pixel_offsets(pix, g.P, g.Q, g.sh, g.sw, g.Wz, g.Cs);

    const int64_t nb = cdiv(PQ, kGatherBlock), items = g.N * nb;
    const int nt = team_size(2 * g.N * PQ * g.K * RSC, items);
    const int mode = g.relu ? kStoreRelu : kStore;
    int64_t bstride = 0;
    float* bufs = g.place ? thread_slices(kImage, nt, g.Hz * g.Wz * g.Cs, &bstride) : nullptr;
    // Items (image, block of 48 pixels) write disjoint output rows: race-free, and every
    // output element is computed by the same instructions whichever thread runs its item, so
    // the dynamic schedule (which keeps both cores busy when one is shared) changes no bit.
#pragma omp parallel num_threads(nt)
    {
        float* buf = g.place ? bufs + omp_get_thread_num() * bstride : nullptr;
        int64_t cur = -1;
        const float* a[6];
        float* o[6];
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
                const float* wpj = g.wp + j * RSC * 16;
                const float* bj = g.bias + j * 16;
                const int nr = static_cast<int>(imin(16, g.K - j * 16));
                for (int64_t m = m0; m < m1; m += 6) {
                    const int mr = static_cast<int>(imin(6, m1 - m));
                    for (int i = 0; i < 6; i++) {
                        const int64_t mi = i < mr ? m + i : m;
                        a[i] = img + pix[mi];
                        o[i] = out + (n * PQ + mi) * g.K + j * 16;
                    }
                    if (mode == kStoreRelu)
                        tile_6x16<kStoreRelu>(a, seg, nseg, L, wpj, bj, o, mr, nr);
                    else
                        tile_6x16<kStore>(a, seg, nseg, L, wpj, bj, o, mr, nr);
                }
            }
        }
    }
}

}  // namespace

namespace {

// Packs w (R*S*C, K) into ceil(K/16) 16-wide column panels (zero past K) and the bias into
// ceil(K/16)*16 floats (zeros when bias is nullptr), in the caller's scratch.
void pack_forward(const float** wp_out, const float** bp_out, const float* w, const float* bias,
                  const Conv2dShape& s) {
    const int64_t RSC = s.R * s.S * s.C, npanel = cdiv(s.K, 16);
    float* wp = static_cast<float*>(scratch(kPackedW, npanel * RSC * 16 * 4));
    for (int64_t j = 0; j < npanel; j++)
        for (int64_t i = 0; i < RSC; i++)
            for (int64_t jj = 0; jj < 16; jj++) {
                const int64_t k = j * 16 + jj;
                wp[(j * RSC + i) * 16 + jj] = k < s.K ? w[i * s.K + k] : 0.0f;
            }
    float* bp = static_cast<float*>(scratch(kPackedBias, npanel * 16 * 4));
    for (int64_t k = 0; k < npanel * 16; k++) bp[k] = bias && k < s.K ? bias[k] : 0.0f;
    *wp_out = wp;
    *bp_out = bp;
}

}  // namespace

void forward_avx2(float* y, const float* x, const float* w, const float* bias, bool relu,
                  const Conv2dShape& s) {
    if (s.N == 0 || s.P <= 0 || s.Q <= 0 || s.K == 0) return;
    Gather g;
    pack_forward(&g.wp, &g.bias, w, bias, s);
    g.src = x;
    g.mask = nullptr;
    g.N = s.N, g.Hs = s.H, g.Ws = s.W, g.Cs = s.C;
    g.place = s.PT || s.PB || s.PL || s.PR;
    g.Hz = s.H + s.PT + s.PB, g.Wz = s.W + s.PL + s.PR;
    g.oh = s.PT, g.ow = s.PL, g.ish = 1, g.isw = 1;
    g.R = s.R, g.S = s.S, g.sh = s.SH, g.sw = s.SW, g.dh = s.DH, g.dw = s.DW;
    g.P = s.P, g.Q = s.Q, g.K = s.K;
    g.relu = relu;
    gather_conv(y, g);
}

namespace {

// One pooled row from a band of conv outputs (PH rows x QW = Q2*PW pixels, Kp floats each,
// before relu): yp[j*K + k] = max(0, window max), am[j*K + k] = the winner's a*PW + b. A later
// position wins when strictly greater or NaN (ties keep the first; a NaN wins, the last).
void pool_band(float* yp, uint8_t* am, const float* band, int64_t Kp, int64_t K, int64_t PH,
               int64_t PW, int64_t Q2) {
    const int64_t QW = Q2 * PW;
    const __m256 zero = _mm256_setzero_ps();
    alignas(32) float ybuf[8];
    alignas(32) int32_t ibuf[8];
    for (int64_t j = 0; j < Q2; j++)
        for (int64_t k = 0; k < K; k += 8) {
            __m256 best = _mm256_loadu_ps(band + j * PW * Kp + k);
            __m256 idx = zero;
            for (int64_t a = 0; a < PH; a++)
                for (int64_t b = 0; b < PW; b++) {
                    if (a == 0 && b == 0) continue;
                    const __m256 v = _mm256_loadu_ps(band + (a * QW + j * PW + b) * Kp + k);
                    const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                                     _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                    best = _mm256_blendv_ps(best, v, take);
                    idx = _mm256_blendv_ps(idx, _mm256_set1_ps(float(a * PW + b)), take);
                }
            const __m256 out = _mm256_max_ps(zero, best);  // relu; a NaN propagates
            const __m256i ii = _mm256_cvttps_epi32(idx);
            if (k + 8 <= K) {
                _mm256_storeu_ps(yp + j * K + k, out);
                const __m128i p16 = _mm_packus_epi32(_mm256_castsi256_si128(ii),
                                                     _mm256_extracti128_si256(ii, 1));
                _mm_storel_epi64(reinterpret_cast<__m128i*>(am + j * K + k),
                                 _mm_packus_epi16(p16, p16));
            } else {
                _mm256_store_ps(ybuf, out);
                _mm256_store_si256(reinterpret_cast<__m256i*>(ibuf), ii);
                for (int64_t e = 0; k + e < K; e++) {
                    yp[j * K + k + e] = ybuf[e];
                    am[j * K + k + e] = static_cast<uint8_t>(ibuf[e]);
                }
            }
        }
}

}  // namespace

void forward_relu_maxpool_avx2(float* yp, uint8_t* am, const float* x, const float* w,
                               const float* bias, const Conv2dShape& s, int64_t PH, int64_t PW) {
    const int64_t P2 = s.P / PH, Q2 = s.Q / PW, QW = Q2 * PW, NB = PH * QW;
    if (s.N == 0 || P2 <= 0 || Q2 <= 0 || s.K == 0) return;
    const float *wp, *bp;
    pack_forward(&wp, &bp, w, bias, s);
    const int64_t npanel = cdiv(s.K, 16), Kp = npanel * 16, RSC = s.R * s.S * s.C;
    const bool place = s.PT || s.PB || s.PL || s.PR;
    const int64_t Hz = s.H + s.PT + s.PB, Wz = s.W + s.PL + s.PR;
    int64_t* tables = static_cast<int64_t*>(scratch(kTables, (s.R * s.S + NB) * 8));
    int64_t* seg = tables;
    int64_t L;
    const int64_t nseg = segments(seg, &L, s.R, s.S, s.DH, s.DW, Wz, s.C);
    int64_t* rel = tables + s.R * s.S;  // band pixel t = a*QW + c, relative to the band origin
    pixel_offsets(rel, PH, QW, s.SH, s.SW, Wz, s.C);
    const int64_t items = s.N * P2;
    const int nt = team_size(2 * s.N * P2 * NB * s.K * RSC, items);
    int64_t istride = 0, bstride = 0;
    float* ibufs = place ? thread_slices(kImage, nt, Hz * Wz * s.C, &istride) : nullptr;
    float* bands = thread_slices(kBlock, nt, NB * Kp, &bstride);
    // Item (n, i) computes the conv band of pooled row i into its thread's L1 buffer and writes
    // pooled row i only: race-free, and the same instructions on any thread.
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float* ibuf = place ? ibufs + tid * istride : nullptr;
        float* band = bands + tid * bstride;
        int64_t cur = -1;
        const float* a[6];
        float* o[6];
#pragma omp for schedule(dynamic, 2)
        for (int64_t it = 0; it < items; it++) {
            const int64_t n = it / P2, i = it % P2;
            const float* img = x + n * s.H * s.W * s.C;
            if (place) {
                if (n != cur) {
                    place_image(ibuf, Hz, Wz, img, nullptr, s.H, s.W, s.C, s.PT, s.PL, 1, 1);
                    cur = n;
                }
                img = ibuf;
            }
            const float* origin = img + i * PH * s.SH * Wz * s.C;
            for (int64_t j = 0; j < npanel; j++) {
                const float* wpj = wp + j * RSC * 16;
                for (int64_t t = 0; t < NB; t += 6) {
                    const int mr = static_cast<int>(imin(6, NB - t));
                    for (int e = 0; e < 6; e++) {
                        const int64_t te = e < mr ? t + e : t;
                        a[e] = origin + rel[te];
                        o[e] = band + te * Kp + j * 16;
                    }
                    tile_6x16<kStore>(a, seg, nseg, L, wpj, bp + j * 16, o, mr, 16);
                }
            }
            const int64_t out = (n * P2 + i) * Q2 * s.K;
            pool_band(yp + out, am + out, band, Kp, s.K, PH, PW, Q2);
        }
    }
}

namespace {

// Small batches: dx = forward conv, stride 1, dilation (DH, DW), of dy relu-masked, zero-
// interleaved by the strides and padded so that dy[p] sits at row p*SH + (R-1)*DH - PT, with
// the weights flipped in r and s and transposed in (c, k).
void backward_data_gather(float* dx, const float* dy, const float* relu_y, const float* w,
                          const Conv2dShape& s) {
    const int64_t RSK = s.R * s.S * s.K, npanel = cdiv(s.C, 16);
    float* wp = static_cast<float*>(scratch(kPackedW, npanel * RSK * 16 * 4));
    for (int64_t j = 0; j < npanel; j++)
        for (int64_t r = 0; r < s.R; r++)
            for (int64_t q = 0; q < s.S; q++)
                for (int64_t k = 0; k < s.K; k++)
                    for (int64_t jj = 0; jj < 16; jj++) {
                        const int64_t c = j * 16 + jj;
                        const int64_t src = (((s.R - 1 - r) * s.S + (s.S - 1 - q)) * s.C + c);
                        wp[(j * RSK + (r * s.S + q) * s.K + k) * 16 + jj] =
                            c < s.C ? w[src * s.K + k] : 0.0f;
                    }
    Gather g;
    g.src = dy;
    g.mask = relu_y;
    g.N = s.N, g.Hs = s.P, g.Ws = s.Q, g.Cs = s.K;
    g.Hz = s.H + (s.R - 1) * s.DH, g.Wz = s.W + (s.S - 1) * s.DW;
    g.oh = (s.R - 1) * s.DH - s.PT, g.ow = (s.S - 1) * s.DW - s.PL;
    g.ish = s.SH, g.isw = s.SW;
    g.place = !(g.oh == 0 && g.ow == 0 && s.SH == 1 && s.SW == 1 && g.Hz == s.P &&
                g.Wz == s.Q && !relu_y);
    g.R = s.R, g.S = s.S, g.sh = 1, g.sw = 1, g.dh = s.DH, g.dw = s.DW;
    g.P = s.H, g.Q = s.W, g.K = s.C;
    g.wp = wp;
    g.bias = kZeros16;  // npanel may exceed 1: give every panel its zeros
    if (npanel > 1) {
        float* bz = static_cast<float*>(scratch(kPackedBias, npanel * 16 * 4));
        std::memset(bz, 0, npanel * 16 * 4);
        g.bias = bz;
    }
    g.relu = false;
    gather_conv(dx, g);
}

// Batches of at least this many images run backward-data by scatter, one image per thread.
constexpr int64_t kScatterMinBatch = 8;

// Per image n: dxp (Hp, Wp, C) = 0, then for every output pixel m, segment g (a kernel row, or
// a tap when DW > 1) and 16-wide slice b of the segment:
//   dxp[pix[m] + seg[g] + b*16 + jj] += sum_k dy[n, m, k] * w[(g*L + b*16 + jj)*K + k]
void backward_data_scatter(float* dx, const DySource& dy, const float* w,
                           const Conv2dShape& s) {
    const int64_t Hp = s.H + s.PT + s.PB, Wp = s.W + s.PL + s.PR, PQ = s.P * s.Q;
    int64_t* tables = static_cast<int64_t*>(scratch(kTables, (s.R * s.S + PQ) * 8));
    int64_t* seg = tables;
    int64_t L;
    const int64_t nseg = segments(seg, &L, s.R, s.S, s.DH, s.DW, Wp, s.C);
    int64_t* pix = tables + s.R * s.S;
    pixel_offsets(pix, s.P, s.Q, s.SH, s.SW, Wp, s.C);
    // Pack: panel (g, b) is K x 16 with wt[k][jj] = w[(g*L + b*16 + jj)*K + k], zero past L.
    const int64_t nbs = cdiv(L, 16);
    float* wt = static_cast<float*>(scratch(kPackedW, nseg * nbs * s.K * 16 * 4));
    for (int64_t g = 0; g < nseg; g++)
        for (int64_t b = 0; b < nbs; b++)
            for (int64_t k = 0; k < s.K; k++)
                for (int64_t jj = 0; jj < 16; jj++) {
                    const int64_t l = b * 16 + jj;
                    wt[((g * nbs + b) * s.K + k) * 16 + jj] =
                        l < L ? w[(g * L + l) * s.K + k] : 0.0f;
                }
    const bool padded = s.PT || s.PB || s.PL || s.PR;
    const int64_t zero_seg = 0;
    const int nt = team_size(2 * s.N * PQ * s.K * s.R * s.S * s.C, s.N);
    // One thread owns each image: its dx is written by nobody else, in a fixed order (any
    // thread, any schedule).
    int64_t tstride = 0, dstride = 0;
    float* tgt_bufs = padded ? thread_slices(kTarget, nt, Hp * Wp * s.C, &tstride) : nullptr;
    const bool copy = !dy.plain();
    float* dy_bufs = copy ? thread_slices(kBlock, nt, PQ * s.K, &dstride) : nullptr;
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float* tgt_buf = padded ? tgt_bufs + tid * tstride : nullptr;
        float* dy_buf = copy ? dy_bufs + tid * dstride : nullptr;
        const float* a[6];
        float* o[6];
#pragma omp for schedule(dynamic, 1)
        for (int64_t n = 0; n < s.N; n++) {
            float* dxn = dx + n * s.H * s.W * s.C;
            float* tgt = padded ? tgt_buf : dxn;
            std::memset(tgt, 0, Hp * Wp * s.C * sizeof(float));
            const float* src = dy_buf;
            if (copy)  // image n of the masked or routed gradient
                fill_dy_rows(dy_buf, s.K, s.K, dy, n, 0, PQ, 0, s.K, s.P, s.Q, s.K);
            else
                src = dy.dy + n * PQ * s.K;
            for (int64_t g = 0; g < nseg; g++)
                for (int64_t b = 0; b < nbs; b++) {
                    const float* wpb = wt + (g * nbs + b) * s.K * 16;
                    const int nr = static_cast<int>(imin(16, L - b * 16));
                    const int64_t off = seg[g] + b * 16;
                    for (int64_t m = 0; m < PQ; m += 6) {
                        const int mr = static_cast<int>(imin(6, PQ - m));
                        for (int i = 0; i < 6; i++) {
                            const int64_t mi = i < mr ? m + i : m;
                            a[i] = src + mi * s.K;
                            o[i] = tgt + pix[mi] + off;
                        }
                        tile_6x16<kAdd>(a, &zero_seg, 1, s.K, wpb, kZeros16, o, mr, nr);
                    }
                }
            if (padded)
                for (int64_t h = 0; h < s.H; h++)
                    std::memcpy(dxn + h * s.W * s.C, tgt + ((h + s.PT) * Wp + s.PL) * s.C,
                                s.W * s.C * sizeof(float));
        }
    }
}

}  // namespace

void backward_data_avx2(float* dx, const DySource& dy, const float* w, const Conv2dShape& s) {
    if (s.N == 0) return;
    if (s.P <= 0 || s.Q <= 0 || s.K == 0) {
        std::memset(dx, 0, s.N * s.H * s.W * s.C * sizeof(float));
        return;
    }
    if (s.N >= kScatterMinBatch) {
        backward_data_scatter(dx, dy, w, s);
    } else if (dy.dyp) {  // the gather path reads a plain (or relu-masked) gradient
        float* full = static_cast<float*>(scratch(kPooledDy, s.N * s.P * s.Q * s.K * 4));
        expand_dy(full, dy, s.N, s.P, s.Q, s.K);
        backward_data_gather(dx, full, nullptr, w, s);
    } else {
        backward_data_gather(dx, dy.dy, dy.relu_y, w, s);
    }
}

}  // namespace conv
}  // namespace grebe
