// test_util.h — what the kernel tests share: the ISAs this CPU can run, a guard that restores
// the ISA and thread budget a test changed, and seeded random inputs.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/runtime.h"

namespace grebe {
namespace testing_util {

inline std::vector<Isa> runnable_isas() {
    std::vector<Isa> out;
    for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
        if (static_cast<int>(isa) <= static_cast<int>(detect_isa())) out.push_back(isa);
    return out;
}

// Restores the ISA and thread budget a test changed.
struct Restore {
    Isa isa = active_isa();
    int threads = num_threads();
    ~Restore() {
        set_isa(isa);
        set_num_threads(threads);
    }
};

// n values uniform in [lo, hi), the same for the same seed.
inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

}  // namespace testing_util
}  // namespace grebe
