"""Pooling: grebe vs PyTorch, in one process, same inputs, same threads.

    PYTHONPATH=python python bench/pool.py [--threads 2] [--quick] [--repeats 7]

The seed CNN's pools (2x2, stride 2, after conv1 and conv2 at batch 64), forward (with the
argmax the backward needs) and backward, in milliseconds (median of the repeats):

  grebe      the kernels through grebe._C (NHWC; u8 argmax)
  api        grebe.ops through autograd: the op (forward), the op's Function.backward (bwd)
  copy       numpy copy of x (the size of the input and of dx): the memory-bound floor of a
             pass that reads x (fwd) or writes dx (bwd)
  torch      PyTorch's default layout (NCHW), max_pool2d_with_indices / its backward
  torch_cl   PyTorch channels_last (the same NHWC memory as grebe)

Ratios are torch time / grebe time (> 1: grebe is faster), the median of per-repeat ratios.
Writes bench/results/pool.json.

    PYTHONPATH=python python bench/pool.py --global [--threads 1] [--cpu-time]

instead times global average / max pooling (forward with the argmax, backward) under each ISA
grebe runs here, with PyTorch's mean / amax over the same NHWC memory: microseconds per call.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from _timing import interleaved_times, per_isa_table  # bench/_timing.py

CASES = [  # (name, shape NHWC, mode)
    ("maxpool 2x2 conv1", (64, 30, 30, 32), "max"),
    ("maxpool 2x2 conv2", (64, 13, 13, 64), "max"),
    ("avgpool 2x2 conv1", (64, 30, 30, 32), "avg"),
    ("avgpool 2x2 conv2", (64, 13, 13, 64), "avg"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="threads for all (default: cores)")
    p.add_argument("--quick", action="store_true", help="max pooling only, fewer repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--settle", type=float, default=0.01,
                   help="seconds of sleep before each timed block, so the other library's "
                        "OpenMP threads stop spinning")
    p.add_argument("--global", dest="global_", action="store_true",
                   help="global pooling under each ISA instead (see the docstring)")
    p.add_argument("--cpu-time", action="store_true", help="--global: time by process CPU time")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "pool.json"))
    return p.parse_args()


GLOBAL_SHAPES = [(64, 8 * 8, 64), (64, 7 * 7, 512), (32, 28 * 28, 256)]  # (N, H*W, C)


def global_pooling(args):
    """Global average / max pooling under each ISA and PyTorch, one row per pass and shape."""
    import time

    import numpy as np
    import torch

    import grebe
    from grebe import _C
    threads = args.threads or 1
    grebe.set_num_threads(threads)
    torch.set_num_threads(threads)
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"global pooling, {threads} thread(s), median of {args.repeats or 7}"
          f"{', process CPU time' if args.cpu_time else ''}; microseconds per call")
    rng = np.random.default_rng(0)
    cases, peers = {}, {}
    for N, S, C in GLOBAL_SHAPES:
        x = rng.standard_normal((N, S, C), dtype=np.float32)
        dy = rng.standard_normal((N, C), dtype=np.float32)
        am = _C.global_max_pool_forward(x)[1]
        xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
        tag = f"{N}x{S}x{C}"
        cases[f"avg fwd {tag}"] = lambda x=x: _C.global_avg_pool_forward(x)
        cases[f"avg bwd {tag}"] = lambda dy=dy, S=S: _C.global_avg_pool_backward(dy, S)
        cases[f"max fwd {tag}"] = lambda x=x: _C.global_max_pool_forward(x)
        cases[f"max bwd {tag}"] = lambda dy=dy, am=am, S=S: _C.global_max_pool_backward(dy, am, S)
        peers[f"avg fwd {tag}"] = {"torch": lambda xt=xt: xt.mean(1)}
        peers[f"avg bwd {tag}"] = {"torch": lambda d=dyt, S=S: (d[:, None, :] / S).expand(
            -1, S, -1).contiguous()}
        peers[f"max fwd {tag}"] = {"torch": lambda xt=xt: xt.max(1)}
    per_isa_table(_C, cases, peers, args.repeats or 7, 0.05, clock)


def main():
    args = parse_args()
    if args.global_:
        return global_pooling(args)
    import numpy as np

    import grebe
    from grebe import _C, ops

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    repeats = args.repeats or (3 if args.quick else 7)
    budget = 0.02 if args.quick else 0.05
    cases = [c for c in CASES if c[2] == "max"] if args.quick else CASES
    rng = np.random.default_rng(0)
    rows = []
    print(f"pooling, ms (median of {repeats}), {threads} thread(s), isa={_C.active_isa()}; "
          f"ratio = torch / grebe")
    print(f"{'case':>20} {'pass':>4} {'grebe':>7} {'api':>7} {'copy':>7} {'torch':>7} "
          f"{'torch_cl':>8} {'xtorch':>7} {'xtorch_cl':>9}")
    for what, shape, mode in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        pool, padding = (2, 2), "valid"
        if mode == "max":
            y, am = _C.max_pool2d_forward(x, pool, pool, padding)
            fwd = lambda: _C.max_pool2d_forward(x, pool, pool, padding)  # noqa: E731
        else:
            y = _C.avg_pool2d_forward(x, pool, pool, padding)
            fwd = lambda: _C.avg_pool2d_forward(x, pool, pool, padding)  # noqa: E731
        dy = rng.standard_normal(y.shape).astype(np.float32)
        if mode == "max":
            bwd = lambda: _C.max_pool2d_backward(dy, am, shape, pool, pool, padding)  # noqa
        else:
            bwd = lambda: _C.avg_pool2d_backward(dy, shape, pool, pool, padding)  # noqa: E731
        op = ops.max_pool2d if mode == "max" else ops.avg_pool2d
        xg = grebe.tensor(x, requires_grad=True)

        def api_fwd():
            return op(xg, pool)

        node = op(xg, pool)._ctx  # the autograd node; its backward is what a step runs

        def api_bwd():
            return type(node).backward(node, dy)

        passes = {"fwd": {"grebe": fwd, "api": api_fwd, "copy": x.copy},
                  "bwd": {"grebe": bwd, "api": api_bwd, "copy": x.copy}}
        if torch is not None:
            xt_cl = torch.from_numpy(x).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
            xt = xt_cl.contiguous()
            if mode == "max":
                yt, it = F.max_pool2d_with_indices(xt, 2)
                yt_cl, it_cl = F.max_pool2d_with_indices(xt_cl, 2)
                dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous()
                dyt_cl = torch.from_numpy(dy).permute(0, 3, 1, 2)
                back = torch.ops.aten.max_pool2d_with_indices_backward
                passes["fwd"]["torch"] = lambda: F.max_pool2d_with_indices(xt, 2)
                passes["fwd"]["torch_cl"] = lambda: F.max_pool2d_with_indices(xt_cl, 2)
                passes["bwd"]["torch"] = lambda: back(dyt, xt, [2, 2], [2, 2], [0, 0], [1, 1],
                                                      False, it)
                passes["bwd"]["torch_cl"] = lambda: back(dyt_cl, xt_cl, [2, 2], [2, 2], [0, 0],
                                                         [1, 1], False, it_cl)
                got = _C.max_pool2d_backward(dy, am, shape, pool, pool, padding)
                ref = back(dyt, xt, [2, 2], [2, 2], [0, 0], [1, 1], False, it)
            else:
                dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous()
                dyt_cl = torch.from_numpy(dy).permute(0, 3, 1, 2)
                back = torch.ops.aten.avg_pool2d_backward
                passes["fwd"]["torch"] = lambda: F.avg_pool2d(xt, 2)
                passes["fwd"]["torch_cl"] = lambda: F.avg_pool2d(xt_cl, 2)
                passes["bwd"]["torch"] = lambda: back(dyt, xt, [2, 2], [2, 2], [0, 0], False,
                                                      True, None)
                passes["bwd"]["torch_cl"] = lambda: back(dyt_cl, xt_cl, [2, 2], [2, 2], [0, 0],
                                                         False, True, None)
                got = _C.avg_pool2d_backward(dy, shape, pool, pool, padding)
                ref = back(dyt, xt, [2, 2], [2, 2], [0, 0], False, True, None)
            assert np.allclose(got, ref.permute(0, 2, 3, 1).numpy(), atol=1e-6), \
                f"grebe's {mode} pool backward differs from torch at {shape}"
        for pname, fns in passes.items():
            times = interleaved_times(fns, repeats, budget, args.settle)
            ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}

            def ratio(other):
                if other not in times:
                    return None
                return round(float(np.median(np.array(times[other]) /
                                             np.array(times["grebe"]))), 2)

            row = {"case": what, "shape": list(shape), "pass": pname, "threads": threads,
                   **{f"{k}_ms": round(v, 4) for k, v in ms.items()},
                   "torch_over_grebe": ratio("torch"),
                   "torch_cl_over_grebe": ratio("torch_cl")}
            rows.append(row)

            def cell(k, w):
                return f"{ms[k]:{w}.3f}" if k in ms else f"{'-':>{w}}"

            def rcell(v, w):
                return f"{v:{w}.2f}" if v is not None else f"{'-':>{w}}"

            print(f"{what:>20} {pname:>4} {cell('grebe', 7)} {cell('api', 7)} {cell('copy', 7)}"
                  f" {cell('torch', 7)} {cell('torch_cl', 8)} "
                  f"{rcell(row['torch_over_grebe'], 7)} {rcell(row['torch_cl_over_grebe'], 9)}",
                  flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    meta = {"threads": threads, "isa": _C.active_isa(), "repeats": repeats,
            "numpy": np.__version__, "torch": torch.__version__ if torch else None,
            "python": sys.version.split()[0]}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
