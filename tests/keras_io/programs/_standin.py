"""Offline stand-in data for the keras-io programs: numpy only (so the same file feeds grebe and
Keras 3), the shapes of the datasets the original programs download, and a learnable signal
(each class is a fixed random template plus noise), so training curves mean something.
"""
import numpy as np


def images(n, shape=(28, 28, 1), classes=10, seed=0, noise=0.4):
    """x (n, *shape) float32 in [0, 1], y (n,) int64 class ids (the MNIST / CIFAR stand-in)."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(1234).random((classes,) + tuple(shape))
    y = rng.integers(0, classes, n)
    x = (1 - noise) * templates[y] + noise * rng.random((n,) + tuple(shape))
    return x.astype("float32"), y.astype("int64")


def tokens(n, length=200, vocab=20000, classes=2, seed=0, pad=True):
    """x (n, length) int64 token ids (0 = padding at the start when pad), y (n,) class ids: each
    class favours its own band of the vocabulary (the IMDB stand-in)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.integers(1, vocab, (n, length))
    band = max(1, (vocab - 1) // (4 * classes))
    marked = rng.random((n, length)) < 0.3
    x = np.where(marked, 1 + y[:, None] * band + rng.integers(0, band, (n, length)), x)
    if pad:
        lengths = rng.integers(length // 2, length + 1, n)
        x[np.arange(length)[None, :] < (length - lengths)[:, None]] = 0
    return x.astype("int64"), y.astype("int64")


def series(n, steps=500, classes=2, seed=0):
    """x (n, steps, 1) float32, y (n,) class ids: a sine whose frequency depends on the class,
    with noise (the FordA stand-in)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    t = np.linspace(0, 1, steps)[None, :]
    freq = 3.0 + 4.0 * y[:, None]
    phase = rng.random((n, 1)) * 2 * np.pi
    x = np.sin(2 * np.pi * freq * t + phase) + 0.5 * rng.standard_normal((n, steps))
    return x[..., None].astype("float32"), y.astype("int64")


def regression(n, features=32, outputs=1, seed=0):
    """x (n, features), y (n, outputs) float32 in [0, 1): a fixed linear map plus noise."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(4321).standard_normal((features, outputs)) / np.sqrt(features)
    x = rng.random((n, features))
    y = 1 / (1 + np.exp(-(x - 0.5) @ w * 4)) + 0.05 * rng.standard_normal((n, outputs))
    return x.astype("float32"), y.astype("float32")
