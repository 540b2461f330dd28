"""ConvLSTM2D: grebe against Keras 3 on its torch backend, same weights, in one process.

    PYTHONPATH=python python bench/conv_lstm.py [--threads 1] [--repeats 5] [--clock cpu]

Shape: batch 8, 10 timesteps, 32x32x8 -> 16 filters, kernel 3, padding 'same',
return_sequences=True. Times the forward (inference, no graph) and forward + backward (the
gradient of sum(y * r) for the input and the three weights). grebe runs the input conv once for
all steps and one recurrent conv per step; Keras runs eight convs per step (four gates, input
and recurrent). Prints medians of alternating repeats and ratio = Keras / grebe (> 1: grebe is
faster). --clock cpu counts process CPU time (use it with 1 thread on a shared machine).
Writes bench/results/conv_lstm.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_times  # noqa: E402

B, T, H, W, C, FILTERS, K = 8, 10, 32, 32, 8, 16, 3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "conv_lstm.json"))
    return p.parse_args()


def main():
    args = parse_args()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np
    import torch

    import grebe

    grebe.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, H, W, C)).astype(np.float32)
    r = rng.normal(size=(B, T, H, W, FILTERS)).astype(np.float32)
    kl = keras.layers.ConvLSTM2D(FILTERS, K, padding="same", return_sequences=True)
    kl.build(x.shape)
    gl = grebe.layers.ConvLSTM2D(FILTERS, K, padding="same", return_sequences=True)
    gl.build(x.shape)
    gl.set_weights([np.asarray(w.value.detach()) for w in kl.weights])
    diff = np.abs(np.asarray(gl(x)) - kl(x).detach().numpy()).max()

    gx, tx, gr, tr = grebe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True), \
        grebe.tensor(r), torch.tensor(r)

    def grebe_fwd():
        with grebe.no_grad():
            gl(x)

    def keras_fwd():
        with torch.no_grad():
            kl(tx)

    def grebe_train():
        for w in gl.trainable_weights:
            w.grad = None
        gx.grad = None
        (gl(gx) * gr).sum().backward()

    def keras_train():
        for w in kl.trainable_weights:
            w.value.grad = None
        tx.grad = None
        (kl(tx) * tr).sum().backward()

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    res = median_times({"grebe_fwd": grebe_fwd, "keras_fwd": keras_fwd,
                        "grebe_train": grebe_train, "keras_train": keras_train},
                       args.repeats, args.budget, 0.0, clock)
    print(f"ConvLSTM2D B={B} T={T} {H}x{W}x{C} -> {FILTERS} filters, k{K} 'same', "
          f"return_sequences; {args.threads} thread(s), {args.clock} time, medians of "
          f"{args.repeats}; max |grebe - keras| = {diff:.2e}")
    print(f"{'case':<18}{'grebe ms':>10}{'keras ms':>10}{'keras/grebe':>13}")
    rows = {}
    for case in ("fwd", "train"):
        g, k = res[f"grebe_{case}"] * 1e3, res[f"keras_{case}"] * 1e3
        name = "forward" if case == "fwd" else "forward+backward"
        rows[name] = {"grebe_ms": g, "keras_torch_ms": k, "ratio": k / g}
        print(f"{name:<18}{g:>10.1f}{k:>10.1f}{k / g:>13.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": args.threads, "clock": args.clock, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
