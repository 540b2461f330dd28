// rnn_avx512.cpp — the fused forward recurrence pass (AVX-512) for LSTM, GRU (reset_after) and
// SimpleRNN: the AVX2 passes (rnn_avx2.cpp, which explains the scheme) with 16-lane vectors.
// Layouts and semantics: rnn.h; the driver and the whole-sequence GEMMs: rnn.cpp.
//
// What changes with 32 zmm registers: a unit block of 16 is one vector, so a tile is up to
// kMR = 12 rows x 16 units with 12 independent FMA chains, each FMA taking its row's value as
// an embedded broadcast (one load of 16 packed weights serves 12 rows instead of 6). A thread's
// rows are cut into tiles of nearly equal height (32 rows: 11 + 11 + 10), never a short
// leftover. Partial unit blocks use mask registers. e^x puts 2^n in with vscalefps.
//
// Threads and determinism: as in rnn_avx2.cpp: rows split by thread for the recurrence, unit
// blocks for the weight gradients, per-step progress counters instead of barriers. An output
// element is computed by the same instructions in the same order whichever thread or tile
// holds it, so results are bit-identical for any thread count.
//
// The backward (BPTT) pass: rnn_bptt_avx512.cpp; what both share: rnn_avx512_common.h.
#include <omp.h>

#include "kernels/rnn_avx512_common.h"
#include "kernels/runtime.h"

namespace grebe {
namespace rnn {
namespace {

// Forward weights of unit block jb, one slab per gate: U rows of R then F rows of W, 16 floats
// a row, zeros past U (the layout of rnn_avx2.cpp).
void pack_forward(float* dst, const RnnArgs& a, int G, int64_t GU, int64_t jb) {
    const int64_t j0 = jb * 16, U = a.U, F = a.F;
    for (int g = 0; g < G; g++) {
        float* slab = dst + g * (U + F) * 16;
        for (int64_t k = 0; k < U + F; k++) {
            const float* src = k < U ? a.R + k * GU : a.W + (k - U) * GU;
            for (int jj = 0; jj < 16; jj++)
                slab[k * 16 + jj] = j0 + jj < U ? src[g * U + j0 + jj] : 0.0f;
        }
    }
}

// ---- forward ----------------------------------------------------------------------------------

struct FwdTile {
    const Ctx& c;
    const float* P;
    int64_t s, j0;
};

// One tile: MR rows x 16 units; each slab's sums in registers, parked, then the cell math.
template <int MR, bool D>
void fwd_tile(const FwdTile& ft, int64_t b0) {
    const Ctx& c = ft.c;
    const RnnArgs& a = c.a;
    const int64_t U = c.U, F = c.F, s = ft.s;
    const float* hp = c.h(s) + b0 * U;
    const float* xr = a.x + (b0 * c.T + c.t(s)) * F;
    const bool gru = a.cell == RnnCell::gru;
    const int nslab = a.cell == RnnCell::simple ? 1 : 4;
    alignas(64) float sums[4][MR][16];
    for (int slab = 0; slab < nslab; slab++) {
        const int g = gru && slab == 3 ? 2 : slab;
        const bool use_h = !(gru && slab == 2), use_x = !(gru && slab == 3);
        const float* w = ft.P + g * (U + F) * 16;
        __m512 acc[MR];
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_ps();
        if (use_h && !(s == 0 && a.h0 == nullptr)) mk<MR>(acc, hp, U, w, U);
        if (use_x) mk<MR>(acc, xr, c.T * F, w + U * 16, F);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) _mm512_store_ps(sums[slab][r], acc[r]);
    }
    const int64_t j0 = ft.j0;
    const Lanes L(U - j0);
    __m512 bias[4], bh[3];
    for (int g = 0; g < c.p.G; g++) bias[g] = L.ld_or0(c.bias(a.bx, g, j0));
    for (int g = 0; g < 3 && gru; g++) bh[g] = L.ld_or0(c.bias(a.bh, g, j0));
    for (int r = 0; r < MR; r++) {
        const int64_t b = b0 + r, o = b * U + j0;
        auto sum = [&](int slab) { return _mm512_load_ps(sums[slab][r]); };
        float* hn = c.h(s + 1) + o;
        const float* hpr = c.h(s) + o;
        float* gr = a.gates ? a.gates + (s * c.B + b) * c.GU + j0 : nullptr;
        if (!c.used(b, s)) {
            L.copy(hn, hpr);
            if (a.cell == RnnCell::lstm) L.copy(c.c(s + 1) + o, c.c(s) + o);
        } else if (a.cell == RnnCell::lstm) {
            const __m512 i = act_r<D>(_mm512_add_ps(sum(0), bias[0]), a.ract);
            const __m512 f = act_r<D>(_mm512_add_ps(sum(1), bias[1]), a.ract);
            const __m512 gg = act_a<D>(_mm512_add_ps(sum(2), bias[2]), a.act);
            const __m512 og = act_r<D>(_mm512_add_ps(sum(3), bias[3]), a.ract);
            const __m512 cv = _mm512_fmadd_ps(f, L.ld(c.c(s) + o), _mm512_mul_ps(i, gg));
            const __m512 tc = act_a<D>(cv, a.act);
            L.st(c.c(s + 1) + o, cv);
            L.st(hn, _mm512_mul_ps(og, tc));
            if (gr) { L.st(gr, i); L.st(gr + U, f); L.st(gr + 2 * U, gg); L.st(gr + 3 * U, og); }
            if (a.aux) L.st(a.aux + s * c.BU + o, tc);
        } else if (gru) {
            const __m512 z =
                act_r<D>(_mm512_add_ps(_mm512_add_ps(sum(0), bias[0]), bh[0]), a.ract);
            const __m512 rg =
                act_r<D>(_mm512_add_ps(_mm512_add_ps(sum(1), bias[1]), bh[1]), a.ract);
            const __m512 rh = _mm512_add_ps(sum(3), bh[2]);
            const __m512 xh = _mm512_add_ps(sum(2), bias[2]);
            const __m512 hh = act_a<D>(_mm512_fmadd_ps(rg, rh, xh), a.act);
            L.st(hn, _mm512_fmadd_ps(z, _mm512_sub_ps(L.ld(hpr), hh), hh));
            if (gr) { L.st(gr, z); L.st(gr + U, rg); L.st(gr + 2 * U, hh); }
            if (a.aux) L.st(a.aux + s * c.BU + o, rh);
        } else {
            L.st(hn, act_a<D>(_mm512_add_ps(sum(0), bias[0]), a.act));
        }
        if (a.y) L.copy(a.y + (b * c.T + s) * U + j0, hn);
    }
}

template <int MR>
struct FwdT {
    static void run(const FwdTile& t, int64_t b0) {
        if (t.c.defaults) fwd_tile<MR, true>(t, b0); else fwd_tile<MR, false>(t, b0);
    }
};

}  // namespace

void forward_fused_avx512(const Pass& p) {
    const Ctx c(p);
    const int64_t nblk = (c.U + 15) / 16;
    const int64_t panel = p.G * (c.U + c.F) * 16;
    float* pack = workspace(kWsPack, static_cast<size_t>(nblk * panel));
    const int nt = pass_threads(c.B, c.T * c.B * c.GU * (c.U + c.F));
    #pragma omp parallel num_threads(nt)
    {
        // Each block is packed by one thread; the barrier ending `omp for` publishes it.
        #pragma omp for schedule(static)
        for (int64_t jb = 0; jb < nblk; jb++) pack_forward(pack + jb * panel, c.a, p.G, c.GU, jb);
        const Rows rows(c.B, omp_get_thread_num(), omp_get_num_threads());
        // Writes h_{s+1} (c, gates, aux, y) of this thread's rows; reads h_s of the same rows.
        for (int64_t s = 0; s < c.T; s++)
            for (int64_t jb = 0; jb < nblk; jb++)
                run_rows<FwdT>(FwdTile{c, pack + jb * panel, s, jb * 16}, rows.first, rows.last);
    }
}

}  // namespace rnn
}  // namespace grebe
