"""Timing helpers the benchmarks share: per-call seconds over a time budget, and medians of
functions timed alternately so a noisy neighbour hits every library alike."""
import statistics
import time


def timer(fn, budget: float, settle: float, clock=time.perf_counter) -> float:
    """Seconds per call: one warm call, then calls for about `budget` seconds (of `clock`),
    averaged."""
    time.sleep(settle)
    fn()
    n, t0 = 0, clock()
    while True:
        fn()
        n += 1
        el = clock() - t0
        if el >= budget and n >= 3:
            return el / n


def median_times(fns: dict, repeats: int, budget: float, settle: float,
                 clock=time.perf_counter) -> dict:
    """Median seconds per call of each function, the functions alternating in each repeat.
    clock=time.process_time counts the CPU seconds of the whole process instead of wall time:
    on a machine shared with other jobs, a 1-thread run then measures the work, not the
    scheduler's share (with several threads it also counts the time they spin waiting)."""
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            samples[k].append(timer(fn, budget, settle, clock))
    return {k: statistics.median(v) for k, v in samples.items()}


def interleaved_times(fns: dict, repeats: int, budget: float, settle: float = 0.0) -> dict:
    """{name: [seconds per call, one per repeat]}: each function first sized to a block of about
    `budget` seconds, then the blocks of all functions interleaved in every repeat (for ratios
    taken per repeat, which a shared machine's swings hit alike)."""
    number = {}
    for name, fn in fns.items():  # warm up and size each block
        fn()
        t0 = time.perf_counter()
        fn()
        number[name] = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if settle:
                time.sleep(settle)
                fn()
            t0 = time.perf_counter()
            for _ in range(number[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / number[name])
    return times


def machine_peak(threads: int) -> float:
    """The measured FP32 FMA peak (GFLOP/s) of this machine for grebe's active ISA on `threads`
    cores: one core's register-only FMA loop (_C.fma_peak_gflops on 1 thread, best of three)
    times `threads`. Measured on one thread because a multi-thread loop run after a peer (whose
    worker threads may still spin) measured half the machine (126 of 234 GFLOP/s after TF and
    PyTorch in bench/cnn.py) and turned %-of-peak into more than 100%."""
    from grebe import _C
    return threads * max(_C.fma_peak_gflops(1, 0.1) for _ in range(3))


def isas_here(_C) -> list:
    """The ISAs grebe can run on this CPU, best first (grebe._C.set_isa takes each)."""
    order = ("avx512", "avx2", "generic")
    return list(order[order.index(_C.detect_isa()):])


def per_isa_table(_C, cases: dict, peers: dict, repeats: int, budget: float, clock) -> None:
    """Prints one row per case: microseconds per call (median of `repeats`, the functions
    alternating) under every ISA grebe runs here, then each peer's, then the ratio of the next
    ISA's time to the best ISA's (> 1: the best ISA's kernel is faster). cases: {name: fn}, fn
    runs grebe's kernel under whatever ISA is set; peers: {name: {peer: fn}}."""
    isas = isas_here(_C)
    before = _C.active_isa()
    for name, fn in cases.items():
        fns = {isa: (lambda f=fn, i=isa: (_C.set_isa(i), f())) for isa in isas}
        fns.update(peers.get(name, {}))
        med = median_times(fns, repeats, budget, 0.0, clock)
        _C.set_isa(before)
        cells = "  ".join(f"{k} {v * 1e6:9.1f}" for k, v in med.items())
        ratio = (f"  {isas[1]}/{isas[0]} {med[isas[1]] / med[isas[0]]:5.2f}x"
                 if len(isas) > 1 else "")
        print(f"  {name:34} {cells}{ratio}", flush=True)


def per_isa_bench(doc: str, title: str):
    """The shared start of the per-ISA kernel benches (bench/loss.py, bench/optim.py): parses
    --threads/--repeats/--budget/--cpu-time, sets both libraries' thread counts and prints the
    header. Returns (args, clock, numpy, torch, grebe._C)."""
    import argparse
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--budget", type=float, default=0.05, help="seconds per timing block")
    p.add_argument("--cpu-time", action="store_true", help="time by process CPU seconds")
    args = p.parse_args()
    import numpy as np
    import torch

    import grebe
    from grebe import _C
    grebe.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"{title}, {args.threads} thread(s), median of {args.repeats}"
          f"{', process CPU time' if args.cpu_time else ''}; microseconds per call")
    return args, clock, np, torch, _C
