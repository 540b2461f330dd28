"""Sigmoid cross-entropy with logits under each ISA grebe runs here, and PyTorch's, one process.

    PYTHONPATH=python python bench/loss.py [--threads 1] [--repeats 7] [--cpu-time]

grebe._C.sigmoid_cross_entropy (loss and dlogits in one pass) on 2^12, 2^16 and 2^20 logits,
PyTorch's binary_cross_entropy_with_logits (reduction='none') and its gradient
(sigmoid(x) - z) on the same arrays. Microseconds per call, medians; the last column is the
next ISA's time over the best one's (> 1: the best ISA's kernel is faster).
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
    print(f"sigmoid cross-entropy, {args.threads} thread(s), median of {args.repeats}"
          f"{', process CPU time' if args.cpu_time else ''}; microseconds per call")
    rng = np.random.default_rng(0)
    cases, peers = {}, {}
    for n in (1 << 12, 1 << 16, 1 << 20):
        x = rng.standard_normal(n, dtype=np.float32) * 4
        z = rng.uniform(0, 1, n).astype(np.float32)
        xt, zt = torch.from_numpy(x), torch.from_numpy(z)
        F = torch.nn.functional
        cases[f"loss+grad n={n}"] = lambda x=x, z=z: _C.sigmoid_cross_entropy(x, z)
        peers[f"loss+grad n={n}"] = {"torch": lambda xt=xt, zt=zt: (
            F.binary_cross_entropy_with_logits(xt, zt, reduction="none"),
            torch.sigmoid(xt) - zt)}
    per_isa_table(_C, cases, peers, args.repeats, args.budget, clock)


if __name__ == "__main__":
    sys.exit(main())
