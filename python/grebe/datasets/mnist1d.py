"""MNIST-1D (Greydanus 2020): 1-D signals of length 40 made from 10 digit templates by random
padding, translation, shear, scaling and noise. Generated locally by the ``mnist1d`` package's
``make_dataset`` (never its download path), so it works offline; the same arguments give the
same data.

>>> from grebe.datasets import mnist1d                                 # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = mnist1d.load_data()        # doctest: +SKIP
>>> x_train.shape, x_test.shape                                       # doctest: +SKIP
((4000, 40), (1000, 40))
"""
from __future__ import annotations

import random

import numpy as np

NUM_CLASSES = 10
_cache: dict = {}


def _generate(num_samples: int, train_split: float, seed: int, shuffle_seq: bool):
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ImportError("grebe.datasets.mnist1d needs the mnist1d package: "
                          "pip install mnist1d") from None
    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    args.shuffle_seq = shuffle_seq
    # make_dataset seeds numpy's and Python's global RNGs; put them back afterwards so that
    # loading data does not change a program's other random streams.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return (np.asarray(data["x"], np.float32), np.asarray(data["y"], np.int64),
            np.asarray(data["x_test"], np.float32), np.asarray(data["y_test"], np.int64))


def load_data(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42,
              as_sequence: bool = False, shuffle_seq: bool = False):
    """Returns ``(x_train, y_train), (x_test, y_test)``: x float32 (n, 40) — standardized to
    mean 0, std 1 over the whole set — or (n, 40, 1) with ``as_sequence=True`` for RNN/Conv1D
    layers (NLC); y int64 labels 0..9. The defaults are the published MNIST-1D (4000 train,
    1000 test, seed 42). Results are cached in memory for the same arguments."""
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 20:
        raise ValueError(f"mnist1d.load_data: num_samples must be an integer >= 20, received "
                         f"{num_samples!r}")
    if not 0.0 < train_split < 1.0:
        raise ValueError(f"mnist1d.load_data: train_split must be in (0, 1), received "
                         f"{train_split}")
    key = (int(num_samples), float(train_split), int(seed), bool(shuffle_seq))
    if key not in _cache:
        _cache[key] = _generate(*key)
    x, y, xt, yt = (a.copy() for a in _cache[key])
    if as_sequence:
        x, xt = x[..., None], xt[..., None]
    return (x, y), (xt, yt)
