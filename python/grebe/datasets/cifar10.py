"""CIFAR-10 from the standard *binary* version in a local folder — grebe never downloads, and it
never reads the python version (pickles can run code when opened).

The binary version (cifar-10-binary.tar.gz) holds data_batch_1.bin ... data_batch_5.bin and
test_batch.bin: records of 1 label byte then 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
each 32x32 row-major). ``path`` may be the folder of the .bin files, its parent (holding
cifar-10-batches-bin/), or the .tar.gz archive itself (read in memory, nothing is extracted).

>>> from grebe.datasets import cifar10                                       # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = cifar10.load_data("~/data/cifar")  # doctest: +SKIP
>>> x_train.shape, y_train.shape                                            # doctest: +SKIP
((50000, 32, 32, 3), (50000, 1))
"""
from __future__ import annotations

import os
import re
import tarfile
import zlib

import numpy as np

NUM_CLASSES = 10
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
RECORD = 1 + 32 * 32 * 3
_TRAIN = re.compile(r"^data_batch_(\d+)\.bin$")


def parse_batch(data: bytes, source: str = "CIFAR-10 batch"):
    """One binary batch to (x uint8 (n, 32, 32, 3) NHWC, y uint8 (n,))."""
    if len(data) == 0 or len(data) % RECORD:
        raise ValueError(f"{source}: truncated or not a CIFAR-10 binary batch: {len(data)} bytes "
                         f"is not a positive multiple of the {RECORD}-byte record")
    rec = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    y = rec[:, 0].copy()
    if y.max() >= NUM_CLASSES:
        bad = int(np.argmax(y >= NUM_CLASSES))
        raise ValueError(f"{source}: record {bad} has label {y[bad]}, expected 0..9 (is this "
                         f"CIFAR-100, whose records carry 2 label bytes?)")
    x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # NCHW planes -> NHWC
    return np.ascontiguousarray(x), y


def _files_from_folder(folder):
    names = os.listdir(folder)
    if "test_batch.bin" not in names and os.path.isdir(os.path.join(folder,
                                                                    "cifar-10-batches-bin")):
        folder = os.path.join(folder, "cifar-10-batches-bin")
        names = os.listdir(folder)

    def read(name):
        with open(os.path.join(folder, name), "rb") as f:
            return f.read()

    return folder, names, read


def _files_from_tar(path):
    try:
        tar = tarfile.open(path, "r:*")
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a readable tar archive ({e})") from None

    def read(name):
        try:
            return tar.extractfile(members[name]).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupted archive member {name!r} ({e})") from None

    return path, list(members), read


_DEFAULTS = ("~/.keras/datasets/cifar-10-batches-bin", "~/.keras/datasets/cifar-10-binary.tar.gz")


def load_data(path=None):
    """Returns ``(x_train, y_train), (x_test, y_test)`` as Keras's cifar10.load_data: x uint8
    (n, 32, 32, 3) channels-last, y uint8 (n, 1). The train part concatenates every
    data_batch_<k>.bin present, in order of k (1..5 for the full set). `path` None looks in
    Keras's cache: ~/.keras/datasets/cifar-10-batches-bin/, then cifar-10-binary.tar.gz."""
    if path is None:
        found = [p for p in map(os.path.expanduser, _DEFAULTS) if os.path.exists(p)]
        path = found[0] if found else _DEFAULTS[0]
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path):
        where, names, read = _files_from_folder(path)
    elif os.path.isfile(path):
        where, names, read = _files_from_tar(path)
    else:
        raise FileNotFoundError(f"cifar10.load_data: no such file or folder {path!r}; grebe "
                                f"does not download: put the binary version there first")
    train = sorted((int(m.group(1)), n) for n in names if (m := _TRAIN.match(n)))
    if not train or "test_batch.bin" not in names:
        raise FileNotFoundError(
            f"cifar10.load_data: {where!r} lacks "
            f"{'data_batch_1.bin ... ' if not train else ''}"
            f"{'test_batch.bin' if 'test_batch.bin' not in names else ''} (the binary version "
            f"of CIFAR-10; the python version's pickles are not read)")
    parts = [parse_batch(read(n), source=os.path.join(where, n)) for _, n in train]
    x_test, y_test = parse_batch(read("test_batch.bin"),
                                 source=os.path.join(where, "test_batch.bin"))
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return (x_train, y_train[:, None]), (x_test, y_test[:, None])
