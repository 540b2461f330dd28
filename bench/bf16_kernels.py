"""bf16 kernels vs their fp32 twins, in one process, same inputs: sbgemm (_C.sgemm_bf16) vs
sgemm at 64^2 ... 2048^2 and the model shapes of bench/gemm.py; the bf16 conv passes vs fp32 on
every conv layer of the seed CNN (fused conv + relu + 2x2 max pool, as Sequential runs it) and
of ResNet-20 (batch 64); and the measured bf16 peak (_C.bf16_peak_gflops, a register-only
vdpbf16ps loop) with the fraction of it each bf16 kernel reaches.

    PYTHONPATH=python python bench/bf16_kernels.py [--threads 1] [--quick] [--repeats 7]

Default: 1 thread timed by process CPU seconds (the machine is shared; --wall for wall time).
Prints medians and the ratio fp32 time / bf16 time (> 1: bf16 faster). Writes
bench/results/bf16_kernels.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from _timing import median_times  # bench/_timing.py
from gemm import SKINNY, SQUARES  # bench/gemm.py: the same shapes

SEED = [  # (name, x shape, kernel shape, strides, padding, pool, need_dx)
    ("seed conv1 3->32 +pool", (64, 32, 32, 3), (3, 3, 3, 32), (1, 1), (0, 0, 0, 0), True, False),
    ("seed conv2 32->64 +pool", (64, 15, 15, 32), (3, 3, 32, 64), (1, 1), (0, 0, 0, 0), True, True),
]
RESNET = [  # ResNet-20 CIFAR ('same' 3x3, TF padding for stride 2), batch 64
    ("resnet stem 3->16", (64, 32, 32, 3), (3, 3, 3, 16), (1, 1), (1, 1, 1, 1), False, False),
    ("resnet s1 16->16", (64, 32, 32, 16), (3, 3, 16, 16), (1, 1), (1, 1, 1, 1), False, True),
    ("resnet s2a 16->32 /2", (64, 32, 32, 16), (3, 3, 16, 32), (2, 2), (0, 1, 0, 1), False, True),
    ("resnet s2 32->32", (64, 16, 16, 32), (3, 3, 32, 32), (1, 1), (1, 1, 1, 1), False, True),
    ("resnet s3a 32->64 /2", (64, 16, 16, 32), (3, 3, 32, 64), (2, 2), (0, 1, 0, 1), False, True),
    ("resnet s3 64->64", (64, 8, 8, 64), (3, 3, 64, 64), (1, 1), (1, 1, 1, 1), False, True),
    ("resnet shortcut 1x1 /2", (64, 32, 32, 16), (1, 1, 16, 32), (2, 2), (0, 0, 0, 0), False, True),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "bf16_kernels.json"))
    return p.parse_args()


def conv_calls(_C, np, layer, sfx, rng):
    """(forward, backward) closures of one layer through the fp32 or bf16 bindings."""
    _, xs, ws, st, pd, pool, need_dx = layer
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
    b = np.zeros(ws[3], np.float32)
    if pool:
        fw = getattr(_C, "conv2d_relu_maxpool_forward" + sfx)
        bw = getattr(_C, "conv2d_relu_maxpool_backward" + sfx)
        y, am = fw(x, w, b, st, pd, (1, 1), (2, 2))
        dy = rng.standard_normal(y.shape).astype(np.float32)
        return (lambda: fw(x, w, b, st, pd, (1, 1), (2, 2)),
                lambda: bw(dy, am, y, x, w, st, pd, (1, 1), (2, 2), need_dx, True, True))
    fw, bw = getattr(_C, "conv2d_forward" + sfx), getattr(_C, "conv2d_backward" + sfx)
    y = fw(x, w, b, st, pd, (1, 1), True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return (lambda: fw(x, w, b, st, pd, (1, 1), True),
            lambda: bw(dy, x, w, y, st, pd, (1, 1), need_dx, True, True))


def conv_flops(layer, _C):
    _, xs, ws, st, pd, pool, need_dx = layer
    P = _C.conv2d_output_size(xs[1], ws[0], st[0], 1, pd[0], pd[1])
    Q = _C.conv2d_output_size(xs[2], ws[1], st[1], 1, pd[2], pd[3])
    if pool:  # the fused op computes only the pooled region
        P, Q = P // 2 * 2, Q // 2 * 2
    fwd = 2.0 * xs[0] * P * Q * ws[0] * ws[1] * ws[2] * ws[3]
    return fwd, fwd * (2 if need_dx else 1)


def lstm_rows(_C, np, rng, repeats, budget, clock):
    """LSTM 32->128, T=50, batch 64 (bench/bf16.py's): forward and backward, fp32 vs bf16; the
    backward also as the fp32 binding on pre-rounded operands (the bf16 backward before its
    weight gradients moved to sbgemm)."""
    B, T, F, U = 64, 50, 32, 128
    f32 = lambda *s, sc=1.0: (rng.standard_normal(s) * sc).astype(np.float32)  # noqa: E731
    kw = dict(x=f32(B, T, F), kernel=f32(F, 4 * U, sc=0.1), recurrent_kernel=f32(U, 4 * U, sc=0.1),
              bias=f32(4 * U, sc=0.1))
    kwr = {k: _C.round_bf16(v) if k != "bias" else v for k, v in kw.items()}
    dy = f32(B, T, U)
    s32 = _C.lstm_forward(**kw, training=True)[3]
    s16 = _C.lstm_forward_bf16(**kw, training=True)[3]
    t = median_times({"fwd32": lambda: _C.lstm_forward(**kw, training=True),
                      "fwd16": lambda: _C.lstm_forward_bf16(**kw, training=True),
                      "bwd32": lambda: _C.lstm_backward(**kw, saved=s32, dy=dy),
                 "bwd32r": lambda: _C.lstm_backward(**kwr, saved=s16, dy=dy),
                      "bwd16": lambda: _C.lstm_backward_bf16(**kw, saved=s16, dy=dy)},
                repeats, budget, 0.0, clock)
    print(f"\nLSTM 32->128 T=50 b64  forward fp32 {1e3 * t['fwd32']:.2f} ms, bf16 "
          f"{1e3 * t['fwd16']:.2f} ({t['fwd32'] / t['fwd16']:.2f}x); backward fp32 "
          f"{1e3 * t['bwd32']:.2f} ms, fp32 pass on rounded operands {1e3 * t['bwd32r']:.2f}, "
          f"bf16 {1e3 * t['bwd16']:.2f} ({t['bwd32'] / t['bwd16']:.2f}x fp32, "
          f"{t['bwd32r'] / t['bwd16']:.2f}x the rounded fp32 pass)")
    return {k: 1e3 * v for k, v in t.items()}


def main():
    args = parse_args()
    import numpy as np

    import grebe
    from grebe import _C

    grebe.set_num_threads(args.threads)
    clock = time.perf_counter if args.wall else time.process_time
    repeats = args.repeats or (3 if args.quick else 7)
    budget = 0.03 if args.quick else 0.08
    peak16 = _C.bf16_peak_gflops(args.threads)
    peak32 = _C.fma_peak_gflops(args.threads)
    print(f"grebe {grebe.__version__}, ISA {_C.active_isa()}, has_bf16={_C.has_bf16()}, "
          f"{args.threads} thread(s), {'wall' if args.wall else 'CPU'} time, medians of {repeats}")
    print(f"measured peak: bf16 (vdpbf16ps) {peak16:.0f} GFLOP/s, fp32 FMA {peak32:.0f} GFLOP/s")
    if not _C.has_bf16():
        print("no AVX512-BF16 here: the bf16 kernels run the portable path (operands rounded, "
              "fp32 kernels); the % column is of the fp32 peak")
        peak16 = peak32
    rng = np.random.default_rng(0)
    out = {"threads": args.threads, "bf16_peak_gflops": peak16, "fp32_peak_gflops": peak32,
           "gemm": [], "conv": []}

    print(f"\n{'GEMM':24s} {'sgemm GF/s':>11s} {'sbgemm GF/s':>12s} {'ratio':>6s} "
          f"{'% bf16 peak':>11s}")
    shapes = [(n, n, n, f"{n}^2") for n in SQUARES] + list(SKINNY)
    if args.quick:
        shapes = [s for s in shapes if s[0] * s[1] * s[2] <= 1024 ** 3]
    for m, n, k, what in shapes:
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        c = np.empty((m, n), np.float32)
        t = median_times({"f32": lambda: _C.sgemm(a, b, c=c),
                          "b16": lambda: _C.sgemm_bf16(a, b, c=c)}, repeats, budget, 0.0, clock)
        fl = 2.0 * m * n * k
        g32, g16 = fl / t["f32"] / 1e9, fl / t["b16"] / 1e9
        print(f"{what + f' {m}x{n}x{k}':24s} {g32:11.1f} {g16:12.1f} {t['f32'] / t['b16']:6.2f} "
              f"{100 * g16 / peak16:10.0f}%")
        out["gemm"].append({"shape": [m, n, k], "what": what, "sgemm_gflops": g32,
                            "sbgemm_gflops": g16})

    print(f"\n{'conv layer (batch 64)':26s} {'pass':5s} {'fp32 ms':>8s} {'bf16 ms':>8s} "
          f"{'ratio':>6s} {'bf16 GF/s':>9s} {'% bf16 peak':>11s}")
    for layer in SEED + RESNET:
        f32 = conv_calls(_C, np, layer, "", rng)
        b16 = conv_calls(_C, np, layer, "_bf16", rng)
        fl = conv_flops(layer, _C)
        row = {"layer": layer[0]}
        for i, pas in enumerate(("fwd", "bwd")):
            t = median_times({"f32": f32[i], "b16": b16[i]}, repeats, budget, 0.0, clock)
            g16 = fl[i] / t["b16"] / 1e9
            print(f"{layer[0]:26s} {pas:5s} {1e3 * t['f32']:8.2f} {1e3 * t['b16']:8.2f} "
                  f"{t['f32'] / t['b16']:6.2f} {g16:9.1f} {100 * g16 / peak16:10.0f}%")
            row[pas] = {"fp32_ms": 1e3 * t["f32"], "bf16_ms": 1e3 * t["b16"], "bf16_gflops": g16}
        out["conv"].append(row)
    out["lstm"] = lstm_rows(_C, np, rng, repeats, budget, clock)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
