"""The seed CNN end to end: grebe vs PyTorch (and TensorFlow when installed), one process.

    PYTHONPATH=python python bench/cnn.py [--batch 64 [32 256 ...]] [--threads 2] [--repeats 7]

Model (DESIGN.md section 2): Conv2D(32, 3x3, relu) on 32x32x3 -> MaxPooling 2 -> Conv2D(64, 3x3,
relu) -> MaxPooling 2 -> Flatten -> Dense(128, relu) -> Dense(10, softmax), categorical
cross-entropy, Adam. For each batch size prints the median training throughput (images/s of
forward + loss + backward + optimizer step) and inference throughput (forward only, no graph),
the ratio grebe/peer (> 1: grebe faster), the fraction of this machine's measured FP32 FMA peak
(_C.fma_peak_gflops; 8.38 MFLOP per image forward, 23.6 per training step), and thread scaling
(2 vs 1 thread). TensorFlow runs as Keras 3 (tf.keras), printed "not installed" when absent.

grebe rows: "loop" is the PyTorch-style step (model(x), loss, backward, optimizer.apply) on the
Sequential model; "train_on_batch"/"predict_on_batch" the Keras API on it; "functional
train_on_batch" the same layers written with grebe.Input ... grebe.Model(i, o), which must run
at the Sequential's speed (both fuse each relu Conv2D + MaxPooling2D: grebe.layers.fusion).
PyTorch runs the same architecture NCHW (its default, and the layout of the 2370 img/s figure
in DESIGN.md) with nn.CrossEntropyLoss on logits (= softmax + categorical cross-entropy) and
torch.optim.Adam; torch.set_num_threads is set to grebe's thread count.
"""
from __future__ import annotations

import argparse
import sys

from _timing import machine_peak, median_times  # bench/_timing.py

FWD_MFLOP, TRAIN_MFLOP = 8.38, 23.6  # per image (PERF_NOTES.md)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[64, 32, 256])
    p.add_argument("--threads", type=int, default=None, help="threads (default: cores)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--quick", action="store_true", help="fewer repeats, no thread scaling")
    p.add_argument("--settle", type=float, default=0.05, help="idle seconds before each batch")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by process CPU seconds (a shared machine; use with --threads 1)")
    p.add_argument("--no-scaling", action="store_true", help="skip the 1-thread runs")
    return p.parse_args()


# ---- grebe ---------------------------------------------------------------------------------

def _seed_layers(L):
    return [
        L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
    ]


def grebe_model(batch: int):
    """({variant: (train_step, infer)}, notes) for the seed CNN in grebe: the same layers as a
    Sequential and as a functional model (each runs its own fusion plan, grebe.layers.fusion)."""
    import numpy as np

    import grebe
    from grebe import layers as L

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    y = np.eye(10, dtype=np.float32)[labels]
    grebe.utils.set_random_seed(0)
    model = grebe.Sequential([grebe.Input((32, 32, 3))] + _seed_layers(L))
    grebe.utils.set_random_seed(0)
    inp = grebe.Input((32, 32, 3))
    out = inp
    for layer in _seed_layers(L):
        out = layer(out)
    functional = grebe.Model(inp, out)
    assert model.fusion_plan() and len(functional.fusion_plan()) == len(model.fusion_plan())
    loss_fn = grebe.losses.CategoricalCrossentropy()
    xt = grebe.tensor(x)

    def loop(m):
        """The PyTorch-style step: m(x), loss, backward, optimizer.apply."""
        opt = grebe.optimizers.Adam(learning_rate=1e-3)
        weights = m.trainable_weights

        def train_step():
            loss = loss_fn(y, m(xt, training=True))
            for w in weights:
                w.grad = None
            loss.backward()
            opt.apply([w.grad for w in weights], weights)

        def infer():
            with grebe.no_grad():
                return m(xt, training=False)
        return train_step, infer

    fns = {"loop": loop(model)}
    for name, m in (("train_on_batch", model), ("functional train_on_batch", functional)):
        m.compile(optimizer=grebe.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy")
        m.train_on_batch(x, y)
        fns[name] = (lambda m=m: m.train_on_batch(x, y), lambda m=m: m.predict_on_batch(x))
    return fns, "grebe.Sequential / functional grebe.Model of grebe.layers, Adam, categorical " \
        "cross-entropy; fused: " + ", ".join(f"{a}+{b}" for a, b in model.fusion_plan())


# ---- PyTorch -------------------------------------------------------------------------------

def torch_model(torch, batch: int):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2304, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def train_step():
        opt.zero_grad()
        loss = loss_fn(net(x), labels)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            return torch.softmax(net(x), dim=1)
    return train_step, infer


def tensorflow_model(tf, batch: int):
    import numpy as np

    k = tf.keras
    model = k.Sequential([
        k.Input((32, 32, 3)), k.layers.Conv2D(32, 3, activation="relu"), k.layers.MaxPooling2D(),
        k.layers.Conv2D(64, 3, activation="relu"), k.layers.MaxPooling2D(), k.layers.Flatten(),
        k.layers.Dense(128, activation="relu"), k.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((batch, 32, 32, 3)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(batch) % 10]
    return (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))


def run(batch: int, threads: int, args, torch, tf):
    import grebe

    grebe.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    repeats = args.repeats or (3 if args.quick else 7)
    budget = 0.15 if args.quick else 0.4
    g, notes = grebe_model(batch)
    fns = {}
    for name, (tr, inf) in g.items():
        fns[("grebe " + name, "train")] = tr
        fns[("grebe " + name, "infer")] = inf
    if torch is not None:
        tr, inf = torch_model(torch, batch)
        fns[("torch", "train")], fns[("torch", "infer")] = tr, inf
    if tf is not None:
        tr, inf = tensorflow_model(tf, batch)
        fns[("tensorflow", "train")], fns[("tensorflow", "infer")] = tr, inf
    import time
    clock = time.process_time if args.cpu_time else time.perf_counter
    times = median_times(fns, repeats, budget, args.settle, clock)
    return {k: batch / v for k, v in times.items()}, notes


def main():
    args = parse_args()
    import grebe

    threads = args.threads or grebe.get_num_threads()
    try:
        import torch
    except ImportError:
        torch = None
    try:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except ImportError:
        tf = None
    peak = machine_peak(threads)
    print(f"seed CNN, {threads} thread(s), isa={grebe._C.active_isa()}; images/s (median); "
          f"ratio = grebe / peer; %peak of the measured FMA peak {peak:.0f} GFLOP/s" +
          ("; timed in process CPU seconds" if args.cpu_time else ""))
    if torch is None:
        print("PyTorch: not installed")
    if tf is None:
        print("TensorFlow: not installed")
    for batch in args.batch:
        ips, notes = run(batch, threads, args, torch, tf)
        print(f"\nbatch {batch} ({notes})")
        print(f"  {'':28} {'train img/s':>12} {'ms/step':>8} {'%peak':>6} {'infer img/s':>12} "
              f"{'%peak':>6}")
        for who in sorted({k[0] for k in ips}, key=lambda s: (not s.startswith("grebe"), s)):
            tr, inf = ips[(who, "train")], ips[(who, "infer")]
            print(f"  {who:28} {tr:12.0f} {1e3 * batch / tr:8.2f} "
                  f"{100 * tr * TRAIN_MFLOP / 1e3 / peak:5.0f}% {inf:12.0f} "
                  f"{100 * inf * FWD_MFLOP / 1e3 / peak:5.0f}%")
        seq, fun = "grebe train_on_batch", "grebe functional train_on_batch"
        r_tr = ips[(fun, "train")] / ips[(seq, "train")]
        r_inf = ips[(fun, "infer")] / ips[(seq, "infer")]
        print(f"  grebe functional / Sequential (same model): train {r_tr:.3f}x, "
              f"inference {r_inf:.3f}x")
        targets = {"torch": "train >= 3x", "tensorflow": "train >= 2x, inference >= 2x"}
        for peer in ("torch", "tensorflow"):
            if (peer, "train") in ips:
                r_tr = ips[("grebe loop", "train")] / ips[(peer, "train")]
                r_inf = ips[("grebe loop", "infer")] / ips[(peer, "infer")]
                print(f"  grebe / {peer}: train {r_tr:.2f}x, inference {r_inf:.2f}x "
                      f"(target {targets[peer]})")
        if not (args.quick or args.no_scaling) and threads > 1:
            one, _ = run(batch, 1, args, torch, None)
            for who in ("grebe loop", "torch"):
                if (who, "train") in one:
                    print(f"  {who} thread scaling {threads} vs 1: train "
                          f"{ips[(who, 'train')] / one[(who, 'train')]:.2f}x, inference "
                          f"{ips[(who, 'infer')] / one[(who, 'infer')]:.2f}x")
            grebe.set_num_threads(threads)
            if torch is not None:
                torch.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
