"""A recurrent sequence classifier: GRU (or LSTM) over MNIST-1D signals.

MNIST-1D (Greydanus 2020) is generated locally by the `mnist1d` package: 4000 train / 1000 test
sequences of length 40, 10 classes, where the digit pattern sits at a random position — a task
for a recurrent or convolutional model, not a linear one. Without `mnist1d` installed, the
example falls back to scikit-learn's digits read row by row (8 steps of 8 pixels).

    pip install mnist1d             # optional; else pip install scikit-learn for the fallback
    python examples/sequence_gru.py [--cell gru|lstm] [--epochs 20] [--dataset digits]
"""
from __future__ import annotations

import argparse
import os
import time

import grebe
from grebe import layers


def load(dataset: str, seed: int):
    if dataset == "auto":
        try:
            import mnist1d  # noqa: F401
            dataset = "mnist1d"
        except ImportError:
            print("mnist1d is not installed (pip install mnist1d): using digits rows")
            dataset = "digits"
    if dataset == "digits":
        from grebe.datasets import digits

        (x, y), (xt, yt) = digits.load_data(seed=seed)  # (n, 8, 8): 8 steps x 8 features
        return "digits rows", (x, y), (xt, yt)
    from grebe.datasets import mnist1d

    (x, y), (xt, yt) = mnist1d.load_data(as_sequence=True)  # (n, 40, 1)
    return "MNIST-1D", (x, y), (xt, yt)


def build_model(cell: str, input_shape, units: int):
    rnn = layers.GRU if cell == "gru" else layers.LSTM
    model = grebe.Sequential([
        rnn(units, input_shape=input_shape),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=grebe.optimizers.Adam(learning_rate=3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    parser.add_argument("--dataset", choices=["auto", "mnist1d", "digits"], default="auto")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("GREBE_EPOCHS", 20)))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    grebe.utils.set_random_seed(args.seed)
    name, (x, y), (x_test, y_test) = load(args.dataset, args.seed)
    print(f"{name}: {len(x)} train / {len(x_test)} test sequences, {x.shape[1]} steps x "
          f"{x.shape[2]} features")
    model = build_model(args.cell, x.shape[1:], args.units)
    start = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1,
              verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    per_s = args.epochs * (len(x) - int(len(x) * 0.1)) / seconds
    print(f"{args.cell.upper()}({args.units}) test accuracy: {acc:.4f} (loss {loss:.4f}); "
          f"training {per_s:.0f} sequences/s")
    return {"dataset": name, "test_accuracy": float(acc), "sequences_per_s": per_s}


if __name__ == "__main__":
    main()
