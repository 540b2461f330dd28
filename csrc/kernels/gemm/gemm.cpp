// gemm.cpp — the SGEMM entry points: argument edge cases, the thread count, the choice of
// per-ISA driver (grebe::active_isa()), batches, and the scratch buffers the drivers pack into.
// Built without ISA flags; the blocked driver and micro-kernels live in gemm_<isa>.cpp.
#include "kernels/gemm/gemm.h"

#include <time.h>

#include <chrono>
#include <cstdlib>
#include <vector>
#include <new>

#include "kernels/gemm/gemm_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace gemm {

// Up to this many flops (64^3 multiply-adds, OpenBLAS's cut-off) a product runs on one thread
// even when threads_for() would fork: a 2-thread fork/join costs 1-6 us on an idle machine, and
// a whole scheduler time slice (ms) when another process holds the second core.
constexpr int64_t kMinParallelFlops = 2 * int64_t(64) * 64 * 64 + 1;

double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

float* scratch(int slot, size_t floats) {
    struct Buf {
        float* p = nullptr;
        size_t n = 0;
        ~Buf() { std::free(p); }
    };
    thread_local Buf bufs[2];
    Buf& b = bufs[slot];
    if (b.n < floats) {
        std::free(b.p);
        b.p = nullptr;
        b.n = 0;
        size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
        b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
        if (!b.p) throw std::bad_alloc();
        b.n = floats;
    }
    return b.p;
}

static BlockSizes blocks_for(Isa isa) {
    switch (isa) {
        case Isa::avx512: return kBlocksAvx512;
        case Isa::avx2: return kBlocksAvx2;
        default: return kBlocksGeneric;
    }
}

// Threads for one product: serial when small, never more than there are register tiles.
static int threads_for_gemm(Isa isa, int64_t M, int64_t N, int64_t K) {
    const int64_t flops = 2 * M * N * K;
    if (flops < kMinParallelFlops) return 1;
    int nt = threads_for(flops);
    const BlockSizes bs = blocks_for(isa);
    const int64_t tiles = ((M + bs.MR - 1) / bs.MR) * ((N + bs.NR - 1) / bs.NR);
    if (tiles < nt) nt = static_cast<int>(tiles);
    return nt < 1 ? 1 : nt;
}

// C (M,N) = act(beta * C + bias): what is left of the product when K == 0 or alpha == 0.
static void scale_c(int64_t M, int64_t N, float beta, const float* bias, bool relu, float* C,
                    int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float* ci = C + i * ldc;
        for (int64_t j = 0; j < N; j++) {
            float v = beta == 0.0f ? 0.0f : beta * ci[j];
            if (bias) v = v + bias[j];
            if (relu) v = v < 0.0f ? 0.0f : v;
            ci[j] = v;
        }
    }
}

static void run(const Args& g) {
    switch (active_isa()) {
        case Isa::avx512: sgemm_avx512(g); break;
        case Isa::avx2: sgemm_avx2(g); break;
        default: sgemm_generic(g); break;
    }
}

// Handles the degenerate shapes, then runs the driver on `threads` threads (0 = choose).
static void sgemm_any(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                      const float* bias, bool relu, float* C, int64_t ldc, int threads) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, bias, relu, C, ldc);
        return;
    }
    Args g{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, relu, threads};
    if (g.threads <= 0) g.threads = threads_for_gemm(active_isa(), M, N, K);
    run(g);
}

}  // namespace gemm

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
    // C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
    gemm::sgemm_any(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, false, C,
                    ldc, 0);
}

void sgemm_bias_act(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                    const float* bias, bool relu, float* C, int64_t ldc) {
    // C (M,N) = act(alpha * op(A) (M,K) * op(B) (K,N) + beta * C + bias (N))
    gemm::sgemm_any(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, relu, C, ldc,
                    0);
}

void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                           int64_t K, float alpha, const float* A, int64_t lda, int64_t stride_a,
                           const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                           int64_t ldc, int64_t stride_c) {
    // C[b] (M,N) = alpha * op(A[b]) (M,K) * op(B[b]) (K,N) + beta * C[b], b < batch
    if (batch <= 0 || M <= 0 || N <= 0) return;
    const int64_t item_flops = 2 * M * N * K;
    const int nt = threads_for(item_flops * batch);
    if (batch == 1 || nt <= 1 || item_flops >= gemm::kMinParallelFlops || stride_c == 0) {
        for (int64_t b = 0; b < batch; b++)
            gemm::sgemm_any(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda,
                            B + b * stride_b, ldb, beta, nullptr, false, C + b * stride_c, ldc, 0);
        return;
    }
    // Small items, one per thread: item b writes only C[b] (stride_c != 0), so items never
    // share an output, and each item is computed on one thread exactly as it would be alone.
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t b = 0; b < batch; b++)
        gemm::sgemm_any(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b,
                        ldb, beta, nullptr, false, C + b * stride_c, ldc, 1);
}

double fma_peak_gflops(int threads, double seconds) {
    if (threads < 1) threads = 1;
    std::vector<float> sink(threads);
    const Isa isa = active_isa();
    auto loop = [&](int64_t iters) {
        switch (isa) {
            case Isa::avx512: return gemm::peak_fma_avx512(threads, iters, sink.data());
            case Isa::avx2: return gemm::peak_fma_avx2(threads, iters, sink.data());
            default: return gemm::peak_fma_generic(threads, iters, sink.data());
        }
    };
    // Each thread times its own CPU seconds, so a core shared with other processes still
    // reports what it can do; the best of a few runs, after a warm-up that wakes the threads
    // and lets the clock settle under the FMA load.
    using clock = std::chrono::steady_clock;
    int64_t iters = 1 << 16;
    loop(iters);
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        const auto t0 = clock::now();
        const double rate = loop(iters);
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        best = best > rate ? best : rate;
        if (dt > 0 && dt < seconds / 5) iters = static_cast<int64_t>(iters * (seconds / 5) / dt);
    }
    return best * 1e-9;
}

}  // namespace grebe
