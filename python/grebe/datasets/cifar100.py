"""CIFAR-100 (50000 train, 10000 test 32x32 colour images; 100 fine and 20 coarse classes) from
the *binary* version, ``cifar-100-binary.tar.gz`` — grebe never reads the python version Keras
downloads (cifar-100-python.tar.gz holds pickles, which can run code when opened), and never
downloads. Get https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz and put it (or its
extracted ``cifar-100-binary/`` folder) in ``~/.keras/datasets/``.

train.bin and test.bin hold records of 1 coarse-label byte, 1 fine-label byte, then 3072 pixel
bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major).

>>> from grebe.datasets import cifar100                                          # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode="fine")  # doctest: +SKIP
"""
from __future__ import annotations

import os

import numpy as np

from grebe.datasets import cifar10

__all__ = ["load_data", "parse_batch"]

RECORD = 2 + 32 * 32 * 3
_DEFAULTS = ("~/.keras/datasets/cifar-100-binary", "~/.keras/datasets/cifar-100-binary.tar.gz")


def parse_batch(data: bytes, label_mode: str = "fine", source: str = "CIFAR-100 batch"):
    """One binary batch to (x uint8 (n, 32, 32, 3) NHWC, y int64 (n, 1) of `label_mode`)."""
    if len(data) == 0 or len(data) % RECORD:
        raise ValueError(f"{source}: truncated or not a CIFAR-100 binary batch: {len(data)} "
                         f"bytes is not a positive multiple of the {RECORD}-byte record")
    rec = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    column, classes = (1, 100) if label_mode == "fine" else (0, 20)
    y = rec[:, column].astype(np.int64)
    if y.max() >= classes:
        bad = int(np.argmax(y >= classes))
        raise ValueError(f"{source}: record {bad} has {label_mode} label {y[bad]}, expected "
                         f"0..{classes - 1}")
    x = rec[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # NCHW planes -> NHWC
    return np.ascontiguousarray(x), y[:, None]


def _source(path):
    """(where, names, read) for a folder (or its parent) or the .tar.gz archive."""
    if path is None:
        found = [os.path.expanduser(p) for p in _DEFAULTS if os.path.exists(os.path.expanduser(p))]
        if not found:
            raise FileNotFoundError(
                "cifar100.load_data: neither ~/.keras/datasets/cifar-100-binary/ nor "
                "~/.keras/datasets/cifar-100-binary.tar.gz exists; grebe never downloads and "
                "never reads the python (pickle) version: put the binary version, "
                "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz, there")
        path = found[0]
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path):
        if "test.bin" not in os.listdir(path) and os.path.isdir(
                os.path.join(path, "cifar-100-binary")):
            path = os.path.join(path, "cifar-100-binary")
        return cifar10._files_from_folder(path)
    if os.path.isfile(path):
        return cifar10._files_from_tar(path)
    raise FileNotFoundError(f"cifar100.load_data: no such file or folder {path!r}; grebe "
                            f"never downloads: put cifar-100-binary.tar.gz there first")


def load_data(label_mode: str = "fine", path=None):
    """Returns ``(x_train, y_train), (x_test, y_test)`` as Keras's cifar100.load_data: x uint8
    (n, 32, 32, 3) channels-last, y int64 (n, 1) fine (0..99) or coarse (0..19) labels.
    `path`: the cifar-100-binary folder (or its parent) or cifar-100-binary.tar.gz; by default
    either one in ~/.keras/datasets."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'cifar100.load_data: `label_mode` must be one of `"fine"`, '
                         f'`"coarse"`. Received: label_mode={label_mode}.')
    where, names, read = _source(path)
    missing = [n for n in ("train.bin", "test.bin") if n not in names]
    if missing:
        raise FileNotFoundError(f"cifar100.load_data: {where!r} lacks {missing} (the binary "
                                f"version of CIFAR-100; the python version is not read)")
    x_train, y_train = parse_batch(read("train.bin"), label_mode,
                                   os.path.join(where, "train.bin"))
    x_test, y_test = parse_batch(read("test.bin"), label_mode, os.path.join(where, "test.bin"))
    return (x_train, y_train), (x_test, y_test)
