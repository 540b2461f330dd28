"""split_dataset: Keras's two-way split of a dataset (arrays, a tuple/dict of arrays, a list of
samples, or a grebe.data.Dataset of samples) into two grebe.data.Dataset objects.

>>> import numpy as np
>>> from grebe.utils import split_dataset
>>> left, right = split_dataset(np.arange(10), left_size=0.8)
>>> len(left), len(right), [int(v) for v in right]
(8, 2, [8, 9])
"""
from __future__ import annotations

import numpy as np

__all__ = ["split_dataset"]


def _as_slices(dataset):
    """(arrays, n): the dataset as numpy arrays sliced along the first axis."""
    from grebe import data

    if isinstance(dataset, data.Dataset):
        samples = list(dataset)
        if samples and isinstance(samples[0], tuple):
            return tuple(np.stack([s[k] for s in samples]) for k in range(len(samples[0]))), \
                len(samples)
        if samples and isinstance(samples[0], dict):
            return {k: np.stack([s[k] for s in samples]) for k in samples[0]}, len(samples)
        return np.stack(samples) if samples else np.empty((0,)), len(samples)
    if isinstance(dataset, dict):
        arrays = {k: np.asarray(v) for k, v in dataset.items()}
        lengths = {len(v) for v in arrays.values()}
    elif isinstance(dataset, tuple):
        arrays = tuple(np.asarray(v) for v in dataset)
        lengths = {len(v) for v in arrays}
    else:
        arrays = np.asarray(dataset)
        lengths = {len(arrays)} if arrays.ndim else {None}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(f"split_dataset: the arrays of the dataset must have the same first "
                         f"dimension; found lengths {sorted(map(str, lengths))}")
    return arrays, lengths.pop()


def _size(value, n: int, arg: str):
    """A split size in samples, as Keras rescales it: a float in (0, 1) is round(value * n),
    an int is a count in 1..n-1."""
    if value is None:
        return None
    if isinstance(value, float):
        if not 0.0 < value < 1.0:
            raise ValueError(f"split_dataset: `{arg}` should be either a positive integer "
                             f"smaller than {n}, or a float within the range `[0, 1]`. "
                             f"Received: {arg}={value}")
        return int(round(value * n))
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 < value < n:
            raise ValueError(f"split_dataset: `{arg}` should be either a positive integer "
                             f"smaller than {n}, or a float within the range `[0, 1]`. "
                             f"Received: {arg}={value}")
        return int(value)
    raise TypeError(f"split_dataset: Invalid `{arg}` Type. Expected: int or float or None, "
                    f"Received: type({arg})={type(value)}")


def _take(arrays, idx):
    if isinstance(arrays, dict):
        return {k: v[idx] for k, v in arrays.items()}
    if isinstance(arrays, tuple):
        return tuple(v[idx] for v in arrays)
    return arrays[idx]


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Splits `dataset` into (left, right) grebe.data.Dataset objects of samples. Sizes are
    fractions (float in (0, 1), rounded to samples) or counts (int); give one and the other is
    the rest; none gives half and half. shuffle permutes the samples first (with
    `seed`)."""
    from grebe import data

    arrays, n = _as_slices(dataset)
    left, right = _size(left_size, n, "left_size"), _size(right_size, n, "right_size")
    if left is None and right is None:
        left = int(round(0.5 * n))
    if left is None:
        left = n - right
    elif right is None:
        right = n - left
    if left + right > n:
        raise ValueError(f"split_dataset: left_size + right_size ({left} + {right} samples) "
                         f"exceeds the dataset's size {n}")
    if left == 0 or right == 0:
        raise ValueError(f"split_dataset: both parts must be non-empty; received "
                         f"left_size={left_size}, right_size={right_size} for {n} samples")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    return (data.Dataset.from_tensor_slices(_take(arrays, order[:left])),
            data.Dataset.from_tensor_slices(_take(arrays, order[left:left + right])))
