"""Batching numpy data: a DataLoader (PyTorch's shape, Keras's PyDataset protocol) and a small
tf.data-style Dataset.

>>> import numpy as np, grebe
>>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
>>> loader = grebe.data.DataLoader(x, y, batch_size=2)
>>> len(loader), [yb.tolist() for _, yb in loader]
(3, [[0, 1], [2, 3], [4]])
>>> ds = grebe.data.Dataset.from_tensor_slices((x, y)).shuffle(5, seed=0).batch(2)
>>> len(ds), sorted(int(v) for _, yb in ds for v in yb)
(3, [0, 1, 2, 3, 4])

Shuffling without a seed draws from grebe's global generator, so
``grebe.utils.set_random_seed(s)`` makes every epoch's order reproducible.
"""
from __future__ import annotations

import math

import numpy as np


def _as_arrays(data, what):
    """An array, or a tuple/list/dict of arrays with the same first dimension, as numpy."""
    if isinstance(data, dict):
        return {k: _as_arrays(v, what) for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        return type(data)(_as_arrays(v, what) for v in data)
    a = np.asarray(getattr(data, "data", data))
    if a.ndim == 0:
        raise ValueError(f"{what}: expected arrays with a batch axis, received a scalar")
    return a


def _leaves(data):
    if isinstance(data, dict):
        return [a for v in data.values() for a in _leaves(v)]
    if isinstance(data, (tuple, list)):
        return [a for v in data for a in _leaves(v)]
    return [data]


def _take(data, idx):
    if isinstance(data, dict):
        return {k: _take(v, idx) for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        return type(data)(_take(v, idx) for v in data)
    return data[idx]


def _length(data, what) -> int:
    leaves = _leaves(data)
    n = len(leaves[0])
    for a in leaves:
        if len(a) != n:
            raise ValueError(f"{what}: all arrays need the same first dimension, received "
                             f"{[x.shape for x in leaves]}")
    return n


def _generator(seed):
    if seed is not None:
        return np.random.default_rng(seed)
    from grebe import random as grebe_random

    return grebe_random.generator()


def _make_augment(augment):
    """A Layer (or list of layers) runs with training=True; any other callable gets the batch."""
    if augment is None:
        return None
    from grebe.layers.layer import Layer

    steps = augment if isinstance(augment, (list, tuple)) else [augment]
    for s in steps:
        if not callable(s):
            raise TypeError(f"DataLoader: augment must be a callable or a Layer, received {s!r}")

    def run(xb):
        for s in steps:
            xb = s(xb, training=True) if isinstance(s, Layer) else s(xb)
            xb = np.asarray(getattr(xb, "data", xb))
        return xb

    return run


class DataLoader:
    """Yields ``(x_batch, y_batch)`` numpy tuples (or ``x_batch`` when y is None).

    x, y: arrays (or tuples/dicts of arrays) with the same first dimension. shuffle: a new
    order every epoch (every iteration), from `seed` or grebe's global generator. augment: a
    preprocessing layer such as ``layers.RandomFlip('horizontal')`` (run with training=True), a
    list of them, or a function of the x batch. drop_last: drop the final short batch.

    Also a Keras PyDataset: ``len(loader)`` batches, ``loader[i]`` is batch i of the current
    epoch's order and ``on_epoch_end()`` reshuffles.

    >>> import numpy as np
    >>> loader = DataLoader(np.zeros((10, 3)), np.arange(10), batch_size=4, drop_last=True)
    >>> len(loader), [xb.shape for xb, _ in loader]
    (2, [(4, 3), (4, 3)])
    """

    def __init__(self, x, y=None, batch_size: int = 32, shuffle: bool = False, augment=None,
                 drop_last: bool = False, seed: int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                batch_size < 1:
            raise ValueError(f"DataLoader: expected a positive integer batch_size, received "
                             f"batch_size={batch_size!r}")
        self.x = _as_arrays(x, "DataLoader")
        self.y = None if y is None else _as_arrays(y, "DataLoader")
        self.num_samples = _length(self.x if y is None else (self.x, self.y), "DataLoader")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._augment = _make_augment(augment)
        self._rng = _generator(seed) if shuffle and seed is not None else None
        self._order = None

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def _new_order(self):
        if self.shuffle:
            rng = self._rng if self._rng is not None else _generator(None)
            self._order = rng.permutation(self.num_samples)
        else:
            self._order = None

    def on_epoch_end(self) -> None:
        self._new_order()

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"DataLoader: batch {i} out of range for {len(self)} batches")
        i %= len(self)
        if self.shuffle and self._order is None:
            self._new_order()
        lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, self.num_samples)
        idx = self._order[lo:hi] if self._order is not None else slice(lo, hi)
        xb = _take(self.x, idx)
        if self._augment is not None:
            xb = self._augment(xb)
        return xb if self.y is None else (xb, _take(self.y, idx))

    def __iter__(self):
        self._new_order()
        for i in range(len(self)):
            yield self[i]


class Dataset:
    """A tf.data-style pipeline over in-memory arrays: from_tensor_slices, shuffle, batch, map,
    take, repeat, prefetch (a no-op). Elements are numpy arrays (or tuples/dicts of them).

    >>> import numpy as np
    >>> ds = Dataset.from_tensor_slices(np.arange(6)).map(lambda v: v * 10).batch(4)
    >>> [b.tolist() for b in ds]
    [[0, 10, 20, 30], [40, 50]]
    """

    def __init__(self, make_iter, length):
        self._make_iter = make_iter
        self._length = length  # number of elements, or None when unknown/infinite

    @staticmethod
    def from_tensor_slices(tensors) -> "Dataset":
        data = _as_arrays(tensors, "Dataset.from_tensor_slices")
        n = _length(data, "Dataset.from_tensor_slices")

        def it():
            for i in range(n):
                yield _take(data, i)

        return Dataset(it, n)

    def __iter__(self):
        return self._make_iter()

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("Dataset: the length is unknown (repeat() without a count)")
        return self._length

    def cardinality(self) -> int:
        return -1 if self._length is None else self._length

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True) -> "Dataset":
        """Keeps a buffer of `buffer_size` elements and yields a random one each step, as
        tf.data (buffer_size >= the length gives a uniform shuffle)."""
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)) or \
                buffer_size < 1:
            raise ValueError(f"Dataset.shuffle: expected a positive integer buffer_size, "
                             f"received buffer_size={buffer_size!r}")
        if seed is None and not reshuffle_each_iteration:
            seed = int(_generator(None).integers(2**63))  # random, but the same every epoch
        rng = _generator(seed) if seed is not None else None
        source = self

        def order_rng():
            if rng is None:
                return _generator(None)
            return rng if reshuffle_each_iteration else np.random.default_rng(seed)

        def it():
            rng = order_rng()
            buf = []
            for e in source:
                buf.append(e)
                if len(buf) >= buffer_size:
                    j = int(rng.integers(len(buf)))
                    buf[j], buf[-1] = buf[-1], buf[j]
                    yield buf.pop()
            while buf:
                j = int(rng.integers(len(buf)))
                buf[j], buf[-1] = buf[-1], buf[j]
                yield buf.pop()

        return Dataset(it, self._length)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> "Dataset":
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                batch_size < 1:
            raise ValueError(f"Dataset.batch: expected a positive integer batch_size, "
                             f"received batch_size={batch_size!r}")
        source = self

        def it():
            buf = []
            for e in source:
                buf.append(e)
                if len(buf) == batch_size:
                    yield _stack(buf)
                    buf = []
            if buf and not drop_remainder:
                yield _stack(buf)

        n = self._length
        length = None if n is None else (n // batch_size if drop_remainder
                                         else math.ceil(n / batch_size))
        return Dataset(it, length)

    def map(self, fn) -> "Dataset":
        """Applies fn to each element; a tuple element is unpacked into fn's arguments."""
        source = self

        def it():
            for e in source:
                yield fn(*e) if isinstance(e, tuple) else fn(e)

        return Dataset(it, self._length)

    def take(self, count: int) -> "Dataset":
        source = self

        def it():
            for i, e in enumerate(source):
                if i >= count:
                    return
                yield e

        return Dataset(it, count if self._length is None else min(count, self._length))

    def repeat(self, count: int | None = None) -> "Dataset":
        source = self

        def it():
            k = 0
            while count is None or k < count:
                yield from source
                k += 1

        return Dataset(it, None if count is None or self._length is None
                       else self._length * count)

    def prefetch(self, buffer_size=None) -> "Dataset":
        return self


def _stack(elements):
    first = elements[0]
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([e[i] for e in elements]) for i in range(len(first)))
    return np.stack([np.asarray(e) for e in elements])
