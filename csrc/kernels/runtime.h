// runtime.h — what every kernel needs to know about the machine it runs on:
// the instruction set chosen at import (runtime dispatch) and the OpenMP thread budget.
#pragma once
#include <cstdint>
#include <string>

namespace grebe {

// The instruction sets grebe has kernels for, from the portable fallback up.
enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// The best ISA this CPU supports (cpuid via __builtin_cpu_supports).
Isa detect_isa();
// The ISA kernels dispatch on: detect_isa(), lowered by the GREBE_ISA environment variable
// ("generic", "avx2", "avx512") or by set_isa(). Never higher than the CPU supports.
Isa active_isa();
// Sets the dispatch ISA; returns false (and changes nothing) if the CPU lacks it.
bool set_isa(Isa isa);
const char* isa_name(Isa isa);
// Parses "generic" / "avx2" / "avx512"; returns false on an unknown name.
bool parse_isa(const std::string& name, Isa* out);

// Thread budget for every OpenMP region in grebe. Default: physical cores (OMP_NUM_THREADS,
// when set, wins). Kernels pass it as num_threads(...) so grebe never fights the user's pool.
int num_threads();
// Sets the budget; n must lie in [1, max_threads()] (the binding checks; kernels trust it).
void set_num_threads(int n);
int physical_cores();
// The largest budget accepted: 4 x the logical CPUs the OS reports online. More threads than
// that only adds stacks and contention, and a huge count (1000) can make the OpenMP runtime
// abort the process when it cannot create them under a memory limit.
int max_threads();

// Work below this many flops (or element-ops) runs serially: a fork/join costs 1-6 us here.
constexpr int64_t kParallelMinWork = 1 << 16;
inline bool work_is_large(int64_t work) { return work >= kParallelMinWork; }
// Threads to use for `work`: 1 when it is small, the budget otherwise.
int threads_for(int64_t work);

}  // namespace grebe
