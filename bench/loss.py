"""Sigmoid cross-entropy with logits under each ISA grebe runs here, and PyTorch's, one process.

    PYTHONPATH=python python bench/loss.py [--threads 1] [--repeats 7] [--cpu-time]

grebe._C.sigmoid_cross_entropy (loss and dlogits in one pass) on 2^12, 2^16 and 2^20 logits,
PyTorch's binary_cross_entropy_with_logits (reduction='none') and its gradient
(sigmoid(x) - z) on the same arrays. Microseconds per call, medians; the last column is the
next ISA's time over the best one's (> 1: the best ISA's kernel is faster).
"""
from __future__ import annotations

import sys

from _timing import per_isa_bench, per_isa_table  # bench/_timing.py


def main():
    args, clock, np, torch, _C = per_isa_bench(__doc__, "sigmoid cross-entropy")
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
