// gemm_driver.h — the blocked SGEMM driver (BLIS's five loops), included once by each per-ISA
// file (gemm_generic.cpp, gemm_avx2.cpp, gemm_avx512.cpp) and compiled with that file's flags.
// Everything here lives in an anonymous namespace: each ISA gets its own copy with internal
// linkage, so the linker can never hand AVX2 code to the portable build. No std:: templates are
// instantiated here for the same reason (a comdat std::min compiled with -mavx2 could win).
//
// A file defines a micro-kernel policy `Ker` and calls `run<Ker>(args)`:
//   Ker::kBlocks  the BlockSizes row of gemm_internal.h for this ISA
//   Ker::kDirect  true if Ker::tile accepts unpacked operands (any strides, unpadded edges)
//   Ker::tile(m, n, k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, bias, relu)
//       C tile (m<=MR, n<=NR) = act(alpha * sum_p a[i*rsa + p*csa] * b[p*rsb + j] + beta * C
//                                   + bias[j]);  beta == 0 never reads C.
// Every C element is one chain of multiply-adds over p in increasing order inside each KC-deep
// pass, passes in increasing order: the same operations whatever the tiling of M and N, the
// packing choice or the thread count. That is why the result is bit-identical for any of them.
#pragma once
#include <omp.h>

#include "kernels/gemm/gemm_internal.h"

namespace grebe {
namespace gemm {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Which operands to pack for this shape. Packing copies an operand into the micro-kernel's
// order (contiguous, padded, free of cache-set conflicts); it pays when each packed element is
// reused many times. Small and skinny products (every GEMM of the seed models) read a
// non-transposed A and B in place, as BLIS's "sup" path does.
struct Plan {
    bool pack_a, pack_b;
};

template <class Ker>
Plan choose_plan(const Args& g) {
    if (!Ker::kDirect) return {true, true};
    constexpr BlockSizes bs = Ker::kBlocks;
    // B in place is fine while few row tiles reuse each micro-panel (M <= 16 * MR); beyond
    // that, contiguous panels (no L1 set conflicts from a power-of-two ldb) win.
    const bool pack_b = g.trans_b || g.M > 16 * bs.MR;
    // A in place is read as MR row streams; pack it for large products, whose MC x KC block
    // must stay in L2 without set conflicts, and when A^T would cost a cache line per k.
    const bool big = g.M > 2 * bs.MC && g.N > 16 * bs.NR && g.K > bs.KC / 2;
    // A shallow A^T (K <= KC/4, e.g. a weight gradient x^T @ dz over a small batch) is read in
    // place: each k reads MR adjacent floats of one row, and the whole K x MR strip (a few
    // cache lines per k) stays in L1 while the row of tiles reuses it; packing would cost
    // about as much as the product itself.
    const bool pack_a = big || (g.trans_a && g.N > bs.NR && g.K > bs.KC / 4);
    return {pack_a, pack_b};
}

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) as MR-row micro-panels: panel r holds
// element (i, p) at dst[r*kc*MR + p*MR + i]; rows past mc are zero.
template <int MR>
void pack_a(float* dst, const Args& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    for (int64_t ip = 0; ip < mc; ip += MR) {
        int m = static_cast<int>(min64(MR, mc - ip));
        float* d = dst + (ip / MR) * kc * MR;
        if (!g.trans_a) {
            const float* s = g.A + (i0 + ip) * g.lda + p0;
            if (m == MR) {
                for (int64_t p = 0; p < kc; p++)
                    for (int i = 0; i < MR; i++) d[p * MR + i] = s[i * g.lda + p];
            } else {
                for (int64_t p = 0; p < kc; p++)
                    for (int i = 0; i < MR; i++) d[p * MR + i] = i < m ? s[i * g.lda + p] : 0.0f;
            }
        } else {
            const float* s = g.A + p0 * g.lda + i0 + ip;
            for (int64_t p = 0; p < kc; p++)
                for (int i = 0; i < MR; i++) d[p * MR + i] = i < m ? s[p * g.lda + i] : 0.0f;
        }
    }
}

// Packs depth [p0, p0+kc) x columns [j0 + q*NR, ...) of op(B) for panels q in [q0, q1): panel q
// holds element (p, j) at dst[q*kc*NR + p*NR + j]; columns past nc are zero.
template <int NR>
void pack_b(float* dst, const Args& g, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
            int64_t q0, int64_t q1, int64_t qstep) {
    for (int64_t q = q0; q < q1; q += qstep) {
        int n = static_cast<int>(min64(NR, nc - q * NR));
        float* d = dst + q * kc * NR;
        if (!g.trans_b) {
            const float* s = g.B + p0 * g.ldb + j0 + q * NR;
            if (n == NR) {
                for (int64_t p = 0; p < kc; p++)
                    for (int j = 0; j < NR; j++) d[p * NR + j] = s[p * g.ldb + j];
            } else {
                for (int64_t p = 0; p < kc; p++)
                    for (int j = 0; j < NR; j++) d[p * NR + j] = j < n ? s[p * g.ldb + j] : 0.0f;
            }
        } else {
            // B stored (N,K): column j of op(B) is a contiguous row of B. Transpose in 16-deep
            // slabs so the destination slab stays in L1 while the NR source rows stream.
            const float* s = g.B + (j0 + q * NR) * g.ldb + p0;
            for (int64_t pp = 0; pp < kc; pp += 16) {
                int64_t pe = min64(kc, pp + 16);
                for (int j = 0; j < NR; j++) {
                    if (j < n) {
                        for (int64_t p = pp; p < pe; p++) d[p * NR + j] = s[j * g.ldb + p];
                    } else {
                        for (int64_t p = pp; p < pe; p++) d[p * NR + j] = 0.0f;
                    }
                }
            }
        }
    }
}

// Splits the MR x NR tile grid (tiles_m x tiles_n) over nth threads as tm x tn blocks, picking
// the factorization with the smallest largest share. Ties go to splitting M when B is packed,
// so that threads share the packed B panel; with B read in place (few rows, B the big operand,
// e.g. a dense forward at a small batch) they go to splitting N, so that each thread streams
// only its own columns of B: half the B traffic per thread, and each thread finds the columns
// it wrote in the previous step's update in its own cache. Which thread computes a tile never
// changes the tile's bits.
inline void thread_grid(int nth, int64_t tiles_m, int64_t tiles_n, bool prefer_m, int* tm_out,
                        int* tn_out) {
    int best_tm = 1;
    int64_t best_cost = -1;
    for (int i = 0; i < nth; i++) {
        const int tm = prefer_m ? nth - i : i + 1;
        if (nth % tm) continue;
        int tn = nth / tm;
        int64_t cost = ceil_div(tiles_m, tm) * ceil_div(tiles_n, tn);
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best_tm = tm;
        }
    }
    *tm_out = best_tm;
    *tn_out = nth / best_tm;
}

// The work of thread `tid` of `nth`: loops jc (NC columns) -> pc (KC depth) -> ic (MC rows of
// this thread's share) -> jr (NR panels of this thread's share) -> ir (MR rows) -> tile.
// Race-free: every thread writes only the C tiles of its own (rows, columns) share; the shared
// packed B panel is written by all threads (disjoint panels) between two barriers.
template <class Ker>
void region(const Args& g, Plan plan, float* bbuf, int tid, int nth) {
    constexpr BlockSizes bs = Ker::kBlocks;
    constexpr int MR = bs.MR, NR = bs.NR;
    float* abuf = plan.pack_a ? scratch(0, static_cast<size_t>(bs.MC) * bs.KC) : nullptr;
    const int64_t tiles_m = ceil_div(g.M, MR);
    for (int64_t jc = 0; jc < g.N; jc += bs.NC) {
        const int64_t nc = min64(bs.NC, g.N - jc);
        const int64_t tiles_n = ceil_div(nc, NR);
        int tm, tn;
        thread_grid(nth, tiles_m, tiles_n, plan.pack_b, &tm, &tn);
        const int tid_m = tid / tn, tid_n = tid % tn;
        const int64_t row0 = (tiles_m * tid_m / tm) * MR;
        const int64_t row1 = min64(g.M, (tiles_m * (tid_m + 1) / tm) * MR);
        const int64_t q0 = tiles_n * tid_n / tn, q1 = tiles_n * (tid_n + 1) / tn;
        for (int64_t pc = 0; pc < g.K; pc += bs.KC) {
            const int64_t kc = min64(bs.KC, g.K - pc);
            const bool last = pc + kc == g.K;
            const float beta = pc == 0 ? g.beta : 1.0f;
            const float* bias = last && g.bias ? g.bias + jc : nullptr;
            const bool relu = last && g.relu;
            if (plan.pack_b) {
                pack_b<NR>(bbuf, g, pc, kc, jc, nc, tid, tiles_n, nth);
                // A lone thread skips the barrier: it may run inside another team
                // (sgemm_strided_batched), where an orphaned barrier would bind to that team.
                if (nth > 1) {
#pragma omp barrier
                }
            }
            for (int64_t ic = row0; ic < row1; ic += bs.MC) {
                const int64_t mc = min64(bs.MC, row1 - ic);
                if (plan.pack_a) pack_a<MR>(abuf, g, ic, mc, pc, kc);
                for (int64_t q = q0; q < q1; q++) {
                    const int64_t jr = q * NR;
                    const int n = static_cast<int>(min64(NR, nc - jr));
                    const float* b = plan.pack_b ? bbuf + q * kc * NR : g.B + pc * g.ldb + jc + jr;
                    const int64_t rsb = plan.pack_b ? NR : g.ldb;
                    float* c = g.C + ic * g.ldc + jc + jr;
                    const float* bias_j = bias ? bias + jr : nullptr;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int m = static_cast<int>(min64(MR, mc - ir));
                        const float* a;
                        int64_t rsa, csa;
                        if (plan.pack_a) {
                            a = abuf + (ir / MR) * kc * MR, rsa = 1, csa = MR;
                        } else if (!g.trans_a) {
                            a = g.A + (ic + ir) * g.lda + pc, rsa = g.lda, csa = 1;
                        } else {
                            a = g.A + pc * g.lda + ic + ir, rsa = 1, csa = g.lda;
                        }
                        Ker::tile(m, n, kc, a, rsa, csa, b, rsb, c + ir * g.ldc, g.ldc, g.alpha,
                                  beta, bias_j, relu);
                    }
                }
            }
            if (plan.pack_b && nth > 1) {
#pragma omp barrier
            }
        }
    }
}

template <class Ker>
void run(const Args& g) {
    constexpr BlockSizes bs = Ker::kBlocks;
    const Plan plan = choose_plan<Ker>(g);
    float* bbuf = nullptr;
    if (plan.pack_b) {
        const int64_t ncols = ceil_div(min64(g.N, bs.NC), bs.NR) * bs.NR;
        bbuf = scratch(1, static_cast<size_t>(min64(g.K, bs.KC) * ncols));
    }
    if (g.threads <= 1) {
        region<Ker>(g, plan, bbuf, 0, 1);
        return;
    }
    // Each thread runs region() on its own share of C (see there why it is race-free).
#pragma omp parallel num_threads(g.threads)
    region<Ker>(g, plan, bbuf, omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace
}  // namespace gemm
}  // namespace grebe
