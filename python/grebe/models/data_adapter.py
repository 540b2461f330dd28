"""Turning what fit/evaluate/predict receive into batches of (x, y, sample_weight).

Arrays (numpy, Tensors, lists/dicts of them for several inputs or outputs) are converted once:
floating data becomes float32 here, not per batch. Iterables (Python generators, grebe.data
loaders, Keras PyDataset-style objects with __getitem__/__len__, torch DataLoaders) yield
(x, y), (x, y, sample_weight) or x alone.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from grebe import tree
from grebe.tensor import Tensor, check_numeric


def _to_array(a, who="the model's data"):
    if isinstance(a, Tensor):
        a = a.data
    elif not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        a = check_numeric(a, who)  # None/objects, strings, complex: a TypeError naming `who`
    if a.dtype.kind == "f" and a.dtype != np.float32:
        return np.ascontiguousarray(a, dtype=np.float32)
    return a


def _is_array_like(x) -> bool:
    """numpy arrays, Tensors and anything numpy can take without copying rules of its own
    (torch/jax arrays, pandas frames): all define __array__."""
    return isinstance(x, (np.ndarray, Tensor)) or hasattr(x, "__array__")


def is_arrays(x) -> bool:
    """True for array data (including lists/dicts of arrays); False for iterables of batches."""
    if x is None or _is_array_like(x):
        return True
    if isinstance(x, dict):
        return all(is_arrays(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        # A list of arrays is several inputs; a list of numbers is one (nested) array.
        return True
    return False


def standardize(x, who="the model's data"):
    """Arrays structure -> the same structure of numpy arrays (float data as float32); data
    that is not numeric raises a TypeError naming `who` (e.g. "fit: x")."""
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: standardize(v, f"{who}[{k!r}]") for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and all(
            _is_array_like(v) or isinstance(v, (dict, list, tuple)) and
            any(_is_array_like(u) for u in tree.flatten(v)) for v in x):
        return [standardize(v, f"{who}[{i}]") for i, v in enumerate(x)]
    return _to_array(x, who)


def num_samples(x, y, sw, what) -> int:
    counts = []
    for part, name in ((x, "x"), (y, "y"), (sw, "sample_weight")):
        if part is None:
            continue
        for a in tree.flatten(part):
            if a is None:
                continue
            if a.ndim == 0:
                raise ValueError(f"{what}: {name} must have a batch axis, received a scalar")
            counts.append((name, len(a)))
    if not counts:
        raise ValueError(f"{what}: no input data (x is None)")
    n = counts[0][1]
    for name, c in counts:
        if c != n:
            first = counts[0][0]
            raise ValueError(f"{what}: {first} has {n} samples but {name} has {c}; all arrays "
                             f"need the same first dimension")
    return n


def class_weight_to_sample_weight(y, class_weight: dict, what: str) -> np.ndarray:
    """Keras's rule: the class of a row is argmax(y) for one-hot/probability rows, else y."""
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    if y.ndim != 1:
        raise ValueError(f"{what}: class_weight needs targets of shape (n,), (n, 1) or (n, "
                         f"classes); received {np.shape(y)}")
    labels = np.round(y).astype(np.int64)
    lut = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([lut.get(int(c), 1.0) for c in labels], dtype=np.float32)


def split_validation(x, y, sw, validation_split: float, what="fit"):
    """The last `validation_split` fraction of the samples, taken before any shuffling."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"{what}: validation_split must be in (0, 1), received "
                         f"validation_split={validation_split}")
    n = num_samples(x, y, sw, what)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"{what}: {n} samples are too few to split into training and "
                         f"validation parts with validation_split={validation_split}")

    def take(part, sl):
        return None if part is None else tree.map_structure(
            lambda a: None if a is None else a[sl], part)

    train = take(x, slice(0, split_at)), take(y, slice(0, split_at)), take(sw, slice(0, split_at))
    val = take(x, slice(split_at, n)), take(y, slice(split_at, n)), take(sw, slice(split_at, n))
    _warn_missing_classes(train[1], val[1], validation_split, split_at, n)
    return train, val


def _classes(y):
    if y is None or isinstance(y, (list, dict)):
        return None
    if y.ndim == 1 or y.ndim == 2 and y.shape[1] == 1:
        if y.dtype.kind in "iub":
            return set(np.unique(y).tolist())
        return None
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind == "f":
        if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
            return set(np.unique(np.argmax(y, axis=1)).tolist())
    return None


def _warn_missing_classes(y_train, y_val, fraction, split_at, n):
    train_classes, val_classes = _classes(y_train), _classes(y_val)
    if train_classes is None or val_classes is None:
        return
    missing = sorted(val_classes - train_classes)
    if missing:
        warnings.warn(
            f"validation_split={fraction}: the validation part (the last {n - split_at} of "
            f"{n} samples, taken before shuffling) holds classes {missing} that the training "
            f"part never sees. Is the data sorted by class? Shuffle it before fit().",
            stacklevel=4)


class ArrayAdapter:
    """Batches of in-memory arrays; a new permutation every epoch when shuffling.

    Shuffled batches are gathered into two alternating buffers allocated once: a fresh 100 KB
    array per batch costs more in page faults than the copy itself on this kind of machine
    (PERF_NOTES), and the previous batch stays intact while the current one is in use."""

    reiterable = True

    def __init__(self, x, y, sw, batch_size: int, shuffle=False, what="fit"):
        self.x, self.y, self.sw = x, y, sw
        self.n = num_samples(x, y, sw, what)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.n / self.batch_size)
        self._leaves = tree.flatten((x, y, sw))
        # The common case, one input array and one target array, skips structure walks.
        self._simple = isinstance(x, np.ndarray) and all(
            v is None or isinstance(v, np.ndarray) for v in (y, sw))
        self._buffers = None

    def _pack(self, leaves):
        if self._simple:
            return pack(*leaves)
        return pack(*tree.pack_like((self.x, self.y, self.sw), iter(leaves)))

    def _gather(self, idx, k):
        if self._buffers is None:
            bs = min(self.batch_size, self.n)
            self._buffers = [None if a is None else
                             [np.empty((bs,) + a.shape[1:], a.dtype) for _ in range(2)]
                             for a in self._leaves]
        m = len(idx)
        return self._pack([None if a is None else np.take(a, idx, axis=0, out=buf[k % 2][:m])
                           for a, buf in zip(self._leaves, self._buffers)])

    def __iter__(self):
        bs, n = self.batch_size, self.n
        if self.shuffle == "batch":
            batches, order = _rng().permutation(self.num_batches), None
        else:
            batches = range(self.num_batches)
            order = _rng().permutation(n) if self.shuffle else None
        for k, b in enumerate(batches):
            lo, hi = b * bs, min((b + 1) * bs, n)
            self.last_batch = (lo, order)  # sample_index() maps a batch position back
            if order is None:  # views, no copy
                yield self._pack([None if a is None else a[lo:hi] for a in self._leaves])
            else:
                yield self._gather(order[lo:hi], k)


def sample_index(adapter, position: int):
    """The index in the data of the sample at `position` of the adapter's last batch (None when
    the adapter cannot say: a generator, a dataset)."""
    last = getattr(adapter, "last_batch", None)
    if last is None:
        return None
    lo, order = last
    return int(lo + position if order is None else order[lo + position])


def _rng():
    from grebe import random as grebe_random

    return grebe_random.generator()


def pack(x, y=None, sample_weight=None) -> tuple:
    """The batch as Keras hands it to train_step: (x,), (x, y) or (x, y, sample_weight) —
    sample weights only when given."""
    if y is None and sample_weight is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack(batch):
    """(x,), (x, y), (x, y, sample_weight) or x alone -> (x, y, sample_weight); lists count as
    tuples (a torch DataLoader yields lists)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) == 1:
        return batch[0], None, None
    if len(batch) == 2:
        return batch[0], batch[1], None
    if len(batch) == 3:
        return batch
    raise ValueError(f"a data batch must be x, (x,), (x, y) or (x, y, sample_weight); received "
                     f"a tuple of {len(batch)} elements")


class IterableAdapter:
    """Batches from a generator or any iterable of batches; __len__ is optional."""

    def __init__(self, data, what="fit"):
        self.data = data
        self.what = what
        cls = type(data)
        self.by_index = not hasattr(cls, "__iter__") and hasattr(cls, "__getitem__") and \
            hasattr(cls, "__len__")
        self.reiterable = not hasattr(data, "__next__")
        try:
            self.num_batches = len(data)
        except TypeError:
            self.num_batches = None
        if not self.by_index and not hasattr(data, "__iter__"):
            raise TypeError(f"{what}: expected arrays, a generator or an iterable of batches; "
                            f"received {type(data).__name__}")

    def __iter__(self):
        if self.by_index:
            for i in range(len(self.data)):
                yield self._convert(self.data[i])
            on_end = getattr(self.data, "on_epoch_end", None)
            if on_end is not None:
                on_end()
            return
        for batch in self.data:
            yield self._convert(batch)

    @staticmethod
    def _convert(batch):
        x, y, sw = unpack(batch)
        return pack(standardize(x, "batch x"), standardize(y, "batch y"),
                    standardize(sw, "batch sample_weight"))


def make_adapter(x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 class_weight=None, what="fit"):
    if is_arrays(x):
        x, y, sw = standardize(x, f"{what}: x"), standardize(y, f"{what}: y"), \
            standardize(sample_weight, f"{what}: sample_weight")
        if batch_size is None:
            batch_size = 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                batch_size < 1:
            raise ValueError(f"{what}: batch_size must be a positive integer, received "
                             f"batch_size={batch_size!r}")
        if class_weight is not None:
            if sw is not None:
                raise ValueError(f"{what}: give class_weight or sample_weight, not both")
            if y is None or tree.is_nested(y):
                raise ValueError(f"{what}: class_weight needs a single target array "
                                 f"(it is not supported for multi-output models)")
            sw = class_weight_to_sample_weight(y, class_weight, what)
        return ArrayAdapter(x, y, sw, batch_size, shuffle, what)
    if y is not None:
        raise ValueError(f"{what}: y must not be given when x is a generator or a dataset "
                         f"(it yields (x, y) batches); received y of type {type(y).__name__}")
    if sample_weight is not None:
        raise ValueError(f"{what}: sample_weight must not be given when x is a generator or a "
                         f"dataset: yield (x, y, sample_weight) batches instead")
    if class_weight is not None:
        raise ValueError(f"{what}: class_weight is supported for arrays only; yield "
                         f"(x, y, sample_weight) batches instead")
    return IterableAdapter(x, what)


class EpochIterator:
    """Runs epochs of (step, batch) over an adapter. With steps_per_epoch the iterator carries
    over from one epoch to the next (Keras's rule) and restarts once a pass is used up."""

    def __init__(self, adapter, steps=None):
        self.adapter = adapter
        self.steps = None if steps is None else int(steps)
        self._it = None
        self._seen = 0
        self.exhausted = False  # a one-shot generator ran dry: nothing more will come

    @property
    def num_steps(self):
        if self.steps is not None:
            return self.steps
        return self.adapter.num_batches

    def __iter__(self):
        if self.steps is None:
            for step, batch in enumerate(self.adapter):
                yield step, batch
            if not self.adapter.reiterable:
                self.exhausted = True
            return
        for step in range(self.steps):
            if self._it is None:
                if self.exhausted:
                    return
                self._it = iter(self.adapter)
                self._seen = 0
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                if not self.adapter.reiterable:
                    self.exhausted = True
                warnings.warn(
                    f"Your input ran out of data after {step} of {self.steps} steps; the "
                    f"epoch ends early. Make sure the dataset or generator can give at least "
                    f"steps_per_epoch * epochs batches.", stacklevel=3)
                return
            self._seen += 1
            yield step, batch
        n = self.adapter.num_batches
        if n is not None and self._seen >= n:
            self._it = None
