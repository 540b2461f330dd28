// gemm_bf16_avx512bf16.cpp — GEMM with bf16 operands and fp32 accumulation on AVX512-BF16: a
// 12 x 32 vdpbf16ps micro-kernel over bf16-packed panels under a blocked driver (BLIS's loops
// jc -> pc -> ic -> jr -> ir), and the bf16 peak loop.
// Built with the AVX-512 flags plus -mavx512bf16 (file suffix); everything but the
// *_avx512bf16 entry points has internal linkage. Called only when has_bf16().
//
// Packed layout: element pairs along k share one 32-bit word (low half k = 2t, high half
// k = 2t+1), which is what vdpbf16ps multiplies lane by lane and adds to an fp32 accumulator:
//   A micro-panel (MR rows): word (t, i) at a[t*MR + i];  B micro-panel (NR columns): word
//   (t, j) at b[t*NR + j]. Odd depths and edge rows/columns are zero-padded.
// Packing rounds fp32 to bf16 exactly as round_bf16 (bf16.cpp): nearest even on the bits, NaN
// quieted and truncated. Per C element: one fp32 chain over k-pairs in increasing order inside
// each KC-deep pass, passes in order; which thread computes a tile never changes its bits.
#include <immintrin.h>
#include <omp.h>

#include "kernels/bf16_internal.h"
#include "kernels/gemm/gemm_internal.h"

namespace grebe {
namespace bf16 {
namespace {

using gemm::BlockSizes;
constexpr BlockSizes kBs = gemm::kBlocksBf16Avx512;
constexpr int MR = kBs.MR, NR = kBs.NR;
static_assert(NR == 32 && MR <= 16 && kBs.KC % 2 == 0, "two 16-lane vectors per row; even KC");

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline __mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// x (16 floats) -> bf16 bits (round to nearest even; NaN quieted and truncated) in the high
// half of each 32-bit lane, low half zero: round_bf16 of bf16.cpp, 16 lanes at a time.
// (The maskz shift with a full mask is _mm512_srli_epi32 without gcc 12's false uninitialized
// warning.)
inline __m512i srl16(__m512i u) { return _mm512_maskz_srli_epi32(__mmask16(0xFFFF), u, 16); }

inline __m512i rne_hi(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(srl16(u), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(
        _mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
    return _mm512_and_si512(r, _mm512_set1_epi32(int(0xFFFF0000u)));
}

// Words from two rows: lane j = bf16(x0[j]) | bf16(x1[j]) << 16.
inline __m512i pair_rows(__m512 x0, __m512 x1) {
    return _mm512_or_si512(srl16(rne_hi(x0)), rne_hi(x1));
}

// out (ceil(n/2) words) = adjacent pairs of src (n floats): word t = bf16(src[2t]) |
// bf16(src[2t+1]) << 16, a missing last element as +0.
void round_pairs(uint32_t* out, const float* src, int64_t n) {
    // The odd 16-bit halves (the bf16 bits) of 32 lanes, in order.
    const __m512i odd = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37,
                                         35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9,
                                         7, 5, 3, 1);
    for (int64_t t = 0; t < n; t += 32) {
        const __m512 v0 = _mm512_maskz_loadu_ps(lanes(n - t), src + t);
        const __m512 v1 = _mm512_maskz_loadu_ps(lanes(n - t - 16), src + t + 16);
        const __m512i w = _mm512_permutex2var_epi16(rne_hi(v0), odd, rne_hi(v1));
        _mm512_mask_storeu_epi32(out + t / 2, lanes(ceil_div(min64(32, n - t), 2)), w);
    }
}

// One call's operands and the thread's view of them.
struct Job {
    bool ta, tb;
    int64_t M, N, K;
    float alpha;
    const float* A;
    int64_t lda;
    const float* B;
    int64_t ldb;
    float beta;
    const float* bias;
    bool relu;
    float* C;
    int64_t ldc;
};

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row micro-panels of kp = ceil(kc
// / 2) words each; tmp holds MR * kp words.
void pack_a(uint32_t* dst, uint32_t* tmp, const Job& g, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc) {
    const int64_t kp = (kc + 1) / 2;
    for (int64_t ir = 0; ir < mc; ir += MR) {
        const int64_t m = min64(MR, mc - ir);
        uint32_t* d = dst + (ir / MR) * kp * MR;
        if (g.ta) {  // A stored (K, M): rows 2t and 2t+1 give the words of k-pair t
            const float* s = g.A + p0 * g.lda + i0 + ir;
            for (int64_t t = 0; t < kp; t++) {
                const __m512 x0 = _mm512_maskz_loadu_ps(lanes(m), s + 2 * t * g.lda);
                const __m512 x1 = 2 * t + 1 < kc
                                      ? _mm512_maskz_loadu_ps(lanes(m), s + (2 * t + 1) * g.lda)
                                      : _mm512_setzero_ps();
                _mm512_mask_storeu_epi32(d + t * MR, lanes(MR), pair_rows(x0, x1));
            }
        } else {  // row i is contiguous in k: pairs per row, then transpose to the panel
            for (int64_t i = 0; i < MR; i++) {
                if (i < m) {
                    round_pairs(tmp + i * kp, g.A + (i0 + ir + i) * g.lda + p0, kc);
                } else {
                    for (int64_t t = 0; t < kp; t++) tmp[i * kp + t] = 0;
                }
            }
            for (int64_t t = 0; t < kp; t++)
                for (int i = 0; i < MR; i++) d[t * MR + i] = tmp[i * kp + t];
        }
    }
}

// Packs depth [p0, p0+kc) x the NR columns of panel q (from j0) of op(B) into dst + q*kp*NR;
// columns past nc are zero. tmp holds kp words.
void pack_b(uint32_t* dst, uint32_t* tmp, const Job& g, int64_t p0, int64_t kc, int64_t j0,
            int64_t nc, int64_t q) {
    const int64_t kp = (kc + 1) / 2, n = min64(NR, nc - q * NR);
    uint32_t* d = dst + q * kp * NR;
    if (!g.tb) {  // B stored (K, N): rows 2t and 2t+1 give the words of k-pair t
        const float* s = g.B + p0 * g.ldb + j0 + q * NR;
        for (int64_t t = 0; t < kp; t++)
            for (int h = 0; h < 2; h++) {
                const float* r0 = s + 2 * t * g.ldb + 16 * h;
                const __m512 x0 = _mm512_maskz_loadu_ps(lanes(n - 16 * h), r0);
                const __m512 x1 = 2 * t + 1 < kc ? _mm512_maskz_loadu_ps(lanes(n - 16 * h),
                                                                         r0 + g.ldb)
                                                 : _mm512_setzero_ps();
                _mm512_storeu_si512(d + t * NR + 16 * h, pair_rows(x0, x1));
            }
    } else {  // B stored (N, K): column j of op(B) is a contiguous row of B
        for (int64_t j = 0; j < NR; j++) {
            if (j < n) {
                round_pairs(tmp, g.B + (j0 + q * NR + j) * g.ldb + p0, kc);
                for (int64_t t = 0; t < kp; t++) d[t * NR + j] = tmp[t];
            } else {
                for (int64_t t = 0; t < kp; t++) d[t * NR + j] = 0;
            }
        }
    }
}

// C tile (R rows, n <= 32 columns) = act(alpha * sum_t dot(a words, b words) + beta * C +
// bias); beta == 0 never reads C. a, b packed micro-panels of kp words per row/column.
template <int R>
void ukr(int64_t kp, const uint32_t* a, const uint32_t* b, int n, float* c, int64_t ldc,
         float alpha, float beta, const float* bias, bool relu) {
    __m512 acc0[R], acc1[R];
#pragma GCC unroll 12
    for (int i = 0; i < R; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t t = 0; t < kp; t++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i]));
            acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
            acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
        }
        a += MR;
        b += NR;
    }
    const __mmask16 m0 = lanes(n), m1 = lanes(n - 16);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : zero;
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : zero;
#pragma GCC unroll 12
    for (int i = 0; i < R; i++) {
        float* ci = c + i * ldc;
        __m512 r0 = acc0[i], r1 = acc1[i];
        if (alpha != 1.0f) {
            r0 = _mm512_mul_ps(va, r0);
            r1 = _mm512_mul_ps(va, r1);
        }
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
        }
        if (bias) {
            r0 = _mm512_add_ps(r0, bias0);
            r1 = _mm512_add_ps(r1, bias1);
        }
        if (relu) {  // max(0, x) with x second: a NaN in x propagates
            r0 = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r0);
            r1 = _mm512_maskz_max_ps(__mmask16(0xFFFF), zero, r1);
        }
        _mm512_mask_storeu_ps(ci, m0, r0);
        _mm512_mask_storeu_ps(ci + 16, m1, r1);
    }
}

using TileFn = void (*)(int64_t, const uint32_t*, const uint32_t*, int, float*, int64_t, float,
                        float, const float*, bool);
constexpr TileFn kTiles[MR] = {&ukr<1>, &ukr<2>, &ukr<3>, &ukr<4>,  &ukr<5>,  &ukr<6>,
                               &ukr<7>, &ukr<8>, &ukr<9>, &ukr<10>, &ukr<11>, &ukr<12>};
static_assert(MR == 12, "kTiles lists rows 1..MR");

// Splits the tiles_m x tiles_n tile grid over nth threads as tm x tn blocks with the smallest
// largest share, ties to splitting M (threads then share the packed B panel).
void thread_grid(int nth, int64_t tiles_m, int64_t tiles_n, int* tm_out, int* tn_out) {
    int best = nth;
    int64_t best_cost = -1;
    for (int tm = nth; tm >= 1; tm--) {
        if (nth % tm) continue;
        const int64_t cost = ceil_div(tiles_m, tm) * ceil_div(tiles_n, nth / tm);
        if (best_cost < 0 || cost < best_cost) best_cost = cost, best = tm;
    }
    *tm_out = best;
    *tn_out = nth / best;
}

// Thread tid of nth: packs its share of each B panel (panels q = tid, tid + nth, ...), then
// computes the C tiles of its (rows, columns) block. Race-free: each thread writes only its own
// C tiles, its own A block and tmp (slices of abuf), and its own panels of the shared packed B,
// which is read only after a barrier and rewritten only after the next one.
void region(const Job& g, uint32_t* bbuf, uint32_t* abuf, int tid, int nth) {
    const int64_t kpmax = (min64(g.K, kBs.KC) + 1) / 2;
    uint32_t* ablk = abuf + tid * (int64_t(kBs.MC) + MR + NR) * kpmax;
    uint32_t* tmp = ablk + int64_t(kBs.MC) * kpmax;
    const int64_t tiles_m = ceil_div(g.M, MR);
    for (int64_t jc = 0; jc < g.N; jc += kBs.NC) {
        const int64_t nc = min64(kBs.NC, g.N - jc), tiles_n = ceil_div(nc, NR);
        int tm, tn;
        thread_grid(nth, tiles_m, tiles_n, &tm, &tn);
        const int tid_m = tid / tn, tid_n = tid % tn;
        const int64_t row0 = (tiles_m * tid_m / tm) * MR;
        const int64_t row1 = min64(g.M, (tiles_m * (tid_m + 1) / tm) * MR);
        const int64_t q0 = tiles_n * tid_n / tn, q1 = tiles_n * (tid_n + 1) / tn;
        for (int64_t pc = 0; pc < g.K; pc += kBs.KC) {
            const int64_t kc = min64(kBs.KC, g.K - pc), kp = (kc + 1) / 2;
            const bool last = pc + kc == g.K;
            const float beta = pc == 0 ? g.beta : 1.0f;
            const float* bias = last && g.bias ? g.bias + jc : nullptr;
            const bool relu = last && g.relu;
            for (int64_t q = tid; q < tiles_n; q += nth) pack_b(bbuf, tmp, g, pc, kc, jc, nc, q);
            if (nth > 1) {
#pragma omp barrier
            }
            for (int64_t ic = row0; ic < row1; ic += kBs.MC) {
                const int64_t mc = min64(kBs.MC, row1 - ic);
                pack_a(ablk, tmp, g, ic, mc, pc, kc);
                for (int64_t q = q0; q < q1; q++) {
                    const int n = static_cast<int>(min64(NR, nc - q * NR));
                    const uint32_t* b = bbuf + q * kp * NR;
                    float* c = g.C + ic * g.ldc + jc + q * NR;
                    const float* bias_j = bias ? bias + q * NR : nullptr;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int m = static_cast<int>(min64(MR, mc - ir));
                        kTiles[m - 1](kp, ablk + (ir / MR) * kp * MR, b, n, c + ir * g.ldc,
                                      g.ldc, g.alpha, beta, bias_j, relu);
                    }
                }
            }
            if (nth > 1) {
#pragma omp barrier
            }
        }
    }
}

// The vdpbf16ps peak of one thread for `iters` iterations: 24 independent register
// accumulators, 24 vdpbf16ps per iteration (16 lanes x 2 products = 64 flops each, no loads).
// Returns a value that depends on every accumulator, so the compiler keeps them all.
float peak_loop(int64_t iters) {
    __m512 acc[24];
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80);  // bf16 1.0
    const __m512bh y = (__m512bh)_mm512_set1_epi16(0x3380);  // bf16 ~6e-8
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps(float(i));
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    }
    __m512 s = acc[0];
#pragma GCC unroll 24
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float t[16];
    _mm512_store_ps(t, s);
    return t[0] + t[15];
}

}  // namespace

void sbgemm_avx512bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                       const float* bias, bool relu, float* C, int64_t ldc, int threads) {
    // C (M,N) = act(alpha * bf16(op(A)) (M,K) * bf16(op(B)) (K,N) + beta * C + bias (N))
    const Job g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, relu, C, ldc};
    const int64_t kpmax = (min64(K, kBs.KC) + 1) / 2;
    const int64_t ncols = ceil_div(min64(N, kBs.NC), NR) * NR;
    const int nt = threads < 1 ? 1 : threads;
    // Both buffers are allocated here, by the calling thread, before any parallel region.
    uint32_t* bbuf = reinterpret_cast<uint32_t*>(scratch(kPackB, kpmax * ncols));
    uint32_t* abuf = reinterpret_cast<uint32_t*>(
        scratch(kPackA, nt * (int64_t(kBs.MC) + MR + NR) * kpmax));
    if (nt == 1) {
        region(g, bbuf, abuf, 0, 1);
        return;
    }
    // Each thread runs region() on its own share of C (see there why it is race-free).
#pragma omp parallel num_threads(nt)
    region(g, bbuf, abuf, omp_get_thread_num(), omp_get_num_threads());
}

double peak_dpbf16_avx512bf16(int threads, int64_t iters, float* sink) {
    double rate = 0.0;
    // Each thread writes only its own slot of sink; the rates are summed by the reduction.
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
        const double t0 = gemm::thread_cpu_seconds();
        sink[omp_get_thread_num()] = peak_loop(iters);
        const double dt = gemm::thread_cpu_seconds() - t0;
        rate += dt > 0 ? double(iters) * 24 * 16 * 2 * 2 / dt : 0.0;
    }
    return rate;
}

}  // namespace bf16
}  // namespace grebe
