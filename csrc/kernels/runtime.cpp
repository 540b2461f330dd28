// runtime.cpp — ISA detection / dispatch choice and the thread budget.
#include "kernels/runtime.h"

#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace grebe {

Isa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
    return Isa::generic;
}

bool parse_isa(const std::string& name, Isa* out) {
    if (name == "generic" || name == "portable") { *out = Isa::generic; return true; }
    if (name == "avx2") { *out = Isa::avx2; return true; }
    if (name == "avx512") { *out = Isa::avx512; return true; }
    return false;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        default: return "generic";
    }
}

static Isa initial_isa() {
    Isa best = detect_isa();
    const char* env = std::getenv("GREBE_ISA");
    Isa wanted;
    if (env && parse_isa(env, &wanted) && static_cast<int>(wanted) < static_cast<int>(best))
        return wanted;
    return best;
}

static std::atomic<int> g_isa{-1};

Isa active_isa() {
    int v = g_isa.load(std::memory_order_relaxed);
    if (v < 0) {
        v = static_cast<int>(initial_isa());
        g_isa.store(v, std::memory_order_relaxed);
    }
    return static_cast<Isa>(v);
}

bool set_isa(Isa isa) {
    if (static_cast<int>(isa) > static_cast<int>(detect_isa())) return false;
    g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
    return true;
}

int physical_cores() {
    // Count distinct (package, core) pairs: SMT siblings share a core and its FMA units.
    std::set<std::pair<std::string, std::string>> cores;
    int nprocs = omp_get_num_procs();
    for (int cpu = 0; cpu < 4096; cpu++) {
        std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream core_f(base + "core_id"), pkg_f(base + "physical_package_id");
        if (!core_f) break;
        std::string core, pkg;
        core_f >> core;
        pkg_f >> pkg;
        cores.insert({pkg, core});
    }
    int n = static_cast<int>(cores.size());
    if (n <= 0 || n > nprocs) n = nprocs;  // no sysfs, or a cgroup limit below the topology
    return n > 0 ? n : 1;
}

int max_threads() {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    if (cpus > (1 << 20)) cpus = 1 << 20;
    return static_cast<int>(4 * cpus);
}

static int initial_threads() {
    const char* env = std::getenv("OMP_NUM_THREADS");
    if (env) {
        // strtol, not atoi: an out-of-range value must not overflow; the bound applies here too.
        long n = std::strtol(env, nullptr, 10);
        if (n > 0) return n > max_threads() ? max_threads() : static_cast<int>(n);
    }
    return physical_cores();
}

static std::atomic<int> g_threads{0};

int num_threads() {
    int n = g_threads.load(std::memory_order_relaxed);
    if (n <= 0) {
        n = initial_threads();
        g_threads.store(n, std::memory_order_relaxed);
    }
    return n;
}

void set_num_threads(int n) { g_threads.store(n > 0 ? n : 1, std::memory_order_relaxed); }

int threads_for(int64_t work) { return work_is_large(work) ? num_threads() : 1; }

}  // namespace grebe
