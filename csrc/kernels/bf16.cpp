// bf16.cpp — bfloat16 rounding (round to nearest even, bf16.h), the CPU check for the
// AVX512-BF16 kernels, and the scratch the portable bf16 paths round their operands into.
// Built without ISA flags.
#include "kernels/bf16.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/bf16_internal.h"
#include "kernels/runtime.h"

namespace grebe {

namespace {

// The bf16 nearest to x (ties to even) as float32 bits: add half an ulp of bf16 (0x7FFF, plus
// one when the kept part is odd, so a tie goes to the even neighbour) and drop the low 16 bits.
// A carry out of the mantissa moves to the next binade, and past the largest finite bf16 to
// Inf, as round to nearest requires. NaN would carry into Inf or lose its payload: it is
// quieted (bit 22) and truncated instead, so it stays NaN with its sign.
inline uint32_t round_bits(uint32_t u) {
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u | 0x00400000u) & 0xFFFF0000u;
    return (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
}

}  // namespace

float round_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u = round_bits(u);
    float y;
    std::memcpy(&y, &u, 4);
    return y;
}

void round_bf16(float* y, const float* x, int64_t n) {
    // y (n) = bf16(x (n)). Elementwise: any split of i is race-free and bit-identical.
    const int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        std::memcpy(&u, x + i, 4);
        u = round_bits(u);
        std::memcpy(y + i, &u, 4);
    }
}

bool has_bf16() {
#if defined(__x86_64__)
    static const bool cpu = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512bf16") != 0;
    }();
    return cpu && active_isa() == Isa::avx512;
#else
    return false;
#endif
}

namespace bf16 {

float* scratch(int slot, size_t floats) {
    struct Buf {
        float* p = nullptr;
        size_t n = 0;
        ~Buf() { std::free(p); }
    };
    thread_local Buf bufs[kNumSlots];
    Buf& b = bufs[slot];
    if (b.n < floats) {
        std::free(b.p);
        b.p = nullptr;
        b.n = 0;
        const size_t bytes = ((floats ? floats : 1) * sizeof(float) + 63) / 64 * 64;
        b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
        if (!b.p) throw std::bad_alloc();
        b.n = floats;
    }
    return b.p;
}

const float* rounded(int slot, const float* x, int64_t n) {
    if (!x) return nullptr;
    float* y = scratch(slot, static_cast<size_t>(n));
    round_bf16(y, x, n);
    return y;
}

}  // namespace bf16
}  // namespace grebe
