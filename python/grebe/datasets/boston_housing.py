"""Boston housing prices (506 samples, 13 features; the target is the median value in k$) from
Keras's cached ``~/.keras/datasets/boston_housing.npz`` (read with allow_pickle=False; never
downloaded).

>>> from grebe.datasets import boston_housing                                  # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()         # doctest: +SKIP
"""
from __future__ import annotations

import zipfile
import zlib

import numpy as np

from grebe.utils.file_utils import get_file

__all__ = ["load_data"]
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Returns ``(x_train, y_train), (x_test, y_test)`` as Keras's boston_housing.load_data:
    the samples shuffled with `seed`, the last `test_split` fraction for test."""
    if not 0.0 <= test_split < 1.0:
        raise ValueError(f"boston_housing.load_data: test_split must be in [0, 1). Received: "
                         f"test_split={test_split}")
    fpath = get_file(fname=path, origin=ORIGIN)
    try:
        with np.load(fpath, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"boston_housing.load_data: {fpath} is not Keras's "
                         f"boston_housing.npz with arrays x and y ({e})") from None
    if len(x) != len(y):
        raise ValueError(f"boston_housing.load_data: {fpath}: {len(x)} samples but "
                         f"{len(y)} targets")
    idx = np.arange(len(x))
    np.random.RandomState(seed).shuffle(idx)
    x, y = x[idx], y[idx]
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))
