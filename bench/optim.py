"""sum_squares (the gradient norm of clipnorm / global_clipnorm) under each ISA grebe runs
here, numpy's and PyTorch's, one process.

    PYTHONPATH=python python bench/optim.py [--threads 1] [--repeats 7] [--cpu-time]

grebe._C.sum_squares over one float32 array of 2^12, 2^16, 2^20 and 2^23 elements (double
accumulation); numpy's float64 dot of the array with itself and torch.linalg.vector_norm
(float32) squared. Microseconds per call, medians; the last column is the next ISA's time over
the best one's (> 1: the best ISA's kernel is faster).
"""
from __future__ import annotations

import sys

from _timing import per_isa_bench, per_isa_table  # bench/_timing.py


def main():
    args, clock, np, torch, _C = per_isa_bench(__doc__, "sum_squares")
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
