"""conv2d per layer of the seed CNN and ResNet-20: grebe vs PyTorch, one process, same data.

    PYTHONPATH=python python bench/conv.py [--batch 64] [--threads 2] [--repeats 7] [--quick]

For each conv layer of the seed CNN (conv1: 32x32x3 -> 30x30x32, conv2: 15x15x32 -> 13x13x64,
both 3x3 with a fused ReLU), ResNet-20's 3x3 'same' layers (16/32/64 channels, stride 1 and
the stride-2 downsampling ones, no bias, no fused ReLU), and each pass (forward; backward-data, the input gradient;
backward-weights, kernel and bias gradients), prints the median time, GFLOP/s, the fraction of
this machine's measured FP32 FMA peak (_C.fma_peak_gflops) and the ratio torch/grebe (> 1:
grebe faster).
grebe rows time the kernels through grebe._C (fresh outputs, as the ops use them); the
"op f+b" rows time the whole differentiable op (ops.conv2d + backward through autograd, input
gradient only where a real network needs it) against torch's relu(conv2d(...)) + backward; the
"+pool fused f+b" rows time ops.conv2d_relu_maxpool (conv, relu and the 2x2 max pooling of
the seed CNN in one op) against torch's max_pool2d(relu(conv2d(...))) + backward; their
GFLOP/s are effective ones (the unfused conv's FLOPs over the fused time: the fused op skips
the conv outputs that the pooling drops, row and column 12 of conv2's 13 x 13).
torch runs NCHW (its default, the layout of the 2370 img/s baseline) and channels_last
(NHWC, oneDNN); its per-pass backward is aten.convolution_backward with an output mask, without
the ReLU gradient (which grebe's backward includes). The last table is the breakdown of a seed
CNN training step's conv time, where it goes, and what the rest of the step has left.

Fairness: OpenMP pools spin after each region and steal the other library's cores; every timed
batch starts after a short idle pause (--settle), and libraries alternate within each repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from _timing import machine_peak, median_times  # bench/_timing.py

LAYERS = [  # name, H, W, C, K, R, S, stride, pad, needs the input gradient, seed CNN layer
    ("conv1", 32, 32, 3, 32, 3, 3, 1, 0, False, True),
    ("conv2", 15, 15, 32, 64, 3, 3, 1, 0, True, True),
    ("res16", 32, 32, 16, 16, 3, 3, 1, 1, True, False),
    ("res32s2", 32, 32, 16, 32, 3, 3, 2, 1, True, False),
    ("res32", 16, 16, 32, 32, 3, 3, 1, 1, True, False),
    ("res64s2", 16, 16, 32, 64, 3, 3, 2, 1, True, False),
    ("res64", 8, 8, 64, 64, 3, 3, 1, 1, True, False),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: cores)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--settle", type=float, default=0.05, help="idle seconds before each batch")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by process CPU seconds (a shared machine; use with --threads 1)")
    p.add_argument("--no-torch", action="store_true", help="grebe only")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "conv.json"))
    return p.parse_args()


def main():
    args = parse_args()
    import numpy as np

    import grebe
    from grebe import _C, ops

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None
    repeats = args.repeats or (3 if args.quick else 7)
    budget = 0.05 if args.quick else 0.15
    peak = machine_peak(threads)
    import time
    clock = time.process_time if args.cpu_time else time.perf_counter
    B = args.batch
    rng = np.random.default_rng(0)
    print(f"conv2d, batch {B}, {threads} thread(s), isa={_C.active_isa()}, median of {repeats}; "
          f"measured FMA peak {peak:.0f} GFLOP/s; ratio = torch time / grebe time" +
          ("; timed in process CPU seconds" if args.cpu_time else ""))
    head = (f"{'layer':6} {'pass':17} {'grebe ms':>9} {'GFLOP/s':>8} {'%peak':>6} "
            f"{'torch ms':>9} {'ratio':>6} {'torch-cl ms':>12} {'ratio':>6}")
    print(head)
    rows = []
    # (bias gradient only for the seed layers; ResNet's convs have no bias)
    one = (1, 1)
    for name, H, W, C, K, R, S, stride, pad, need_dx, seed in LAYERS:
        st, pads = (stride, stride), (pad, pad, pad, pad)
        P, Q = (H + 2 * pad - R) // stride + 1, (W + 2 * pad - S) // stride + 1
        flops = 2.0 * B * P * Q * K * R * S * C
        x = rng.standard_normal((B, H, W, C)).astype(np.float32)
        w = (rng.standard_normal((R, S, C, K)) * 0.2).astype(np.float32)
        b = (rng.standard_normal(K) * 0.1).astype(np.float32) if seed else None
        relu = seed  # the seed CNN fuses relu; ResNet's convs feed batch norm
        y = _C.conv2d_forward(x, w, b, st, pads, one, relu)
        ym = y if relu else None
        dy = rng.standard_normal(y.shape).astype(np.float32)
        g = {
            "forward": lambda: _C.conv2d_forward(x, w, b, st, pads, one, relu),
            "backward-data": lambda: _C.conv2d_backward_data(dy, w, ym, (H, W), st, pads, one),
            "backward-weights": lambda: _C.conv2d_backward_weights(x, dy, ym, (R, S), st, pads,
                                                                   one, seed),
            # What a training step runs: both gradients in one call (dy masked once), dx only
            # where the network needs it.
            "backward": lambda: _C.conv2d_backward(dy, x, w, ym, st, pads, one, need_dx, True,
                                                   seed),
        }
        xg = grebe.tensor(x, requires_grad=need_dx)
        wg, bg = grebe.tensor(w, requires_grad=True), grebe.tensor(b, requires_grad=True)

        def grebe_op():
            out = ops.conv2d(xg, wg, bg, activation="relu")
            wg.grad = bg.grad = xg.grad = None
            out.backward(dy)
        if seed:
            g["op f+b"] = grebe_op
            yp = ops.conv2d_relu_maxpool(x, w, b).numpy()
            dyp = rng.standard_normal(yp.shape).astype(np.float32)

            def grebe_fused_op():
                out = ops.conv2d_relu_maxpool(xg, wg, bg)
                wg.grad = bg.grad = xg.grad = None
                out.backward(dyp)
            g["+pool fused f+b"] = grebe_fused_op
        fns = {("grebe", k): f for k, f in g.items()}
        if torch is not None:
            F = torch.nn.functional
            conv_bwd = torch.ops.aten.convolution_backward
            for layout in ("nchw", "cl"):
                xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
                wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous()
                bt = torch.tensor(b) if seed else None
                dyt = torch.tensor(dy).permute(0, 3, 1, 2).contiguous()
                if layout == "cl":
                    mf = torch.channels_last
                    xt, wt, dyt = (t.contiguous(memory_format=mf) for t in (xt, wt, dyt))

                def t_fwd(xt=xt, wt=wt, bt=bt, st=st, pad=pad, relu=relu):
                    with torch.no_grad():
                        out = F.conv2d(xt, wt, bt, stride=st, padding=pad)
                        return F.relu(out) if relu else out

                def t_bwd(mask, xt=xt, wt=wt, dyt=dyt, st=st, pad=pad, K=K, seed=seed):
                    return conv_bwd(dyt, xt, wt, [K] if seed else None, list(st), [pad, pad],
                                    [1, 1], False, [0, 0], 1, mask)
                fns[(layout, "forward")] = t_fwd
                fns[(layout, "backward-data")] = lambda f=t_bwd: f([True, False, False])
                fns[(layout, "backward-weights")] = lambda f=t_bwd, s=seed: f([False, True, s])
                fns[(layout, "backward")] = lambda f=t_bwd, d=need_dx, s=seed: f([d, True, s])
                if not seed:
                    continue
                xr = xt.detach().clone().requires_grad_(need_dx)
                wr = wt.detach().clone().requires_grad_(True)
                br = bt.detach().clone().requires_grad_(True)

                def t_op(xr=xr, wr=wr, br=br, dyt=dyt):
                    out = F.relu(F.conv2d(xr, wr, br))
                    wr.grad = br.grad = xr.grad = None
                    out.backward(dyt)
                fns[(layout, "op f+b")] = t_op
                dypt = torch.tensor(dyp).permute(0, 3, 1, 2).contiguous()
                if layout == "cl":
                    dypt = dypt.contiguous(memory_format=torch.channels_last)

                def t_pool_op(xr=xr, wr=wr, br=br, dypt=dypt):
                    out = F.max_pool2d(F.relu(F.conv2d(xr, wr, br)), 2)
                    wr.grad = br.grad = xr.grad = None
                    out.backward(dypt)
                fns[(layout, "+pool fused f+b")] = t_pool_op
        times = median_times(fns, repeats, budget, args.settle, clock)
        passes_run = ("forward", "backward-data", "backward-weights", "backward") + \
            (("op f+b", "+pool fused f+b") if seed else ())
        for pas in passes_run:
            tg = times[("grebe", pas)]
            passes = (3 if need_dx else 2) if "f+b" in pas else \
                (2 if need_dx else 1) if pas == "backward" else 1
            f = flops * passes
            row = {"layer": name, "pass": pas, "batch": B, "threads": threads,
                   "grebe_ms": tg * 1e3, "gflops": f / tg / 1e9, "pct_peak": f / tg / 1e9 / peak}
            line = (f"{name:6} {pas:17} {tg * 1e3:9.3f} {row['gflops']:8.1f} "
                    f"{100 * row['pct_peak']:5.0f}%")
            if torch is not None:
                tn, tc = times[("nchw", pas)], times[("cl", pas)]
                row.update(torch_nchw_ms=tn * 1e3, torch_cl_ms=tc * 1e3, ratio_nchw=tn / tg,
                           ratio_cl=tc / tg)
                line += f" {tn * 1e3:9.3f} {tn / tg:6.2f} {tc * 1e3:12.3f} {tc / tg:6.2f}"
            print(line + ("   (not needed for the first layer)"
                          if pas == "backward-data" and not need_dx else ""))
            rows.append(row)

    # Where a training step's conv time goes (the passes the seed CNN runs).
    def t(layer, pas):
        return next(r["grebe_ms"] for r in rows if r["layer"] == layer and r["pass"] == pas)
    used = [("conv1", "forward"), ("conv1", "backward"), ("conv2", "forward"),
            ("conv2", "backward")]
    total = sum(t(*u) for u in used)
    fused = t("conv1", "+pool fused f+b") + t("conv2", "+pool fused f+b")
    target = 13.5 * B / 64
    print(f"\nseed CNN training step at batch {B}, conv kernels ({target:.1f} ms is the whole "
          f"step's budget for 2x PyTorch):")
    for u in used:
        print(f"  {u[0]} {u[1]:17} {t(*u):7.3f} ms  {100 * t(*u) / total:5.1f}%")
    print(f"  total {total:.2f} ms (+ the two max-pooling passes, forward and backward, outside "
          f"this benchmark);\n  with conv+relu+pool fused (ops.conv2d_relu_maxpool, pooling "
          f"included, through autograd): {fused:.2f} ms")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"batch": B, "threads": threads, "isa": _C.active_isa(), "rows": rows}, f,
                  indent=1)


if __name__ == "__main__":
    sys.exit(main())
