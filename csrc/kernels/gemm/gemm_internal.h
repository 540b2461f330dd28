// gemm_internal.h — what the SGEMM driver (gemm.cpp) and the per-ISA files share: the argument
// bundle, the one table of block sizes, and the per-ISA entry points. Declarations and constants
// only: nothing inline or templated is shared between files built with different ISA flags.
#pragma once
#include <cstddef>
#include <cstdint>

namespace grebe {
namespace gemm {

// One SGEMM call, already checked: M, N, K > 0, alpha != 0 (the driver handles the rest).
struct Args {
    bool trans_a, trans_b;
    int64_t M, N, K;
    float alpha;
    const float* A;
    int64_t lda;
    const float* B;
    int64_t ldb;
    float beta;
    float* C;
    int64_t ldc;
    const float* bias;  // (N) added in the last store, or nullptr
    bool relu;          // max(0, x) in the last store
    int threads;        // OpenMP team size for this call (1 = serial)
};

// Register tile MR x NR, and the cache blocks: MC rows of A (an MC x KC block stays in L2),
// KC depth (a KC x NR micro-panel of B stays in L1), NC columns of B (a KC x NC panel in L3).
// MC is a multiple of MR, NC a multiple of NR. Results depend on KC only (the k loop is split
// into KC-deep passes in a fixed order); nothing here depends on the thread count.
struct BlockSizes {
    int MR, NR, MC, KC, NC;
};
// Portable C++: 6 x 8 fits 12 SSE registers of accumulators on baseline x86-64.
constexpr BlockSizes kBlocksGeneric = {6, 8, 120, 256, 4080};
// AVX2+FMA (Zen3 numbers from BLIS's zen3 context): 6 x 16 = 12 ymm accumulators.
constexpr BlockSizes kBlocksAvx2 = {6, 16, 144, 256, 4080};
// AVX-512 on Zen 5 (L1d 48 KiB, L2 1 MiB per core): 12 x 32 = 24 zmm accumulators. KC = 256:
// a KC x NR micro-panel of B is 32 KiB, resident in L1 beside the streaming 12 KiB micro-panel
// of A; MC = 384: a 384 KiB block of A in L2 (which it shares with the B panel's lines
// passing through); NC = 4096: a 4 MiB panel of B in L3.
constexpr BlockSizes kBlocksAvx512 = {12, 32, 384, 256, 4096};
// AVX512-BF16 GEMM (gemm_bf16_avx512bf16.cpp): 12 x 32 fp32 accumulators as above, each
// vdpbf16ps consuming a k-pair. KC counts k (even): a KC x NR micro-panel of packed bf16 B is
// KC * 64 bytes = 24 KiB (L1), a 12 x KC micro-panel of A 9 KiB; MC = 192: a 144 KiB block of A
// in L2; NC = 4096: a 3 MiB B panel in L3. Results depend on KC only.
constexpr BlockSizes kBlocksBf16Avx512 = {12, 32, 192, 384, 4096};

// Per-ISA drivers (gemm_generic.cpp, gemm_avx2.cpp, gemm_avx512.cpp).
void sgemm_generic(const Args& g);
void sgemm_avx2(const Args& g);
void sgemm_avx512(const Args& g);

// The FMA peak loops: `iters` iterations of register-only FMAs on each of `threads` threads;
// return the sum over threads of each thread's flops per second of its own CPU time (what the
// cores can do, even when other processes share them). sink (threads floats) receives values
// that keep the loops alive.
double peak_fma_generic(int threads, int64_t iters, float* sink);
double peak_fma_avx2(int threads, int64_t iters, float* sink);
double peak_fma_avx512(int threads, int64_t iters, float* sink);
// CPU seconds used by the calling thread (CLOCK_THREAD_CPUTIME_ID). Defined in gemm.cpp.
double thread_cpu_seconds();

// Grow-only, 64-byte aligned scratch owned by the calling thread (slot 0: packed A, slot 1:
// packed B). Defined in gemm.cpp, built without ISA flags.
float* scratch(int slot, size_t floats);

}  // namespace gemm
}  // namespace grebe
