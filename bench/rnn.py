"""LSTM and GRU (32 -> 128 units, 50 timesteps) + Dense(10): grebe vs PyTorch in one process.

    PYTHONPATH=python python bench/rnn.py [--threads 2] [--repeats 30] [--batches 64,8,1]

For each cell and batch size: the training step (forward + softmax cross-entropy + backward +
Adam update) and the inference forward, medians of interleaved repeats, the ratio
PyTorch / grebe (> 1: grebe is faster) and grebe's fraction of this machine's FP32 FMA peak
(measured: _C.fma_peak_gflops via bench/_peak.py). A training step counts 3x the
forward FLOPs (input-gradient GEMM excluded: the RNN is the first layer): LSTM about 1.57 GFLOP
at batch 64, GRU about 1.18. Targets at batch 64: LSTM training >= 1.5x PyTorch and inference
>= 1.2x, GRU training >= 3x. Writes bench/results/rnn.json. Works from a plain `pip install .`
(run it from anywhere) or in-tree with PYTHONPATH=python.

On a shared machine, check the load first: each fused pass meets a barrier per timestep, and a
partner thread descheduled by another process stalls every one of them (PyTorch's per-step
parallel regions suffer the same way); the minimums are printed beside the medians.
"""
from __future__ import annotations

import argparse
import json
import os
import time

F, U, T, CLASSES = 32, 128, 50, 10
GATES = {"lstm": 4, "gru": 3}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: cores)")
    p.add_argument("--repeats", type=int, default=30, help="timed repeats (median)")
    p.add_argument("--batches", default="64,8,1", help="batch sizes, comma-separated")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: time.process_time (CPU seconds of this process, all threads): "
                        "for a machine loaded by others, with --threads 1")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "rnn.json"))
    return p.parse_args()


def forward_flops(cell: str, B: int) -> float:
    return 2.0 * B * T * GATES[cell] * U * (F + U) + 2.0 * B * U * CLASSES


def grebe_model(cell: str, seed: int = 0):
    import grebe
    from grebe import layers

    grebe.random.seed(seed)
    rnn = layers.LSTM(U) if cell == "lstm" else layers.GRU(U)
    dense = layers.Dense(CLASSES)
    opt = grebe.optimizers.Adam(learning_rate=1e-3)

    def forward(x):
        with grebe.no_grad():
            return dense(rnn(x))

    def step(x, y):
        logits = dense(rnn(x))
        loss = grebe.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).mean()
        weights = rnn.trainable_weights + dense.trainable_weights
        opt.zero_grad(weights)
        loss.backward()
        opt.step(weights)
        return loss

    return forward, step


def torch_model(cell: str, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(F, U, batch_first=True)
    dense = torch.nn.Linear(U, CLASSES)
    params = list(rnn.parameters()) + list(dense.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def forward(x):
        with torch.no_grad():
            out, _ = rnn(x)
            return dense(out[:, -1])

    def step(x, y):
        out, _ = rnn(x)
        loss = loss_fn(dense(out[:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return forward, step


CLOCK = time.perf_counter


def median_ms(fns, repeats: int):
    """Times each fn `repeats` times, interleaved (so both see the same machine): (medians,
    minimums) in ms."""
    import numpy as np

    for f in fns:  # warm up: allocations, thread pools, packed buffers
        for _ in range(3):
            f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = CLOCK()
            f()
            times[i].append(CLOCK() - t0)
    return ([float(np.median(t)) * 1e3 for t in times], [float(np.min(t)) * 1e3 for t in times])


def main():
    global CLOCK
    args = parse_args()
    import numpy as np
    import torch

    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import grebe

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    torch.set_num_threads(threads)
    from _peak import peak_gflops

    peak, peak_line = peak_gflops(grebe._C.active_isa(), threads)
    rng = np.random.default_rng(0)
    rows = []
    print(f"grebe {grebe.__version__} ({grebe._C.active_isa()}), torch {torch.__version__}, "
          f"{threads} threads, {args.clock} clock; {F}->{U} units, T={T}, + Dense({CLASSES})\n{peak_line}")
    print(f"{'cell':5s} {'batch':>5s} {'what':6s} {'grebe ms':>9s} {'torch ms':>9s} "
          f"{'torch/grebe':>11s} {'grebe GFLOP/s':>13s} {'% peak':>7s}   (min: grebe, torch, "
          f"ratio)")
    for cell in args.cells.split(","):
        for B in (int(b) for b in args.batches.split(",")):
            x = rng.standard_normal((B, T, F)).astype(np.float32)
            y = rng.integers(0, CLASSES, B)
            gx, tx, ty = grebe.tensor(x), torch.tensor(x), torch.tensor(y)
            g_fwd, g_step = grebe_model(cell)
            t_fwd, t_step = torch_model(cell)
            for what, fns, flops in (
                    ("train", (lambda: g_step(gx, y), lambda: t_step(tx, ty)),
                     3 * forward_flops(cell, B)),
                    ("infer", (lambda: g_fwd(gx), lambda: t_fwd(tx)), forward_flops(cell, B))):
                (g_ms, t_ms), (g_min, t_min) = median_ms(fns, args.repeats)
                gflops = flops / g_ms / 1e6
                rows.append({"cell": cell, "batch": B, "what": what, "grebe_ms": g_ms,
                             "torch_ms": t_ms, "speedup": t_ms / g_ms, "gflops": gflops,
                             "peak_fraction": gflops / peak, "grebe_min_ms": g_min,
                             "torch_min_ms": t_min})
                print(f"{cell:5s} {B:5d} {what:6s} {g_ms:9.3f} {t_ms:9.3f} {t_ms / g_ms:10.2f}x "
                      f"{gflops:13.1f} {100 * gflops / peak:6.1f}%   ({g_min:.3f}, {t_min:.3f}, "
                      f"{t_min / g_min:.2f}x)", flush=True)
    targets = {("lstm", "train"): 1.5, ("lstm", "infer"): 1.2, ("gru", "train"): 3.0}
    for r in rows:
        key = (r["cell"], r["what"])
        if r["batch"] == 64 and key in targets:
            ok = "meets" if r["speedup"] >= targets[key] else "misses"
            print(f"{r['cell']} {r['what']} at batch 64: {r['speedup']:.2f}x PyTorch, {ok} the "
                  f"{targets[key]}x target")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": threads, "isa": grebe._C.active_isa(), "peak_gflops": peak,
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
