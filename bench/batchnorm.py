"""Batch normalization kernels per ISA, and batch norm + ReLU fused vs two steps, one process.

    python bench/batchnorm.py [--threads 1] [--repeats 7] [--cpu-time]

For ResNet-20's three activation shapes at batch 64 (NHWC rows x channels: 65536 x 16,
16384 x 32, 4096 x 64): the training forward (statistics + normalization) and backward
(reduce + input gradient) under each ISA grebe can run here (grebe._C.set_isa), the same with
the fused ReLU (relu=True forward, relu_y backward) against batch norm followed by grebe's relu
kernel, and PyTorch's batch_norm (+ relu) on channels-last tensors. Medians in microseconds;
ratios > 1 mean the first is faster.
"""
from __future__ import annotations

import argparse
import sys
import time

from _timing import median_times  # bench/_timing.py

SHAPES = ((64 * 32 * 32, 16), (64 * 16 * 16, 32), (64 * 8 * 8, 64))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--budget", type=float, default=0.05, help="seconds per timing block")
    p.add_argument("--cpu-time", action="store_true", help="time by process CPU seconds")
    return p.parse_args()


def grebe_fns(_C, x, dy, gamma, beta):
    relu = int(_C.Act.relu)
    def fwd(fused=False):
        return _C.batch_norm_train_forward(x, gamma, beta, 1e-3, relu=fused)

    y, mean, _, inv = fwd()
    yr = fwd(True)[0]
    relu_y = _C.activation_forward(y, relu)

    def two_steps_fwd():
        _C.activation_forward(fwd()[0], relu)

    def two_steps_bwd():
        g = _C.activation_backward(dy, None, relu_y, relu)
        _C.batch_norm_train_backward(g, x, mean, inv, gamma, True)

    return {"fwd": fwd, "bwd": lambda: _C.batch_norm_train_backward(dy, x, mean, inv, gamma, True),
            "fused relu fwd": lambda: fwd(True),
            "fused relu bwd": lambda: _C.batch_norm_train_backward(dy, x, mean, inv, gamma, True,
                                                                   yr),
            "bn, relu fwd": two_steps_fwd, "bn, relu bwd": two_steps_bwd}


def main():
    args = parse_args()
    import numpy as np
    import torch

    import grebe
    from grebe import _C

    grebe.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    best = _C.active_isa()
    order = ("avx512", "avx2", "generic")
    isas = list(order[order.index(best):])  # the ones this CPU runs, best first
    print(f"batch norm, {args.threads} thread(s), ISAs {isas}, median of {args.repeats}"
          f"{', process CPU time' if args.cpu_time else ''}; microseconds per call")
    rng = np.random.default_rng(0)
    for M, C in SHAPES:
        x = rng.standard_normal((M, C), dtype=np.float32) * 2 + 1
        dy = rng.standard_normal((M, C), dtype=np.float32)
        gamma = rng.uniform(0.5, 1.5, C).astype(np.float32)
        beta = rng.standard_normal(C, dtype=np.float32)
        fns = {}
        for isa in isas:
            _C.set_isa(isa)
            for k, f in grebe_fns(_C, x, dy, gamma, beta).items():
                fns[(isa, k)] = (lambda f=f, isa=isa: (_C.set_isa(isa), f()))
        _C.set_isa(isas[0])
        tx = torch.tensor(x.reshape(64, -1, 1, C)).permute(0, 3, 1, 2)  # channels-last NCHW view
        tx.requires_grad_(True)
        tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
        tdy = torch.tensor(dy.reshape(64, -1, 1, C)).permute(0, 3, 1, 2)

        def t_fwd(relu):
            y = torch.nn.functional.batch_norm(tx, None, None, tg, tb, True, 0.01, 1e-3)
            return torch.relu(y) if relu else y
        ty, tyr = t_fwd(False), t_fwd(True)
        fns[("torch", "fwd")] = lambda: t_fwd(False)
        fns[("torch", "bwd")] = lambda: torch.autograd.grad(ty, (tx, tg, tb), tdy,
                                                            retain_graph=True)
        fns[("torch", "bn, relu fwd")] = lambda: t_fwd(True)
        fns[("torch", "bn, relu bwd")] = lambda: torch.autograd.grad(tyr, (tx, tg, tb), tdy,
                                                                     retain_graph=True)
        med = median_times(fns, args.repeats, args.budget, 0.0, clock)
        us = {k: v * 1e6 for k, v in med.items()}
        print(f"\n  {M} x {C} ({x.nbytes / 1e6:.1f} MB)")
        for k in ("fwd", "bwd"):
            cells = "  ".join(f"{isa} {us[(isa, k)]:8.1f}" for isa in isas)
            extra = ""
            if len(isas) > 1:
                extra = f"  avx2/avx512 {us[(isas[1], k)] / us[(isas[0], k)]:5.2f}x"
            print(f"    {k:5} {cells}  torch {us[('torch', k)]:8.1f}{extra}")
        isa = isas[0]
        for d in ("fwd", "bwd"):
            f, two = us[(isa, f"fused relu {d}")], us[(isa, f"bn, relu {d}")]
            print(f"    bn+relu {d} ({isa}): fused {f:8.1f}  two steps {two:8.1f} ({two / f:4.2f}x)"
                  f"  torch {us[('torch', f'bn, relu {d}')]:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
