"""The FP32 FMA peak of the machine a benchmark runs on, so %-of-peak figures never quote another
CPU. `peak_gflops` measures it: grebe._C.fma_peak_gflops runs a register-only FMA loop of the
ISA grebe dispatches on, on `threads` threads (best of three). The derived figure is printed
beside it for reference:

    flops/cycle per core = 2 (multiply + add) x lanes x FMA pipes of that width
    peak = flops/cycle x clock x threads

AVX-512 on AMD Zen 4 (cpu family 25) runs as two 256-bit halves: 32 flops/cycle, the same as
AVX2; Zen 5 (family 26) and Intel server cores with two 512-bit FMA units do 64. The clock is the
highest the kernel reports (cpufreq's maximum, else /proc/cpuinfo's "cpu MHz", which under a
hypervisor is often the base clock: the derived peak is then understated by the boost ratio,
which is why the benches use the measured one; a derived peak put bench/rnn.py above 100%).
"""
from __future__ import annotations

import os


def _cpuinfo() -> dict:
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                k, _, v = line.partition(":")
                info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def clock_ghz() -> tuple[float, str]:
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1e6, "cpufreq max"
    except (OSError, ValueError):
        pass
    mhz = _cpuinfo().get("cpu MHz")
    if mhz:
        return float(mhz) / 1e3, "/proc/cpuinfo cpu MHz"
    return 3.0, "assumed (no clock reported)"


def flops_per_cycle(isa: str) -> int:
    info = _cpuinfo()
    amd = "AMD" in info.get("vendor_id", "")
    family = int(info.get("cpu family", "0") or 0)
    if isa == "avx512":
        return 32 if (amd and family < 26) else 64  # Zen 4 splits 512-bit FMAs in two
    if isa == "avx2":
        return 32  # two 256-bit FMA pipes
    return 8  # SSE: two 128-bit pipes, no FMA (the portable build)


def derived_gflops(isa: str, threads: int) -> tuple[float, str]:
    """(peak GFLOP/s from the FMA width and the reported clock, how it was derived)."""
    ghz, src = clock_ghz()
    fpc = flops_per_cycle(isa)
    return fpc * ghz * threads, f"{fpc} flops/cycle ({isa}) x {ghz:.2f} GHz ({src}) x {threads}"


def peak_gflops(isa: str, threads: int) -> tuple[float, str]:
    """(measured peak GFLOP/s of grebe's active ISA on `threads` threads, a line that says how it
    was measured, with the derived figure beside it). `isa` names the active ISA for the line."""
    from grebe import _C

    peak = threads * max(_C.fma_peak_gflops(1, 0.1) for _ in range(3))  # as _timing.machine_peak
    derived, how = derived_gflops(isa, threads)
    cores = os.cpu_count() or 1
    return peak, (f"peak {peak:.0f} GFLOP/s measured (_C.fma_peak_gflops, {isa}, 1 thread x "
                  f"{threads}, {cores} CPUs); derived from the clock: {derived:.0f} = {how}")
