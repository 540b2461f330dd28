// rnn_bptt_avx512.cpp — the fused backward (BPTT) pass for LSTM, GRU (reset_after) and
// SimpleRNN with AVX-512: the schedule of rnn_avx2.cpp's backward (per step, dh = dG_{s+1} R^T in
// register tiles over depth slices, then the cell's backward; from batch 16 on, each step's share
// of dR, dW and the biases a few steps later, split by unit blocks) on tiles of up to 12 rows x 16
// units (rnn_avx512_common.h). Threads meet through per-step progress counters, no barriers; an
// element is computed by the same instructions in the same order whichever thread or tile holds
// it, so results are bit-identical for any thread count.
#include <omp.h>

#include <atomic>
#include <thread>
#include <vector>

#include "kernels/rnn_avx512_common.h"
#include "kernels/runtime.h"

namespace grebe {
namespace rnn {
namespace {

// ---- backward ---------------------------------------------------------------------------------

// Packs R^T for units j0..j0+15: dst[k*16 + jj] = R[j0+jj, k] over all GU columns k.
void pack_backward(float* dst, const float* R, int64_t U, int64_t GU, int64_t jb) {
    const int64_t j0 = jb * 16;
    for (int64_t k = 0; k < GU; k++)
        for (int jj = 0; jj < 16; jj++)
            dst[k * 16 + jj] = j0 + jj < U ? R[(j0 + jj) * GU + k] : 0.0f;
}

struct BwdTile {
    const Ctx& c;
    const float* P;  // this block's packed R^T: GU rows of 16
    int64_t s, j0;   // s = -1: the last product, d/dh0
    int64_t k0, k1;  // this pass's slice of the product's depth
    float* partial;  // (rows, 16): sums carried from one depth slice to the next
    int64_t r0;      // the first row of this thread's tiles
};

// The cell's backward for one row and 16 units, given dh (the whole gradient reaching h_s).
template <bool D>
void cell_backward(const Ctx& c, int64_t s, int64_t b, int64_t j0, const Lanes& L, __m512 dh) {
    const Pass& p = c.p;
    const RnnArgs& a = c.a;
    const int64_t o = b * c.U + j0, U = c.U;
    float* dg = c.dG(s) + b * c.p.ldG + j0;
    float* carry = p.carry + o;
    const __m512 zero = _mm512_setzero_ps();
    if (!c.used(b, s)) {  // the state passed through this step: dh flows on unchanged
        for (int g = 0; g < p.G; g++) L.st(dg + g * U, zero);
        if (p.dXh) L.st(c.dXh(s) + o, zero);
        L.st(carry, dh);
        return;
    }
    const float* gp = a.gates ? a.gates + (s * c.B + b) * c.GU + j0 : nullptr;
    if (a.cell == RnnCell::lstm) {
        const __m512 i = L.ld(gp), f = L.ld(gp + U), g = L.ld(gp + 2 * U), og = L.ld(gp + 3 * U);
        const __m512 tc = L.ld(a.aux + s * c.BU + o);
        const __m512 dc =
            _mm512_fmadd_ps(_mm512_mul_ps(dh, og), dact_a<D>(tc, a.act), L.ld(p.dc + o));
        L.st(dg, _mm512_mul_ps(_mm512_mul_ps(dc, g), dact_r<D>(i, a.ract)));
        L.st(dg + U, _mm512_mul_ps(_mm512_mul_ps(dc, L.ld(c.c(s) + o)), dact_r<D>(f, a.ract)));
        L.st(dg + 2 * U, _mm512_mul_ps(_mm512_mul_ps(dc, i), dact_a<D>(g, a.act)));
        L.st(dg + 3 * U, _mm512_mul_ps(_mm512_mul_ps(dh, tc), dact_r<D>(og, a.ract)));
        L.st(p.dc + o, _mm512_mul_ps(dc, f));
        L.st(carry, zero);
    } else if (a.cell == RnnCell::gru) {
        const __m512 z = L.ld(gp), r = L.ld(gp + U), hh = L.ld(gp + 2 * U);
        const __m512 rh = L.ld(a.aux + s * c.BU + o), hp = L.ld(c.h(s) + o);
        const __m512 dah = _mm512_mul_ps(_mm512_mul_ps(dh, _mm512_sub_ps(vset(1.0f), z)),
                                         dact_a<D>(hh, a.act));
        L.st(dg, _mm512_mul_ps(_mm512_mul_ps(dh, _mm512_sub_ps(hp, hh)), dact_r<D>(z, a.ract)));
        L.st(dg + U, _mm512_mul_ps(_mm512_mul_ps(dah, rh), dact_r<D>(r, a.ract)));
        L.st(dg + 2 * U, _mm512_mul_ps(dah, r));
        L.st(c.dXh(s) + o, dah);
        L.st(carry, _mm512_mul_ps(dh, z));
    } else {
        L.st(dg, _mm512_mul_ps(dh, dact_a<D>(L.ld(c.h(s + 1) + o), a.act)));
        L.st(carry, zero);
    }
}

// The saved activations step s's cell backward will read for rows b0..b0+m-1, units
// j0..j0+15: asked for while the tile's product runs (they were written long ago).
int prefetch_list(const float** out, const Ctx& c, int64_t s, int64_t b0, int m, int64_t j0) {
    const RnnArgs& a = c.a;
    int n = 0;
    for (int r = 0; r < m; r++) {
        const int64_t b = b0 + r, o = b * c.U + j0;
        if (a.gates)
            for (int g = 0; g < c.p.G; g++)
                out[n++] = a.gates + (s * c.B + b) * c.GU + g * c.U + j0;
        if (a.aux) out[n++] = a.aux + s * c.BU + o;
        if (a.cell == RnnCell::lstm) out[n++] = c.c(s) + o;
        else out[n++] = c.h(s + (a.cell == RnnCell::simple)) + o;
        if (a.dy) out[n++] = a.dy + (b * c.T + s) * c.U + j0;
    }
    return n;
}

// MR rows x 16 units: dh_s = dG_{s+1} R^T + carry + dy_s, then the cell's backward.
template <int MR>
void bwd_tile(const BwdTile& bt, int64_t b0) {
    const Ctx& c = bt.c;
    const Pass& p = c.p;
    const int64_t s = bt.s;
    const bool first = bt.k0 == 0, last = bt.k1 == c.GU;
    float* part = bt.partial + (b0 - bt.r0) * 16;
    __m512 acc[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        acc[r] = first ? _mm512_setzero_ps() : _mm512_load_ps(part + r * 16);
    const float* pf[MR * 8];
    const int npf = first && s >= 0 ? prefetch_list(pf, c, s, b0, MR, bt.j0) : 0;
    if (s + 1 < c.T)
        mk<MR>(acc, c.dG(s + 1) + b0 * p.ldG + bt.k0, p.ldG, bt.P + bt.k0 * 16, bt.k1 - bt.k0,
               pf, npf);
    if (!last) {  // exact float round trip: the sum continues in the next slice unchanged
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) _mm512_store_ps(part + r * 16, acc[r]);
        return;
    }
    alignas(64) float sums[MR][16];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) _mm512_store_ps(sums[r], acc[r]);
    const int64_t j0 = bt.j0;
    const Lanes L(c.U - j0);
    for (int r = 0; r < MR; r++) {
        const int64_t b = b0 + r, o = b * c.U + j0;
        __m512 dh = _mm512_add_ps(_mm512_load_ps(sums[r]), L.ld(p.carry + o));
        if (s < 0) {
            L.st(p.dh0 + o, dh);
            continue;
        }
        if (c.a.dy) dh = _mm512_add_ps(dh, L.ld(c.a.dy + (b * c.T + s) * c.U + j0));
        if (c.defaults) cell_backward<true>(c, s, b, j0, L, dh);
        else cell_backward<false>(c, s, b, j0, L, dh);
    }
}

template <int MR>
struct BwdT {
    static void run(const BwdTile& t, int64_t b0) { bwd_tile<MR>(t, b0); }
};

// C (MR rows x 16 columns, row stride ldc; the first n columns kept) += the sum over k < K of
// a[k*lda + r] * w[k*ldw .. +15]. w may be read up to 15 floats past its last valid column.
template <int MR>
void rank_update(float* C, int64_t ldc, int n, const float* a, int64_t lda, const float* w,
                 int64_t ldw, int64_t K) {
    const Lanes L(n);
    __m512 acc[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r] = L.ld(C + r * ldc);
    for (int64_t k = 0; k < K; k++) {
        const __m512 wv = _mm512_loadu_ps(w + k * ldw);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[k * lda + r]), wv, acc[r]);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) L.st(C + r * ldc, acc[r]);
}

struct RankArgs {
    float* C;
    int64_t ldc;
    int n;
    const float* a;
    int64_t lda;
    const float* w;
    int64_t ldw, K;
};

template <int MR>
struct RankT {
    static void run(const RankArgs& q, int64_t m0) {
        rank_update<MR>(q.C + m0 * q.ldc, q.ldc, q.n, q.a + m0, q.lda, q.w, q.ldw, q.K);
    }
};

// out[0..n) += the column sums of M (K rows of 16 at stride ld), rows in order.
void add_column_sums(float* out, int n, const float* M, int64_t ld, int64_t K) {
    const Lanes L(n);
    __m512 s = L.ld(out);
    for (int64_t k = 0; k < K; k++) s = _mm512_add_ps(s, _mm512_loadu_ps(M + k * ld));
    L.st(out, s);
}

// Step s's share of dR, dW and the bias gradients for unit block jb over all B rows (see
// rnn_avx2.cpp): only this block's columns are touched, rows added in order.
void weight_grads(const Ctx& c, int64_t s, int64_t jb) {
    const RnnArgs& a = c.a;
    const int64_t U = c.U, j0 = jb * 16;
    const int n = static_cast<int>(U - j0 < 16 ? U - j0 : 16);
    const float* dGs = c.dG(s);
    const float* xt = a.x + c.t(s) * c.F;
    for (int g = 0; g < c.p.G; g++) {
        const int64_t col = g * U + j0;
        const bool split = a.cell == RnnCell::gru && g == 2;
        const float* gx = split ? c.dXh(s) + j0 : dGs + col;
        const int64_t ldx = split ? U : c.p.ldG;
        if (a.dR) run_rows<RankT>(RankArgs{a.dR + col, c.GU, n, c.h(s), U, dGs + col, c.p.ldG,
                                           c.B}, 0, U);
        if (a.dW) run_rows<RankT>(RankArgs{a.dW + col, c.GU, n, xt, c.T * c.F, gx, ldx, c.B}, 0,
                                  c.F);
        if (a.dbx) add_column_sums(a.dbx + col, n, gx, ldx, c.B);
        if (a.dbh) add_column_sums(a.dbh + col, n, dGs + col, c.p.ldG, c.B);
    }
}

struct alignas(64) Progress {
    std::atomic<int64_t> rec, wgt;
};

// Waits until every thread's counter (rec or wgt) has reached step w or below.
void wait_all(const Progress* pr, int nth, bool rec, int64_t w) {
    for (int u = 0; u < nth; u++) {
        const std::atomic<int64_t>& v = rec ? pr[u].rec : pr[u].wgt;
        for (int spin = 0; v.load(std::memory_order_acquire) > w; spin++) {
            if (spin < 2000) _mm_pause(); else std::this_thread::yield();
        }
    }
}

}  // namespace

void backward_fused_avx512(const Pass& p) {
    constexpr int64_t kDepth = 256;
    const Ctx c(p);
    const int64_t nblk = (c.U + 15) / 16, panel = c.GU * 16;
    float* pack = workspace(kWsPack, static_cast<size_t>(nblk * panel));
    const int64_t per_row = c.GU * (c.U + (p.weights_in_pass ? c.U + c.F : 0));
    const int nt = pass_threads(c.B, c.T * c.B * per_row);
    std::vector<Progress> pr(nt);
    for (auto& q : pr) {
        q.rec.store(c.T, std::memory_order_relaxed);
        q.wgt.store(c.T, std::memory_order_relaxed);
    }
    #pragma omp parallel num_threads(nt)
    {
        #pragma omp for schedule(static)
        for (int64_t jb = 0; jb < nblk; jb++)
            pack_backward(pack + jb * panel, c.a.R, c.U, c.GU, jb);
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        const Rows rows(c.B, tid, nth);
        const int64_t wb0 = nblk * tid / nth, wb1 = nblk * (tid + 1) / nth;
        auto weights = [&](int64_t w) {  // step w's share, once every thread has written dG_w
            wait_all(pr.data(), nth, true, w);
            for (int64_t jb = wb0; jb < wb1; jb++) weight_grads(c, w, jb);
            pr[tid].wgt.store(w, std::memory_order_release);
        };
        float* partial =
            workspace(kWsQ, static_cast<size_t>((rows.last - rows.first) * 16 + 16));
        // The schedule of rnn_avx2.cpp: the recurrence writes dG_s of this thread's rows from
        // dG_{s+1} of the same rows; the weight gradients trail by kWeightLag steps.
        for (int64_t s = c.T - 1; s >= -1; s--) {
            if (p.weights_in_pass && !p.dG_full && s >= 0 && s + kWeightSlots < c.T)
                wait_all(pr.data(), nth, false, s + kWeightSlots);  // slot of s is free
            if (s >= 0 || p.want_dh0)
                for (int64_t jb = 0; jb < nblk; jb++)
                    for (int64_t k0 = 0; k0 < c.GU;) {
                        const int64_t k1 = s + 1 < c.T && k0 + kDepth < c.GU ? k0 + kDepth : c.GU;
                        const BwdTile bt{c, pack + jb * panel, s, jb * 16, k0, k1, partial,
                                         rows.first};
                        run_rows<BwdT>(bt, rows.first, rows.last);
                        k0 = k1;
                    }
            if (s >= 0) pr[tid].rec.store(s, std::memory_order_release);
            if (p.weights_in_pass && s + kWeightLag < c.T && s + kWeightLag >= 0)
                weights(s + kWeightLag);
        }
        if (p.weights_in_pass)
            for (int64_t w = (kWeightLag - 2 < c.T - 1 ? kWeightLag - 2 : c.T - 1); w >= 0; w--)
                weights(w);
    }
}

}  // namespace rnn
}  // namespace grebe
