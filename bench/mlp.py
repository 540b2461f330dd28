"""MLP 784-128-10 (ReLU), batch 32, SGD lr 0.01: training steps of grebe vs PyTorch in one
process, same data, same threads. A step is forward, loss (sparse softmax cross-entropy on
logits), backward and the optimizer update (grebe: optimizer.step() + zero_grad()).

    python bench/mlp.py [--threads 2] [--steps 2000] [--rounds 5]

(the installed grebe; PYTHONPATH=python for an in-tree build).

Prints the median us/step of each (over rounds that interleave the two libraries, so both see
the same machine load), the ratio torch/grebe, grebe's step broken into phases, and the Python
overhead of single ops (a tiny add, a tiny matmul, a bare pybind11 call) in us. Writes
bench/results/mlp.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: cores)")
    p.add_argument("--steps", type=int, default=2000, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: time.process_time (CPU seconds of this process): for a machine "
                        "loaded by others, with --threads 1")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "mlp.json"))
    return p.parse_args()


def make_data(batch, n_batches=64, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch, 784)).astype(np.float32) for _ in range(n_batches)]
    ys = [rng.integers(0, 10, batch).astype(np.int64) for _ in range(n_batches)]
    return xs, ys


def grebe_setup():
    import grebe
    from grebe import layers, losses, optimizers

    grebe.utils.set_random_seed(0)
    l1, l2 = layers.Dense(128, activation="relu"), layers.Dense(10)
    l2(l1(grebe.tensor(np.zeros((1, 784), np.float32))))
    weights = l1.trainable_weights + l2.trainable_weights
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = optimizers.SGD(learning_rate=0.01)
    opt.build(weights)
    tensor = grebe.tensor

    def step(x, y):
        loss = loss_fn(y, l2(l1(tensor(x))))
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    def phases(x, y):
        t0 = time.perf_counter()
        logits = l2(l1(tensor(x)))
        t1 = time.perf_counter()
        loss = loss_fn(y, logits)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        opt.zero_grad()
        t4 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3

    return step, phases


def torch_setup(threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


CLOCK = time.perf_counter


def time_steps(step, xs, ys, n):
    """Seconds per step of n steps; with the cpu clock, steps are timed in groups of 20 (the
    process clock ticks too coarsely for one step) and each group's mean is repeated."""
    times = []
    k = len(xs)
    group = 20 if CLOCK is time.process_time else 1
    for i in range(0, n, group):
        t = CLOCK()
        for j in range(i, min(n, i + group)):
            step(xs[j % k], ys[j % k])
        times += [(CLOCK() - t) / group] * group
    return times


def per_call(fn, n=20000):
    """Median over 5 repeats of the mean time of one call, in us."""
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(out)


def overheads():
    import grebe
    from grebe import _C

    res = {}
    a = grebe.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    b = grebe.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    an = np.ones((2, 2), np.float32)
    res["grebe add 2x2 (grad)"] = per_call(lambda: a + b)
    res["grebe matmul 2x2 (grad)"] = per_call(lambda: a @ b)
    with grebe.no_grad():
        res["grebe add 2x2 (no_grad)"] = per_call(lambda: a + b)
    res["numpy add 2x2"] = per_call(lambda: an + an)
    res["bare pybind11 call"] = per_call(_C.num_threads)
    try:
        import torch

        ta = torch.ones((2, 2), requires_grad=True)
        tb = torch.ones((2, 2), requires_grad=True)
        res["torch add 2x2 (grad)"] = per_call(lambda: ta + tb)
        res["torch matmul 2x2 (grad)"] = per_call(lambda: ta @ tb)
    except ImportError:
        pass
    return res


def main():
    global CLOCK
    args = parse_args()
    import grebe

    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    xs, ys = make_data(args.batch)
    g_step, g_phases = grebe_setup()
    results = {"threads": threads, "batch": args.batch, "steps": args.steps,
               "rounds": args.rounds}
    try:
        import torch

        t_step = torch_setup(threads)
        txs = [torch.from_numpy(x) for x in xs]
        tys = [torch.from_numpy(y) for y in ys]
    except ImportError:
        t_step = None
    # warm up both (first-touch pages, thread pools, lazy imports)
    time_steps(g_step, xs, ys, 200)
    if t_step:
        time_steps(t_step, txs, tys, 200)
    g_rounds, t_rounds = [], []
    for _ in range(args.rounds):
        g_rounds.append(statistics.median(time_steps(g_step, xs, ys, args.steps)) * 1e6)
        if t_step:
            t_rounds.append(statistics.median(time_steps(t_step, txs, tys, args.steps)) * 1e6)
    g_med = statistics.median(g_rounds)
    from _peak import peak_gflops

    peak, peak_line = peak_gflops(grebe._C.active_isa(), threads)
    flops = 3 * 2 * args.batch * (784 * 128 + 128 * 10)  # forward + the two backward GEMMs
    print(f"MLP 784-128-10 relu, batch {args.batch}, SGD lr 0.01, {threads} threads, "
          f"{args.rounds} rounds x {args.steps} steps (median us/step, {args.clock} clock), grebe "
          f"{grebe._C.active_isa()}\n{peak_line}")
    print(f"  grebe  {g_med:8.1f} us/step   rounds: " + " ".join(f"{r:.0f}" for r in g_rounds))
    print(f"  grebe at {flops / g_med / 1e3:.1f} GFLOP/s = {100 * flops / g_med / 1e3 / peak:.1f}%"
          f" of peak (the step is {flops / 1e6:.1f} MFLOP)")
    results.update(grebe_us_per_step=g_med, peak_gflops=peak, isa=grebe._C.active_isa())
    if t_step:
        t_med = statistics.median(t_rounds)
        ratios = [t / g for t, g in zip(t_rounds, g_rounds)]
        print(f"  torch  {t_med:8.1f} us/step   rounds: " + " ".join(f"{r:.0f}" for r in t_rounds))
        print(f"  torch / grebe = {statistics.median(ratios):.2f}x  (target >= 3x)")
        results.update(torch_us_per_step=t_med, ratio=statistics.median(ratios))
    ph = [g_phases(xs[i % len(xs)], ys[i % len(ys)]) for i in range(args.steps)]
    names = ["forward (2 Dense)", "loss", "backward", "optimizer step + zero_grad"]
    print("  grebe step by phase (median us):")
    results["grebe_phases_us"] = {}
    for i, name in enumerate(names):
        v = statistics.median(p[i] for p in ph) * 1e6
        results["grebe_phases_us"][name] = v
        print(f"    {name:28s} {v:7.1f}")
    print("  Python overhead per op (us):")
    results["overhead_us"] = overheads()
    for k, v in results["overhead_us"].items():
        print(f"    {k:28s} {v:7.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
