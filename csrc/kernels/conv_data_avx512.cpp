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
//   gather would multiply a wide zero border): conv_avx2.cpp's scatter (per image, dy times the
//   transposed weights, each tile added into dx in its epilogue). A 12 x 16 zmm version of it
//   measured 5-7% slower than the AVX2 6 x 16 tile on Zen 5 (whose per-core FMA rate is the
//   same for zmm and ymm here, and 12-row tiles waste more at the edges of an image's pixels),
//   so AVX-512 mode runs the AVX2 code, which every AVX-512 CPU executes.
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
        backward_data_avx2(dx, dy, w, s);  // N >= 8: its scatter (see the header comment)
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
