"""SGEMM: grebe vs numpy (OpenBLAS) vs PyTorch, in one process, same inputs, same threads.

    PYTHONPATH=python python bench/gemm.py [--threads 2] [--quick] [--repeats 7]

Prints GFLOP/s (median of the repeats), the ratios grebe/numpy and grebe/torch, and grebe's
fraction of this machine's FP32 FMA peak (measured by _C.fma_peak_gflops for the active ISA);
writes bench/results/gemm.json. numpy's OpenBLAS runs at full speed: this process unsets
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (which the environment sets for old OpenBLAS builds and
which force a slower kernel) before numpy loads, and prints the kernel OpenBLAS picked.
All three write into a preallocated output (numpy out=, torch out=, grebe c=), so the figures
compare kernels, not allocators; the column "api" times grebe.matmul (the Python entry with a
fresh output), whose gap to "grebe" is the per-call overhead.

Fairness on a small machine: OpenBLAS's idle worker threads spin for a long while (~0.1 s) after
each call, and so do OpenMP pools, stealing a core from whoever runs next. Each timed batch
therefore starts after a short idle pause (--settle), and the libraries are interleaved within
every repeat; ratios are medians of the per-repeat ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from _timing import machine_peak  # bench/_timing.py

SQUARES = [64, 128, 256, 512, 1024, 2048]
SKINNY = [  # (M, N, K, what)
    (64, 2304, 128, "dense dW-like"),
    (2304, 64, 128, "dense fwd-like"),
    (10816, 288, 64, "conv2 im2col b64"),
    (169, 288, 64, "conv2 per image"),
    (57600, 27, 32, "conv1 im2col"),
    (64, 128, 512, "lstm step"),
    (512, 3200, 128, "lstm input proj"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="threads for all (default: cores)")
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--settle", type=float, default=0.1,
                   help="idle seconds before each timed batch (lets other pools go to sleep)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by process CPU seconds (a shared machine; use with --threads 1)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "gemm.json"))
    return p.parse_args()


def main():
    args = parse_args()
    if args.threads is not None:  # before numpy loads OpenBLAS
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    # Full-speed OpenBLAS for the numpy peer, in this process only.
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(var, None)
    import numpy as np

    import grebe
    from grebe import _C

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    repeats = args.repeats or (3 if args.quick else 7)
    clock = time.process_time if args.cpu_time else time.perf_counter
    budget = 0.02 if args.quick else 0.05  # seconds per timed repeat
    shapes = [(n, n, n, f"{n}^2") for n in SQUARES]
    if args.quick:
        shapes = [s for s in shapes if s[0] in (64, 256, 1024)]
    shapes += [(m, n, k, w) for m, n, k, w in SKINNY]

    rng = np.random.default_rng(0)
    rows = []
    peak = machine_peak(threads)
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                         f"kernel, {i.get('num_threads')} threads" for i in threadpool_info()
                         if i.get("user_api") == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"numpy BLAS: {blas}")
    print(f"SGEMM GFLOP/s, {threads} thread(s), isa={_C.active_isa()}, median of {repeats}; "
          f"measured FMA peak {peak:.0f} GFLOP/s" +
          ("; timed in process CPU seconds" if args.cpu_time else ""))
    head = (f"{'M x N x K':>18} {'grebe':>7} {'api':>7} {'numpy':>7} {'torch':>7} "
            f"{'/numpy':>7} {'/torch':>7} {'%peak':>6}  case")
    print(head)
    for m, n, k, what in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        fns = {
            "grebe": lambda: _C.sgemm(a, b, c=c),
            "api": lambda: grebe.matmul(a, b),
            "numpy": lambda: np.matmul(a, b, out=c),
        }
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            fns["torch"] = lambda: torch.mm(ta, tb, out=tc)
        check = _C.sgemm(a, b)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = float(np.max(np.abs(check - ref)) / (np.max(np.abs(ref)) + 1e-30))
        assert err < 1e-5 * (k + 4) ** 0.5 * 10, f"grebe result wrong at {m}x{n}x{k}: {err}"
        flops = 2.0 * m * n * k
        number = {}
        for name, fn in fns.items():  # warm up and size each repeat to ~budget seconds
            fn()
            t0 = clock()
            fn()
            dt = clock() - t0
            number[name] = max(1, int(budget / max(dt, 1e-7)))
        times = {name: [] for name in fns}
        for _ in range(repeats):  # interleave the libraries so noise hits them alike
            for name, fn in fns.items():
                time.sleep(args.settle)
                fn()
                t0 = clock()
                for _ in range(number[name]):
                    fn()
                times[name].append((clock() - t0) / number[name])
        gf = {name: flops / float(np.median(ts)) / 1e9 for name, ts in times.items()}
        def ratio(other):  # median over repeats of (other's time / grebe's time)
            return round(float(np.median(np.array(times[other]) / np.array(times["grebe"]))), 3)

        row = {"M": m, "N": n, "K": k, "case": what, "threads": threads,
               **{f"{name}_gflops": round(v, 2) for name, v in gf.items()},
               "grebe_over_numpy": ratio("numpy"),
               "grebe_over_torch": ratio("torch") if torch else None,
               "fraction_of_peak": round(gf["grebe"] / peak, 3)}
        rows.append(row)
        tt = f"{gf['torch']:7.1f}" if torch else f"{'-':>7}"
        rt = f"{row['grebe_over_torch']:7.2f}" if torch else f"{'-':>7}"
        print(f"{f'{m}x{n}x{k}':>18} {gf['grebe']:7.1f} {gf['api']:7.1f} {gf['numpy']:7.1f} "
              f"{tt} {row['grebe_over_numpy']:7.2f} {rt} {100 * row['fraction_of_peak']:5.0f}%"
              f"  {what}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    meta = {"threads": threads, "isa": _C.active_isa(), "repeats": repeats,
            "peak_gflops": round(peak, 1), "blas": blas,
            "numpy": np.__version__, "torch": torch.__version__ if torch else None,
            "python": sys.version.split()[0]}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
