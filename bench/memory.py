"""A long run with flat memory: trains a small CNN on the digits for thousands of steps (fit with
validation, then predict and evaluate every epoch) and prints the resident set size over time.

    python bench/memory.py --epochs 60      # 60 epochs x 26 steps = 1560 steps, about a minute

The figure to read is the growth after the first epochs (warm-up: allocator pools, OpenMP
threads, lazily built kernels): a leak of one tensor per step shows as a steady climb."""
from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np

import grebe
from grebe import layers


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    (x, y), _ = grebe.datasets.digits.load_data()
    x = x.reshape(len(x), 8, 8, 1)  # float32 in [0, 1]
    model = grebe.Sequential([
        layers.Conv2D(16, 3, activation="relu", padding="same", input_shape=(8, 8, 1)),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    samples = []
    t0 = time.perf_counter()
    steps = 0

    def on_epoch_end(epoch, logs):
        nonlocal steps
        steps += -(-int(len(x) * 0.8) // args.batch_size)
        model.predict(x[:256], verbose=0)
        model.evaluate(x[:256], y[:256], verbose=0)
        gc.collect()
        samples.append((epoch + 1, steps, rss_mb(), logs["loss"]))
        if (epoch + 1) % 5 == 0 or epoch == 0:
            print(f"epoch {epoch + 1:4d}  steps {steps:6d}  RSS {samples[-1][2]:7.1f} MB  "
                  f"loss {logs['loss']:.4f}  {time.perf_counter() - t0:6.1f} s", flush=True)
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.2,
              verbose=0, callbacks=[grebe.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)])
    warm = samples[min(4, len(samples) - 1)]
    last = samples[-1]
    print(f"RSS after warm-up (epoch {warm[0]}, step {warm[1]}): {warm[2]:.1f} MB; at the end "
          f"(epoch {last[0]}, step {last[1]}): {last[2]:.1f} MB; growth {last[2] - warm[2]:+.1f} "
          f"MB; peak {max(s[2] for s in samples):.1f} MB")


if __name__ == "__main__":
    main()
