"""Small helpers with Keras's names: labels to one-hot, normalization, seeding, data splits, and a
learning-curve plot.

>>> import grebe
>>> grebe.utils.to_categorical([0, 2, 1], 3)
array([[1., 0., 0.],
       [0., 0., 1.],
       [0., 1., 0.]], dtype=float32)
"""
from __future__ import annotations

import random as _pyrandom

import numpy as np


def _labels(y, what: str) -> np.ndarray:
    y = np.asarray(getattr(y, "data", y))
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{what}: expected integer class labels, received non-integer "
                             f"values such as {y[y != np.round(y)][:3].tolist()}")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iu":
        raise TypeError(f"{what}: expected integer class labels, received dtype {y.dtype}")
    return y.astype(np.int64, copy=False)


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot encodes integer class labels (Keras semantics): shape x.shape + (num_classes,),
    float32; a trailing axis of size 1 is dropped first, so (n, 1) labels give (n, num_classes).
    num_classes defaults to max(x) + 1. Negative labels or labels >= num_classes raise.

    >>> to_categorical([[1], [0]]).shape
    (2, 2)
    """
    y = _labels(x, "to_categorical")
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, received {int(y.min())}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or \
            num_classes < 1:
        raise ValueError(f"to_categorical: expected a positive integer num_classes, received "
                         f"num_classes={num_classes!r}")
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(y.max())} is out of range for "
                         f"num_classes={num_classes} (labels must be in [0, {num_classes - 1}])")
    out = np.zeros((y.size, int(num_classes)), dtype=np.float32)
    out[np.arange(y.size), y] = 1.0
    return out.reshape(shape + (int(num_classes),))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Divides x by its `order`-norm along `axis` (zero vectors stay zero), as keras.utils.

    >>> normalize(np.array([[3.0, 4.0]], dtype="float32"))
    array([[0.6, 0.8]], dtype=float32)
    """
    x = np.asarray(getattr(x, "data", x))
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return (x / np.expand_dims(norm, axis)).astype(x.dtype, copy=False)


def set_random_seed(seed: int) -> None:
    """Seeds every random source a grebe program uses, as keras.utils.set_random_seed: grebe's
    global generator (weights, dropout, shuffling, augmentation), numpy's legacy global RNG and
    Python's `random`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative integer, received "
                         f"seed={seed!r}")
    seed = int(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed % 2**32)
    from grebe import random as grebe_random

    grebe_random.seed(seed)


def _split_counts(n: int, test_size, train_size=None) -> tuple[int, int]:
    def count(size, name):
        if isinstance(size, (float, np.floating)):
            if not 0.0 < size < 1.0:
                raise ValueError(f"train_test_split: a float {name} must be in (0, 1), "
                                 f"received {name}={size}")
            return size
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            if not 0 < size < n:
                raise ValueError(f"train_test_split: an integer {name} must be in [1, {n - 1}] "
                                 f"for {n} samples, received {name}={size}")
            return int(size)
        raise TypeError(f"train_test_split: {name} must be a float or an int, received "
                        f"{size!r}")

    if test_size is None and train_size is None:
        test_size = 0.25
    if test_size is not None:
        t = count(test_size, "test_size")
        n_test = int(np.ceil(t * n)) if isinstance(t, float) else t
    else:
        t = count(train_size, "train_size")
        n_test = n - (int(np.floor(t * n)) if isinstance(t, float) else t)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: {n} samples leave an empty train or test set "
                         f"(test_size={test_size}, train_size={train_size})")
    return n - n_test, n_test


def _stratified_test_indices(labels, n_test, rng) -> np.ndarray:
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    if counts.min() < 2:
        raise ValueError(f"train_test_split: stratify needs at least 2 samples of each class; "
                         f"class {classes[counts.argmin()]!r} has {counts.min()}")
    # Largest-remainder allocation: each class gets round(n_test * share), summing to n_test.
    exact = counts * n_test / counts.sum()
    take = np.floor(exact).astype(np.int64)
    rest = n_test - take.sum()
    order = np.lexsort((rng.random(len(classes)), -(exact - take)))
    take[order[:rest]] += 1
    picks = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
    return np.concatenate(picks)


def train_test_split(*arrays, test_size=None, train_size=None, seed: int | None = None,
                     shuffle: bool = True, stratify=None) -> list:
    """Splits arrays (same first dimension) into train and test parts, in scikit-learn's order:
    ``x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=0)``.

    test_size: a fraction in (0, 1) (rounded up, as scikit-learn) or a count; default 0.25.
    stratify: labels whose class proportions both parts keep. seed: reproducible split (None uses
    grebe's global generator, which grebe.utils.set_random_seed seeds)."""
    if not arrays:
        raise ValueError("train_test_split: expected at least one array")
    arrays = [np.asarray(getattr(a, "data", a)) for a in arrays]
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if a.ndim == 0 or len(a) != n:
            raise ValueError(f"train_test_split: all arrays need the same first dimension; "
                             f"array 0 has {n} samples, array {i} has shape {a.shape}")
    n_train, n_test = _split_counts(n, test_size, train_size)
    rng = _rng(seed)
    if stratify is not None:
        if not shuffle:
            raise ValueError("train_test_split: stratify requires shuffle=True")
        labels = np.asarray(getattr(stratify, "data", stratify))
        if len(labels) != n:
            raise ValueError(f"train_test_split: stratify has {len(labels)} labels for {n} "
                             f"samples")
        test = np.sort(_stratified_test_indices(labels, n_test, rng))
        mask = np.ones(n, bool)
        mask[test] = False
        train = np.flatnonzero(mask)
        test, train = rng.permutation(test), rng.permutation(train)
    elif shuffle:
        perm = rng.permutation(n)
        train, test = perm[:n_train], perm[n_train:]
    else:
        train, test = np.arange(n_train), np.arange(n_train, n)
    out = []
    for a in arrays:
        out += [a[train], a[test]]
    return out


def _rng(seed) -> np.random.Generator:
    if seed is not None:
        return np.random.default_rng(seed)
    from grebe import random as grebe_random

    return grebe_random.generator()




from grebe.callbacks.history import plot_history  # noqa: E402,F401 (lives beside History)
