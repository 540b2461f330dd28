"""bfloat16 mixed precision: the same models trained under 'float32' and 'mixed_bfloat16'.

Three models, each trained from the same seed under both policies, test accuracy printed side
by side:

- cnn_digits: the seed CNN of DESIGN.md section 2 on scikit-learn's digits (32x32x3), Adam;
- cnn_mnist1d: the MNIST-1D paper's CNN (three Conv1D(stride 2) + ReLU, then a linear layer)
  on MNIST-1D (generated locally), Adam with cosine decay;
- gru_mnist1d: GRU(64) + Dense(10) on MNIST-1D, Adam.

Only the policy differs between the two runs: `grebe.mixed_precision.set_global_policy` before
the model is built. Weights and optimizer state stay float32 under mixed_bfloat16; the products
of Dense, Conv1D/Conv2D and GRU take bfloat16 operands with float32 sums.

    pip install ".[data]"
    python examples/mixed_precision.py [--models cnn_digits cnn_mnist1d gru_mnist1d]
                                       [--seeds 0 1 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import grebe
from grebe import layers

POLICIES = ("float32", "mixed_bfloat16")


def cnn_digits(seed: int, epochs: int = 15) -> float:
    from grebe.datasets import digits

    (x, y), (xt, yt) = digits.load_data(size=32, channels=3, seed=seed)
    model = grebe.Sequential([
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(32, 32, 3)),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, grebe.utils.to_categorical(y, 10), epochs=epochs, batch_size=64, verbose=0)
    return float(model.evaluate(xt, grebe.utils.to_categorical(yt, 10), verbose=0)[1])


def cnn_mnist1d(seed: int, epochs: int = 100, channels: int = 48) -> float:
    from grebe.datasets import mnist1d

    (x, y), (xt, yt) = mnist1d.load_data(as_sequence=True)  # (4000, 40, 1), 1000 test
    conv = dict(strides=2, padding="same", activation="relu")
    model = grebe.Sequential([
        grebe.Input((40, 1)),
        layers.Conv1D(channels, 5, **conv),
        layers.Conv1D(channels, 3, **conv),
        layers.Conv1D(channels, 3, **conv),
        layers.Flatten(),
        layers.Dense(10, activation="softmax")])
    steps = epochs * (len(x) // 100)
    lr = grebe.optimizers.schedules.CosineDecay(1e-2, steps)
    model.compile(optimizer=grebe.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=100, verbose=0)
    return float(model.evaluate(xt, yt, verbose=0)[1])


def gru_mnist1d(seed: int, epochs: int = 12) -> float:
    from grebe.datasets import mnist1d

    (x, y), (xt, yt) = mnist1d.load_data(as_sequence=True)
    model = grebe.Sequential([grebe.Input((40, 1)), layers.GRU(64),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=100, verbose=0)
    return float(model.evaluate(xt, yt, verbose=0)[1])


MODELS = {"cnn_digits": cnn_digits, "cnn_mnist1d": cnn_mnist1d, "gru_mnist1d": gru_mnist1d}


def train(model: str, policy: str, seed: int, **kwargs) -> float:
    """Test accuracy of `model` trained from `seed` under `policy` (the global policy is put
    back to what it was afterwards)."""
    before = grebe.mixed_precision.global_policy()
    grebe.mixed_precision.set_global_policy(policy)
    try:
        grebe.utils.set_random_seed(seed)
        return MODELS[model](seed, **kwargs)
    finally:
        grebe.mixed_precision.set_global_policy(before)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        grebe.set_num_threads(args.threads)
    results = {}
    for model in args.models:
        accs = {p: [] for p in POLICIES}
        for seed in args.seeds:
            for policy in POLICIES:
                start = time.perf_counter()
                accs[policy].append(train(model, policy, seed))
                print(f"{model:12s} seed {seed} {policy:15s} test accuracy "
                      f"{accs[policy][-1]:.4f} ({time.perf_counter() - start:.1f} s)",
                      flush=True)
        means = {p: statistics.mean(a) for p, a in accs.items()}
        print(f"{model:12s} mean of {len(args.seeds)} seeds: float32 {means['float32']:.4f}, "
              f"mixed_bfloat16 {means['mixed_bfloat16']:.4f} (difference "
              f"{100 * (means['mixed_bfloat16'] - means['float32']):+.2f} points)")
        results[model] = {"accuracy": accs, "mean": means}
    return results


if __name__ == "__main__":
    main()
