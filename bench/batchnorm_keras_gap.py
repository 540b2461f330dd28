"""BatchNormalization's test-accuracy gap against Keras 3 (issue 11 item 6), measured: keras-io's
time-series classifier (Conv1D + BatchNormalization + ReLU x3, GlobalAveragePooling1D, Dense;
Copyright the Keras authors, Apache License 2.0) on MNIST-1D, trained by grebe and by Keras 3
(torch backend) from the same initial weights, seed by seed.

    PYTHONPATH=python python bench/batchnorm_keras_gap.py [--seeds 1,2,3,4,5] [--epochs 10]
                                                           [--paired] [--filters 64]

--paired feeds both libraries the same batches in the same order (train_on_batch), so the two
runs differ only by rounding; without it each library's fit() shuffles for itself. Printed per
seed and as means: the test accuracy (moving statistics) after the last epoch and over the last
5 epochs; the conv-bias drift (mean |b - b0|: the bias before a BatchNormalization has a zero
gradient, so it moves only by Adam-normalized rounding noise); and the moving-mean lag: the
largest |moving_mean - mean over the training set| / std over the channels of each BN layer.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402


def build(lib, filters):
    L = lib.layers
    inp = lib.Input((40, 1))
    h = inp
    for _ in range(3):
        h = L.Conv1D(filters, 3, padding="same")(h)
        h = L.BatchNormalization()(h)
        h = L.ReLU()(h)
    h = L.GlobalAveragePooling1D()(h)
    return lib.Model(inp, L.Dense(10, activation="softmax")(h))


def layers_of(model, kind):
    return [la for la in model.layers if type(la).__name__ == kind]


def moving_mean_lag(lib, model, x):
    """max over channels of |moving_mean - training-set mean| / training-set std, per BN."""
    bns = layers_of(model, "BatchNormalization")
    feats = lib.Model(model.inputs, [bn.input for bn in bns]).predict(x, verbose=0)
    lags = []
    for bn, f in zip(bns, feats):
        mm = bn.get_weights()[2]
        f = f.reshape(-1, f.shape[-1]).astype(np.float64)
        lags.append(float(np.max(np.abs(mm - f.mean(0)) / f.std(0))))
    return lags


def run(seed, args, data):
    import grebe
    import keras

    (x, y), (xt, yt) = data
    keras.utils.set_random_seed(seed)
    grebe.utils.set_random_seed(seed)
    km, gm = build(keras, args.filters), build(grebe, args.filters)
    gm.set_weights(km.get_weights())
    b0 = [la.get_weights()[1].copy() for la in layers_of(km, "Conv1D")]
    res = {}
    for m, lib in ((km, keras), (gm, grebe)):
        m.compile(optimizer=lib.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    order = np.random.default_rng(seed)
    accs = {"keras": [], "grebe": []}
    for _ in range(args.epochs):
        if args.paired:
            perm = order.permutation(len(x))
            for s in range(0, len(x) - args.batch + 1, args.batch):
                idx = perm[s:s + args.batch]
                km.train_on_batch(x[idx], y[idx])
                gm.train_on_batch(x[idx], y[idx])
        else:
            km.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)
            gm.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)
        accs["keras"].append(km.evaluate(xt, yt, verbose=0)[1])
        accs["grebe"].append(gm.evaluate(xt, yt, verbose=0)[1])
    for name, m, lib in (("keras", km, keras), ("grebe", gm, grebe)):
        drift = np.mean([np.abs(la.get_weights()[1] - b).mean()
                         for la, b in zip(layers_of(m, "Conv1D"), b0)])
        res[name] = (accs[name][-1], float(np.mean(accs[name][-5:])), float(drift),
                     float(np.mean(moving_mean_lag(lib, m, x))))
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--paired", action="store_true", help="the same batches for both")
    args = p.parse_args()
    import grebe
    import torch

    torch.set_num_threads(1)
    grebe.set_num_threads(1)
    data = grebe.datasets.mnist1d.load_data(as_sequence=True)
    cols = "test acc | last-5 mean | conv-bias drift | moving-mean lag (std)"
    print(f"{'paired batches' if args.paired else 'fit() shuffles'}, {args.epochs} epochs; "
          f"per library: {cols}")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run(seed, args, data)
        rows.append([r["keras"], r["grebe"]])
        print(f"seed {seed}: " + "   ".join(
            f"{k} {a:.4f} | {b:.4f} | {c:.2e} | {d:.3f}" for k, (a, b, c, d) in r.items()),
            flush=True)
    mean = np.mean(np.array(rows), axis=0)
    print("mean:   " + "   ".join(f"{k} {a:.4f} | {b:.4f} | {c:.2e} | {d:.3f}"
                                  for k, (a, b, c, d) in zip(("keras", "grebe"), mean)))


if __name__ == "__main__":
    main()
