// sbgemm.cpp — GEMM with bf16 operands and fp32 accumulation (bf16.h): the AVX512-BF16 driver
// when has_bf16(), else the portable path (round op(A) and op(B) into scratch, run sgemm).
// Built without ISA flags; the vdpbf16ps code lives in gemm_bf16_avx512bf16.cpp.
#include <chrono>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/bf16_internal.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_internal.h"
#include "kernels/runtime.h"

namespace grebe {

namespace {

// Elements spanned by `batch` matrices of `rows` x `cols` with row stride ld, `stride` apart
// (stride 0: one matrix shared by every item).
int64_t extent(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
    if (rows <= 0 || cols <= 0) return 0;
    return (batch - 1) * stride + (rows - 1) * ld + cols;
}

// Threads for one product: serial up to 64^3 multiply-adds (a fork/join costs more), never more
// than there are register tiles. Depends on the shape and the budget only; the result does not
// depend on it at all.
int threads_for_sbgemm(int64_t M, int64_t N, int64_t K) {
    const int64_t flops = 2 * M * N * K;
    if (flops <= 2 * int64_t(64) * 64 * 64) return 1;
    const gemm::BlockSizes bs = gemm::kBlocksBf16Avx512;
    const int64_t tiles = ((M + bs.MR - 1) / bs.MR) * ((N + bs.NR - 1) / bs.NR);
    int nt = threads_for(flops);
    if (tiles < nt) nt = static_cast<int>(tiles);
    return nt < 1 ? 1 : nt;
}

}  // namespace

void sgemm_bias_act_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float beta, const float* bias, bool relu, float* C, int64_t ldc) {
    // C (M,N) = act(alpha * bf16(op(A)) (M,K) * bf16(op(B)) (K,N) + beta * C + bias (N))
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {  // no product: exactly sgemm's edge case
        sgemm_bias_act(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, relu, C,
                       ldc);
        return;
    }
    if (has_bf16()) {
        bf16::sbgemm_avx512bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias,
                                relu, C, ldc, threads_for_sbgemm(M, N, K));
        return;
    }
    const float* Ar = bf16::rounded(bf16::kOperandA, A,
                                    extent(1, 0, trans_a ? K : M, trans_a ? M : K, lda));
    const float* Br = bf16::rounded(bf16::kOperandB, B,
                                    extent(1, 0, trans_b ? N : K, trans_b ? K : N, ldb));
    sgemm_bias_act(trans_a, trans_b, M, N, K, alpha, Ar, lda, Br, ldb, beta, bias, relu, C, ldc);
}

void sgemm_strided_batched_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                                int64_t K, float alpha, const float* A, int64_t lda,
                                int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                                float beta, float* C, int64_t ldc, int64_t stride_c) {
    // C[b] (M,N) = alpha * bf16(op(A[b])) * bf16(op(B[b])) + beta * C[b], b < batch
    if (batch <= 0 || M <= 0 || N <= 0) return;
    if (has_bf16() && K > 0 && alpha != 0.0f) {
        const int64_t item_flops = 2 * M * N * K;
        const int nt = threads_for(item_flops * batch);
        if (batch == 1 || nt <= 1 || threads_for_sbgemm(M, N, K) > 1 || stride_c == 0) {
            for (int64_t b = 0; b < batch; b++)
                bf16::sbgemm_avx512bf16(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda,
                                        B + b * stride_b, ldb, beta, nullptr, false,
                                        C + b * stride_c, ldc, threads_for_sbgemm(M, N, K));
            return;
        }
        // Small items, one per thread: item b writes only C[b] (stride_c != 0) and is computed
        // on one thread exactly as it would be alone. Each thread's packing scratch is its own
        // (thread-local), allocated by that thread: touch it first on this thread's team.
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t b = 0; b < batch; b++)
            bf16::sbgemm_avx512bf16(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda,
                                    B + b * stride_b, ldb, beta, nullptr, false,
                                    C + b * stride_c, ldc, 1);
        return;
    }
    const float* Ar = bf16::rounded(
        bf16::kOperandA, A, extent(batch, stride_a, trans_a ? K : M, trans_a ? M : K, lda));
    const float* Br = bf16::rounded(
        bf16::kOperandB, B, extent(batch, stride_b, trans_b ? N : K, trans_b ? K : N, ldb));
    sgemm_strided_batched(trans_a, trans_b, batch, M, N, K, alpha, Ar, lda, stride_a, Br, ldb,
                          stride_b, beta, C, ldc, stride_c);
}

double bf16_peak_gflops(int threads, double seconds) {
    if (!has_bf16()) return 0.0;
    if (threads < 1) threads = 1;
    std::vector<float> sink(threads);
    // As fma_peak_gflops: each thread times its own CPU seconds; the best of a few runs after
    // a warm-up.
    using clock = std::chrono::steady_clock;
    int64_t iters = 1 << 16;
    bf16::peak_dpbf16_avx512bf16(threads, iters, sink.data());
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        const auto t0 = clock::now();
        const double rate = bf16::peak_dpbf16_avx512bf16(threads, iters, sink.data());
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        best = best > rate ? best : rate;
        if (dt > 0 && dt < seconds / 5) iters = static_cast<int64_t>(iters * (seconds / 5) / dt);
    }
    return best * 1e-9;
}

}  // namespace grebe
