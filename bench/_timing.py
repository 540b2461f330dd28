"""Timing helpers the benchmarks share: per-call seconds over a time budget, and medians of
functions timed alternately so a noisy neighbour hits every library alike."""
import statistics
import time


def timer(fn, budget: float, settle: float) -> float:
    """Seconds per call: one warm call, then calls for about `budget` seconds, averaged."""
    time.sleep(settle)
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if el >= budget and n >= 3:
            return el / n


def median_times(fns: dict, repeats: int, budget: float, settle: float) -> dict:
    """Median seconds per call of each function, the functions alternating in each repeat."""
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            samples[k].append(timer(fn, budget, settle))
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
