// conv_avx512.cpp — NHWC convolution for AVX-512F: forward (bias, relu) and the fused conv + relu
// + max pooling (backward-data: conv_data_avx512.cpp; backward-weights: conv_weights_avx512.cpp). Built with
// -mavx512f... (file suffix); everything but the *_avx512 entry points has internal linkage,
// and no std:: template is instantiated here. The index, placement and dy-routing helpers come
// from conv_avx2_common.h, compiled here with this file's flags (internal linkage).
//
// The algorithms are those of conv_avx2.cpp (implicit GEMM over "segments" of contiguous S*C
// floats, images placed into zero-bordered per-thread buffers, weights packed once per call);
// what changes is the register tile (conv_avx512_common.h), chosen per call from the number of
// output channels. Backward-data is in conv_data_avx512.cpp.
//
// Every loop gives each output element the same instructions on whichever thread runs it, so
// results are bit-identical for any thread count.
#include "kernels/conv_avx512_common.h"

namespace grebe {
namespace conv {
namespace {

// Packs w (R*S*C, K) into ceil(K/PW) PW-wide column panels (zero past K) and the bias into
// ceil(K/PW)*PW floats (zeros when bias is nullptr), in the caller's scratch.
void pack_forward(const float** wp_out, const float** bp_out, const float* w, const float* bias,
                  const Conv2dShape& s, int64_t PW) {
    const int64_t RSC = s.R * s.S * s.C, npanel = cdiv(s.K, PW);
    float* wp = static_cast<float*>(scratch(kPackedW, npanel * RSC * PW * 4));
    for (int64_t j = 0; j < npanel; j++)
        for (int64_t i = 0; i < RSC; i++)
            for (int64_t jj = 0; jj < PW; jj++) {
                const int64_t k = j * PW + jj;
                wp[(j * RSC + i) * PW + jj] = k < s.K ? w[i * s.K + k] : 0.0f;
            }
    float* bp = static_cast<float*>(scratch(kPackedBias, npanel * PW * 4));
    for (int64_t k = 0; k < npanel * PW; k++) bp[k] = bias && k < s.K ? bias[k] : 0.0f;
    *wp_out = wp;
    *bp_out = bp;
}

}  // namespace

void forward_avx512(float* y, const float* x, const float* w, const float* bias, bool relu,
                    const Conv2dShape& s) {
    if (s.N == 0 || s.P <= 0 || s.Q <= 0 || s.K == 0) return;
    Gather g;
    g.t = tiling_for(s.K);
    pack_forward(&g.wp, &g.bias, w, bias, s, 16 * g.t.NV);
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
// Kp a multiple of 16, before relu): yp[j*K + k] = max(0, window max), am[j*K + k] = the
// winner's a*PW + b. A later position wins when strictly greater or NaN (ties keep the first;
// a NaN wins, the last), as max_pool2d_forward and the AVX2 kernel.
void pool_band(float* yp, uint8_t* am, const float* band, int64_t Kp, int64_t K, int64_t PH,
               int64_t PW, int64_t Q2) {
    const int64_t QW = Q2 * PW;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t j = 0; j < Q2; j++)
        for (int64_t k = 0; k < K; k += 16) {
            const __mmask16 km = lanes(static_cast<int>(imin(16, K - k)), 0);
            __m512 best = _mm512_loadu_ps(band + j * PW * Kp + k);
            __m512i idx = _mm512_setzero_si512();
            for (int64_t a = 0; a < PH; a++)
                for (int64_t b = 0; b < PW; b++) {
                    if (a == 0 && b == 0) continue;
                    const __m512 v = _mm512_loadu_ps(band + (a * QW + j * PW + b) * Kp + k);
                    const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                                           _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                    best = _mm512_mask_mov_ps(best, take, v);
                    idx = _mm512_mask_mov_epi32(idx, take,
                                                _mm512_set1_epi32(static_cast<int>(a * PW + b)));
                }
            // relu as max(0, best) with best second: a NaN propagates.
            const __m512 out = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, best);
            _mm512_mask_storeu_ps(yp + j * K + k, km, out);
            _mm512_mask_cvtepi32_storeu_epi8(am + j * K + k, km, idx);
        }
}

}  // namespace

void forward_relu_maxpool_avx512(float* yp, uint8_t* am, const float* x, const float* w,
                                 const float* bias, const Conv2dShape& s, int64_t PH,
                                 int64_t PW) {
    const int64_t P2 = s.P / PH, Q2 = s.Q / PW, QW = Q2 * PW, NB = PH * QW;
    if (s.N == 0 || P2 <= 0 || Q2 <= 0 || s.K == 0) return;
    const Tiling t = tiling_for(s.K);
    const int64_t PWK = 16 * t.NV;  // panel width
    const float *wp, *bp;
    pack_forward(&wp, &bp, w, bias, s, PWK);
    const int64_t npanel = cdiv(s.K, PWK), Kp = npanel * PWK, RSC = s.R * s.S * s.C;
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
    const TileFn fn = tile_fn(t, kStore);
    int64_t istride = 0, bstride = 0;
    float* ibufs = place ? thread_slices(kImage, nt, Hz * Wz * s.C, &istride) : nullptr;
    float* bands = thread_slices(kBlock, nt, NB * Kp, &bstride);
    // Item (n, i) computes the conv band of pooled row i into its thread's buffer and writes
    // pooled row i only: race-free, and the same instructions on any thread.
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float* ibuf = place ? ibufs + tid * istride : nullptr;
        float* band = bands + tid * bstride;
        int64_t cur = -1;
        const float* a[kMaxMR];
        float* o[kMaxMR];
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
                const float* wpj = wp + j * RSC * PWK;
                for (int64_t tt = 0; tt < NB; tt += t.MR) {
                    const int mr = static_cast<int>(imin(t.MR, NB - tt));
                    for (int e = 0; e < t.MR; e++) {
                        const int64_t te = e < mr ? tt + e : tt;
                        a[e] = origin + rel[te];
                        o[e] = band + te * Kp + j * PWK;
                    }
                    fn(a, seg, nseg, L, wpj, bp + j * PWK, o, mr, static_cast<int>(PWK));
                }
            }
            const int64_t out = (n * P2 + i) * Q2 * s.K;
            pool_band(yp + out, am + out, band, Kp, s.K, PH, PW, Q2);
        }
    }
}

}  // namespace conv
}  // namespace grebe
