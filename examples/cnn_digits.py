"""The seed CNN of DESIGN.md §2, as written, on real handwritten digits.

scikit-learn's 1797 scanned 8x8 digits, upsampled to 32x32x3 (the CNN's input), 80/20 split.
Prints the test accuracy and the training speed in images/s, saves a learning-curve PNG
(matplotlib, if installed), then saves the model to one file, reloads it and checks that the
reloaded model predicts exactly the same.

    pip install ".[data]"           # scikit-learn (matplotlib for the PNG: ".[plot]")
    python examples/cnn_digits.py [--epochs 10] [--out-dir .]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import grebe
from grebe import layers
from grebe.datasets import digits


def build_model():
    # DESIGN.md §2, unchanged
    model = grebe.Sequential([
        layers.Conv2D(32, kernel_size=(3, 3), activation='relu', input_shape=(32, 32, 3)),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation='relu'),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation='relu'),
        layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


class TrainTimer(grebe.callbacks.Callback):
    """Adds up the time spent in training steps (not validation, not evaluation)."""

    def __init__(self):
        super().__init__()
        self.seconds, self._start = 0.0, None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds += time.perf_counter() - self._start


def save_curve(history, path) -> str:
    """Learning-curve PNG via History.plot; a message without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "learning curve: skipped (pip install matplotlib to get the PNG)"
    history.plot(path, title="seed CNN on digits (32x32x3)")
    return f"learning curve: {path}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("GREBE_EPOCHS", 10)))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=".")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    grebe.utils.set_random_seed(args.seed)
    (x, y), (x_test, y_test) = digits.load_data(size=32, channels=3, seed=args.seed)
    y_test_onehot = grebe.utils.to_categorical(y_test, 10)
    print(f"digits: {len(x)} train / {len(x_test)} test images of shape {x.shape[1:]}, "
          f"{grebe.get_num_threads()} threads")

    model = build_model()
    timer = TrainTimer()
    history = model.fit(x, grebe.utils.to_categorical(y, 10), epochs=args.epochs,
                        batch_size=args.batch_size, validation_split=0.1,
                        verbose=args.verbose, callbacks=[timer])
    trained = args.epochs * (len(x) - int(len(x) * 0.1))  # fit's validation_split holds 10% out
    images_per_s = trained / timer.seconds

    loss, acc = model.evaluate(x_test, y_test_onehot, verbose=0)
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    print(f"training speed: {images_per_s:.0f} images/s (batch {args.batch_size}, "
          f"{timer.seconds:.1f} s in training steps over {args.epochs} epochs)")

    os.makedirs(args.out_dir, exist_ok=True)
    print(save_curve(history, os.path.join(args.out_dir, "cnn_digits_curve.png")))

    path = os.path.join(args.out_dir, "digits.grebe")
    probs = model.predict(x_test, verbose=0)  # numpy array
    model.save(path); model2 = grebe.load_model(path)  # noqa: E702 (DESIGN.md §2's line)
    same = bool(np.array_equal(probs, model2.predict(x_test, verbose=0)))
    print(f"saved {path} ({os.path.getsize(path) / 1e6:.2f} MB); reloaded model predicts the "
          f"same: {same}")
    if not same:
        raise SystemExit("the reloaded model's predictions differ")
    return {"test_accuracy": float(acc), "test_loss": float(loss),
            "images_per_s": images_per_s, "reload_matches": same,
            "history": getattr(history, "history", history)}


if __name__ == "__main__":
    main()
