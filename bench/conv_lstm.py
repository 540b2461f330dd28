"""ConvLSTM2D: grebe against Keras 3 on its torch backend and a hand-written PyTorch ConvLSTM,
same weights, in one process.

    PYTHONPATH=python python bench/conv_lstm.py [--threads 1] [--repeats 5] [--clock cpu]

Shape: batch 8, 10 timesteps, 32x32x8 -> 16 filters, kernel 3, padding 'same',
return_sequences=True. Times the forward (inference, no graph) and forward + backward (the
gradient of sum(y * r) for the input and the three weights). grebe runs the input conv once for
all steps and one recurrent conv per step; Keras runs eight convs per step (four gates, input
and recurrent); the PyTorch peer is written the way grebe runs (one input conv for all steps,
one recurrent conv per step, NCHW, torch's own autograd). Prints medians of alternating repeats
and ratio = peer / grebe (> 1: grebe is faster). --clock cpu counts process CPU time (use it with 1 thread on a shared machine).
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


def torch_conv_lstm(kernel, recurrent_kernel, bias):
    """A PyTorch ConvLSTM2D ('same', stride 1, gates i, f, c, o) from Keras-layout weights."""
    import torch
    import torch.nn.functional as F

    wx = torch.tensor(kernel).permute(3, 2, 0, 1).contiguous().requires_grad_()
    wh = torch.tensor(recurrent_kernel).permute(3, 2, 0, 1).contiguous().requires_grad_()
    b = torch.tensor(bias).requires_grad_()

    def run(x):  # x (B, T, H, W, C) -> (B, T, H, W, filters)
        Bn, Tn = x.shape[:2]
        xs = x.reshape((Bn * Tn,) + tuple(x.shape[2:])).permute(0, 3, 1, 2)
        zx = F.conv2d(xs, wx, b, padding="same").reshape(Bn, Tn, -1, x.shape[2], x.shape[3])
        h = c = torch.zeros(Bn, FILTERS, x.shape[2], x.shape[3])
        outs = []
        for t in range(Tn):
            z = zx[:, t] + F.conv2d(h, wh, padding="same")
            i, f, g, o = torch.split(z, FILTERS, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1).permute(0, 1, 3, 4, 2)
    return run, [wx, wh, b]


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
    tl, t_params = torch_conv_lstm(*gl.get_weights())
    diff_t = np.abs(np.asarray(gl(x)) - tl(torch.tensor(x)).detach().numpy()).max()

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

    def torch_fwd():
        with torch.no_grad():
            tl(tx)

    def torch_train():
        for w in t_params:
            w.grad = None
        tx.grad = None
        (tl(tx) * tr).sum().backward()

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    res = median_times({"grebe_fwd": grebe_fwd, "keras_fwd": keras_fwd, "torch_fwd": torch_fwd,
                        "grebe_train": grebe_train, "keras_train": keras_train,
                        "torch_train": torch_train},
                       args.repeats, args.budget, 0.0, clock)
    print(f"ConvLSTM2D B={B} T={T} {H}x{W}x{C} -> {FILTERS} filters, k{K} 'same', "
          f"return_sequences; {args.threads} thread(s), {args.clock} time, medians of "
          f"{args.repeats}; max |grebe - keras| = {diff:.2e}, |grebe - torch| = {diff_t:.2e}")
    print(f"{'case':<18}{'grebe ms':>10}{'keras ms':>10}{'keras/grebe':>13}{'torch ms':>10}"
          f"{'torch/grebe':>13}")
    rows = {}
    for case in ("fwd", "train"):
        g, k, t = (res[f"{lib}_{case}"] * 1e3 for lib in ("grebe", "keras", "torch"))
        name = "forward" if case == "fwd" else "forward+backward"
        rows[name] = {"grebe_ms": g, "keras_torch_ms": k, "keras_ratio": k / g, "torch_ms": t,
                      "torch_ratio": t / g}
        print(f"{name:<18}{g:>10.1f}{k:>10.1f}{k / g:>13.2f}{t:>10.1f}{t / g:>13.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": args.threads, "clock": args.clock, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
