"""sum_squares (the gradient norm of clipnorm / global_clipnorm) under each ISA grebe runs
here, numpy's and PyTorch's, one process.

    PYTHONPATH=python python bench/optim.py [--threads 1] [--repeats 7] [--cpu-time]

grebe._C.sum_squares over one float32 array of 2^12, 2^16, 2^20 and 2^23 elements (double
accumulation); numpy's float64 dot of the array with itself and torch.linalg.vector_norm
(float32) squared. Microseconds per call, medians; the last column is the next ISA's time over
the best one's (> 1: the best ISA's kernel is faster).
"""
from __future__ import annotations

import argparse
import sys
import time

from _timing import per_isa_table  # bench/_timing.py


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--budget", type=float, default=0.05, help="seconds per timing block")
    p.add_argument("--cpu-time", action="store_true", help="time by process CPU seconds")
    return p.parse_args()


def main():
    args = parse_args()
    import numpy as np
    import torch

    import grebe
    from grebe import _C
    grebe.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"sum_squares, {args.threads} thread(s), median of {args.repeats}"
          f"{', process CPU time' if args.cpu_time else ''}; microseconds per call")
    rng = np.random.default_rng(0)
    cases, peers = {}, {}
    for n in (1 << 12, 1 << 16, 1 << 20, 1 << 23):
        g = rng.standard_normal(n, dtype=np.float32)
        gt = torch.from_numpy(g)
        cases[f"n={n}"] = lambda g=g: _C.sum_squares([g])
        peers[f"n={n}"] = {"numpy": lambda g=g: np.dot(g.astype(np.float64), g),
                           "torch": lambda gt=gt: torch.linalg.vector_norm(gt) ** 2}
    per_isa_table(_C, cases, peers, args.repeats, args.budget, clock)


if __name__ == "__main__":
    sys.exit(main())
