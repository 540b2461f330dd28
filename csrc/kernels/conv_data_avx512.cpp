// conv_data_avx512.cpp — NHWC convolution backward-data for AVX-512F. Built with -mavx512f...
// (file suffix); everything but backward_data_avx512 has internal linkage.
//
// Two algorithms, chosen by the shape alone:
// - "gather" (stride 1, or small batches): dx is the forward conv, stride 1, of dy padded (and
//   zero-interleaved by the strides) with the weights flipped in r and s and transposed in
//   (c, k). It reduces over R*S*K per dx element and writes each element once: for the 'same'
//   padding of ResNet it does only useful products (bar the border), with the wide register
//   tiles of conv_avx512_common.h.
// - "scatter" (strided convs, and 'valid' convs at batch >= 8 such as the seed CNN's, where a
//   gather would multiply a wide zero border): per image, one thread computes dy (PQ x K) times
//   the transposed weights (K x 16-wide slices of one kernel row) and adds each tile into dx in
//   its epilogue (col2im fused into the GEMM), only useful products, in a fixed order.
// Both give each dx element the same instructions on whichever thread runs it: bit-identical
// for any thread count.
#include <cstring>

#include "kernels/conv_avx512_common.h"

namespace grebe {
namespace conv {
namespace {

void backward_data_gather(float* dx, const float* dy, const float* relu_y, const float* w,
                          const Conv2dShape& s) {
    Gather g;
    g.t = tiling_for(s.C);
    const int64_t PW = 16 * g.t.NV;
    const int64_t RSK = s.R * s.S * s.K, npanel = cdiv(s.C, PW);
    float* wp = static_cast<float*>(scratch(kPackedW, npanel * RSK * PW * 4));
    for (int64_t j = 0; j < npanel; j++)
        for (int64_t r = 0; r < s.R; r++)
            for (int64_t q = 0; q < s.S; q++)
                for (int64_t k = 0; k < s.K; k++)
                    for (int64_t jj = 0; jj < PW; jj++) {
                        const int64_t c = j * PW + jj;
                        const int64_t src = (((s.R - 1 - r) * s.S + (s.S - 1 - q)) * s.C + c);
                        wp[(j * RSK + (r * s.S + q) * s.K + k) * PW + jj] =
                            c < s.C ? w[src * s.K + k] : 0.0f;
                    }
    float* bz = static_cast<float*>(scratch(kPackedBias, npanel * PW * 4));
    std::memset(bz, 0, npanel * PW * 4);
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
    g.bias = bz;
    g.relu = false;
    gather_conv(dx, g);
}

// Per image n: dxp (Hp, Wp, C) = 0, then for every output pixel m, segment g (a kernel row, or
// a tap when DW > 1) and 16-wide slice b of the segment:
//   dxp[pix[m] + seg[g] + b*16 + jj] += sum_k dy[n, m, k] * w[(g*L + b*16 + jj)*K + k]
// 16-wide slices (12-pixel tiles): wider ones would make the rows of one tile overlap in dx
// when S*C is small, and a load that overlaps a store still in flight stalls.
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
    const Tiling t = {12, 1};
    const TileFn fn = tile_fn(t, kAdd);
    const int nt = team_size(2 * s.N * PQ * s.K * s.R * s.S * s.C, s.N);
    int64_t tstride = 0, dstride = 0;
    float* tgt_bufs = padded ? thread_slices(kTarget, nt, Hp * Wp * s.C, &tstride) : nullptr;
    const bool copy = !dy.plain();
    float* dy_bufs = copy ? thread_slices(kBlock, nt, PQ * s.K, &dstride) : nullptr;
    // One thread owns each image: its dx is written by nobody else, in a fixed order (any
    // thread, any schedule).
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float* tgt_buf = padded ? tgt_bufs + tid * tstride : nullptr;
        float* dy_buf = copy ? dy_bufs + tid * dstride : nullptr;
        const float* a[kMaxMR];
        float* o[kMaxMR];
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
                    for (int64_t m = 0; m < PQ; m += t.MR) {
                        const int mr = static_cast<int>(imin(t.MR, PQ - m));
                        for (int i = 0; i < t.MR; i++) {
                            const int64_t mi = i < mr ? m + i : m;
                            a[i] = src + mi * s.K;
                            o[i] = tgt + pix[mi] + off;
                        }
                        fn(a, &zero_seg, 1, s.K, wpb, kZeros16, o, mr, nr);
                    }
                }
            if (padded)
                for (int64_t h = 0; h < s.H; h++)
                    std::memcpy(dxn + h * s.W * s.C, tgt + ((h + s.PT) * Wp + s.PL) * s.C,
                                s.W * s.C * sizeof(float));
        }
    }
}

// Batches of at least this many images scatter unless the conv has stride 1 and 'same'-like
// padding (then the gather does no wasted products and writes each dx element once).
constexpr int64_t kScatterMinBatch = 8;

bool use_gather(const Conv2dShape& s) {
    if (s.N < kScatterMinBatch) return true;
    const bool unit_stride = s.SH == 1 && s.SW == 1;
    const bool same = s.PT + s.PB == (s.R - 1) * s.DH && s.PL + s.PR == (s.S - 1) * s.DW;
    return unit_stride && same;
}

}  // namespace

void backward_data_avx512(float* dx, const DySource& dy, const float* w, const Conv2dShape& s) {
    if (s.N == 0) return;
    if (s.P <= 0 || s.Q <= 0 || s.K == 0) {
        std::memset(dx, 0, s.N * s.H * s.W * s.C * sizeof(float));
        return;
    }
    if (!use_gather(s)) {
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
