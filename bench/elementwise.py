"""Elementwise ops and activations: grebe vs PyTorch (and numpy where it has the op), one process.

    PYTHONPATH=python python bench/elementwise.py [--threads 2] [--quick] [--repeats 7]

Two tables:
- per-op overhead: small (32, 128) arrays, forward alone and forward + backward (through a
  `.sum()`), in microseconds per call; this is what a small-model training step pays per op;
- throughput: 2^20-element arrays, forward and backward passes in GB/s of input read.
Ratios are medians over interleaved repeats of (other's time / grebe's time): > 1 means grebe
is faster. Writes bench/results/elementwise.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from _timing import interleaved_times  # bench/_timing.py


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "elementwise.json"))
    return p.parse_args()


def main():
    args = parse_args()
    if args.threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import torch
    import torch.nn.functional as F

    import grebe
    from grebe import ops

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    torch.set_num_threads(threads)
    repeats = args.repeats or (3 if args.quick else 7)
    budget = 0.01 if args.quick else 0.03
    rng = np.random.default_rng(0)

    cases = {  # name: (grebe fn, torch fn)
        "add": (lambda a, b: ops.add(a, b), torch.add),
        "multiply": (lambda a, b: ops.multiply(a, b), torch.mul),
        "relu": (lambda a, b: ops.relu(a), lambda a, b: torch.relu(a)),
        "sigmoid": (lambda a, b: ops.sigmoid(a), lambda a, b: torch.sigmoid(a)),
        "tanh": (lambda a, b: ops.tanh(a), lambda a, b: torch.tanh(a)),
        "gelu": (lambda a, b: ops.gelu(a, approximate=False), lambda a, b: F.gelu(a)),
        "silu": (lambda a, b: ops.silu(a), lambda a, b: F.silu(a)),
        "softmax": (lambda a, b: ops.softmax(a), lambda a, b: torch.softmax(a, -1)),
        "log_softmax": (lambda a, b: ops.log_softmax(a), lambda a, b: torch.log_softmax(a, -1)),
        "exp": (lambda a, b: ops.exp(a), lambda a, b: torch.exp(a)),
        "mean": (lambda a, b: ops.mean(a), lambda a, b: torch.mean(a)),
        "getitem": (lambda a, b: a[:, 3:60], lambda a, b: a[:, 3:60]),
    }
    names = list(cases) if not args.quick else ["add", "relu", "sigmoid", "gelu", "softmax"]
    rows = []
    print(f"Per-op overhead, (32, 128) float32, {threads} thread(s), median of {repeats}, us/call")
    print(f"{'op':>12} {'grebe':>8} {'torch':>8} {'ratio':>6}   {'grebe f+b':>9} "
          f"{'torch f+b':>9} {'ratio':>6}")
    a_np = rng.standard_normal((32, 128), dtype=np.float32)
    b_np = rng.standard_normal((32, 128), dtype=np.float32)
    for name in names:
        gfn, tfn = cases[name]
        ga, gb = grebe.tensor(a_np, requires_grad=True), grebe.tensor(b_np)
        ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np)

        def g_fb():
            gfn(ga, gb).sum().backward()
            ga.grad = None

        def t_fb():
            tfn(ta, tb).sum().backward()
            ta.grad = None

        times = interleaved_times({"grebe": lambda: gfn(ga, gb), "torch": lambda: tfn(ta, tb),
                                    "grebe_fb": g_fb, "torch_fb": t_fb}, repeats, budget)
        med = {k: float(np.median(v)) * 1e6 for k, v in times.items()}
        r = float(np.median(np.array(times["torch"]) / np.array(times["grebe"])))
        rfb = float(np.median(np.array(times["torch_fb"]) / np.array(times["grebe_fb"])))
        rows.append({"table": "overhead", "op": name, **{f"{k}_us": round(v, 2)
                                                        for k, v in med.items()},
                     "torch_over_grebe": round(r, 2), "torch_over_grebe_fb": round(rfb, 2)})
        print(f"{name:>12} {med['grebe']:8.2f} {med['torch']:8.2f} {r:6.2f}   "
              f"{med['grebe_fb']:9.2f} {med['torch_fb']:9.2f} {rfb:6.2f}", flush=True)

    n = 1 << 20
    big = rng.uniform(-4, 4, size=(n // 1024, 1024)).astype(np.float32)
    print(f"\nThroughput, {big.shape} float32, GB/s of input (forward; backward)")
    print(f"{'op':>12} {'grebe':>8} {'torch':>8} {'numpy':>8} {'ratio':>6}   {'grebe bw':>8} "
          f"{'torch bw':>8} {'ratio':>6}")
    numpy_fns = {"relu": lambda x: np.maximum(x, 0), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
                 "tanh": np.tanh, "exp": np.exp}
    for name in [k for k in ("relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "exp")
                 if k in names or not args.quick]:
        gfn, tfn = cases[name]
        gx = grebe.tensor(big, requires_grad=True)
        tx = torch.tensor(big, requires_grad=True)
        gy, ty = gfn(gx, None), tfn(tx, None)
        up = np.ones_like(big)
        tup = torch.tensor(up)
        gnode = gy._ctx

        fns = {"grebe": lambda: gfn(gx, None), "torch": lambda: tfn(tx, None),
               "grebe_bw": lambda: gnode.backward(gnode, up),
               "torch_bw": lambda: torch.autograd.grad(ty, tx, tup, retain_graph=True)}
        if name in numpy_fns:
            fns["numpy"] = lambda: numpy_fns[name](big)
        times = interleaved_times(fns, repeats, budget)
        gbs = {k: big.nbytes / float(np.median(v)) / 1e9 for k, v in times.items()}
        r = float(np.median(np.array(times["torch"]) / np.array(times["grebe"])))
        rb = float(np.median(np.array(times["torch_bw"]) / np.array(times["grebe_bw"])))
        rows.append({"table": "throughput", "op": name, **{f"{k}_gbs": round(v, 2)
                                                          for k, v in gbs.items()},
                     "torch_over_grebe": round(r, 2), "torch_over_grebe_bw": round(rb, 2)})
        npv = f"{gbs['numpy']:8.1f}" if "numpy" in gbs else f"{'-':>8}"
        print(f"{name:>12} {gbs['grebe']:8.1f} {gbs['torch']:8.1f} {npv} {r:6.2f}   "
              f"{gbs['grebe_bw']:8.1f} {gbs['torch_bw']:8.1f} {rb:6.2f}", flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    meta = {"threads": threads, "isa": grebe._C.active_isa(), "repeats": repeats,
            "numpy": np.__version__, "torch": torch.__version__,
            "python": sys.version.split()[0]}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
