"""RNN(cell) against the fused layers: LSTM(U) vs RNN(LSTMCell(U)) (and GRU), both through the
whole-sequence native kernels, beside a user-defined cell with the same math run by the Python
time loop, and PyTorch's nn.LSTM/nn.GRU, in one process.

    PYTHONPATH=python python bench/rnn_cell.py [--threads 2] [--repeats 10] [--batch 64]

Shape: 32 -> 128 units, 50 timesteps, + Dense(10); the training step is forward + softmax
cross-entropy + backward + Adam. Prints medians of interleaved repeats and the ratios to LSTM(U)
(1.0: as fast as the fused layer). Writes bench/results/rnn_cell.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_times  # noqa: E402

F, U, T, CLASSES = 32, 128, 50, 10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "rnn_cell.json"))
    return p.parse_args()


def grebe_step(make_rnn, x, y):
    import grebe
    from grebe import layers

    grebe.random.seed(0)
    rnn, dense = make_rnn(), layers.Dense(CLASSES)
    opt = grebe.optimizers.Adam(learning_rate=1e-3)

    def step():
        logits = dense(rnn(x))
        loss = grebe.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).mean()
        weights = rnn.trainable_weights + dense.trainable_weights
        opt.zero_grad(weights)
        loss.backward()
        opt.apply([w.grad for w in weights], weights)
    return step


def torch_step(cell, x, y):
    import torch

    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(F, U, batch_first=True)
    dense = torch.nn.Linear(U, CLASSES)
    params = list(rnn.parameters()) + list(dense.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        out, _ = rnn(xt)
        loss = torch.nn.functional.cross_entropy(dense(out[:, -1]), yt)
        loss.backward()
        opt.step()
    return step


def main():
    args = parse_args()
    import numpy as np
    import torch

    import grebe
    from grebe import layers

    if args.threads:
        grebe.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, T, F)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.batch)

    class LoopLSTMCell(layers.LSTMCell):  # same math, but a subclass: the Python time loop
        def call(self, inputs, states, training=None):
            return super().call(inputs, states, training=training)

    fns = {
        "LSTM(U)": grebe_step(lambda: layers.LSTM(U), x, y),
        "RNN(LSTMCell(U))": grebe_step(lambda: layers.RNN(layers.LSTMCell(U)), x, y),
        "RNN(user cell), Python loop": grebe_step(lambda: layers.RNN(LoopLSTMCell(U)), x, y),
        "torch nn.LSTM": torch_step("lstm", x, y),
        "GRU(U)": grebe_step(lambda: layers.GRU(U), x, y),
        "RNN(GRUCell(U))": grebe_step(lambda: layers.RNN(layers.GRUCell(U)), x, y),
        "torch nn.GRU": torch_step("gru", x, y),
    }
    times = median_times(fns, args.repeats, budget=0.3, settle=0.05)
    results = {}
    for name, sec in times.items():
        base = times["GRU(U)"] if "GRU" in name else times["LSTM(U)"]
        results[name] = {"ms": sec * 1e3, "time_vs_fused_layer": sec / base}
        print(f"{name:30s} {sec * 1e3:8.2f} ms/step   {sec / base:5.2f}x the fused layer's time")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"batch": args.batch, "threads": grebe.get_num_threads(),
                   "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
