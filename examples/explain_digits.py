"""Why does the digits CNN say what it says? grebe.explain on the main job's model.

Loads the model the main job saved (`python examples/cnn_digits.py` writes ./digits.grebe) or,
when there is none, trains the same seed CNN on scikit-learn's digits for a few epochs. Then it
explains eight test digits with six methods and writes one PNG: rows of digits, columns image /
saliency / SmoothGrad / Integrated Gradients / Grad-CAM / occlusion, each row titled with the
predicted and the true label. It also prints the completeness error of Integrated Gradients.

    pip install ".[data,plot]"
    python examples/explain_digits.py [--model digits.grebe] [--out docs/explain_digits.png]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import grebe
from grebe import explain
from grebe.datasets import digits


def get_model(path, x, y, epochs):
    if path and os.path.exists(path):
        print(f"model: {path}")
        return grebe.load_model(path)
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cnn_digits import build_model  # the main job's model, DESIGN.md §2

    print(f"model: training the seed CNN for {epochs} epochs (no {path} found)")
    model = build_model()
    model.fit(x, grebe.utils.to_categorical(y, 10), epochs=epochs, batch_size=64, verbose=0)
    return model


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits.grebe")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--out", default="explain_digits.png")
    args = parser.parse_args(argv)

    grebe.utils.set_random_seed(0)
    (x, y), (x_test, y_test) = digits.load_data(size=32, channels=3, seed=0)
    model = get_model(args.model, x, y, args.epochs)
    xs, ys = x_test[:args.samples], y_test[:args.samples]
    pred = model.predict(xs, verbose=0).argmax(axis=1)

    t0 = time.perf_counter()
    ig, delta = explain.integrated_gradients(model, xs, pred, steps=32,
                                             method="gausslegendre", return_delta=True)
    maps = {
        "saliency": explain.saliency(model, xs, pred),
        "SmoothGrad": explain.smoothgrad(model, xs, pred, samples=25, seed=0),
        "Integrated Gradients": np.abs(ig).max(axis=-1),
        "Grad-CAM": explain.grad_cam(model, xs, pred)[0],
        "occlusion": np.maximum(explain.occlusion(model, xs, pred, window=(8, 8),
                                                  strides=(4, 4)), 0).max(axis=-1),
    }
    seconds = time.perf_counter() - t0
    scores = model.predict(xs, verbose=0)[np.arange(len(xs)), pred]
    base = model.predict(np.zeros_like(xs), verbose=0)[np.arange(len(xs)), pred]
    rel = np.abs(delta) / np.maximum(np.abs(scores - base), 1e-12)
    print(f"explained {len(xs)} digits with 5 methods in {seconds:.1f} s; Integrated Gradients "
          f"completeness error (32 Gauss-Legendre steps): mean {rel.mean():.2%}, "
          f"max {rel.max():.2%}")
    titles = [f"pred {p} / true {t}" for p, t in zip(pred, ys)]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    explain.save_png(args.out, xs[..., 0], maps, titles=titles)
    print(f"picture: {args.out}")
    return {"path": args.out, "ig_relative_delta": rel, "predictions": pred}


if __name__ == "__main__":
    main()
