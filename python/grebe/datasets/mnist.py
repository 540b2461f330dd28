"""MNIST (and Fashion-MNIST, same files) from a local folder — grebe never downloads.

The folder holds either the four standard IDX files, gzipped or not::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

(``train-images.idx3-ubyte`` spellings work too), or Keras's ``mnist.npz`` (x_train, y_train,
x_test, y_test; read with allow_pickle=False). ``path`` may also name the .npz file itself.

>>> from grebe.datasets import mnist                                     # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data("~/data/mnist")  # doctest: +SKIP
>>> x_train.shape, x_train.dtype                                        # doctest: +SKIP
((60000, 28, 28), dtype('uint8'))
"""
from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib

import numpy as np

NUM_CLASSES = 10
# IDX type byte -> big-endian numpy dtype
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_PARTS = {"x_train": ("train", "images", 3), "y_train": ("train", "labels", 1),
          "x_test": ("t10k", "images", 3), "y_test": ("t10k", "labels", 1)}


def _read_maybe_gzip(path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupted or truncated gzip data ({e})") from None


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Parses IDX bytes (magic 0 0 type ndim, big-endian int32 dims, data) to a numpy array in
    native byte order. Raises ValueError when the header is wrong or the data is short/long."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{source}: not an IDX file (bad magic number {data[:4].hex()})")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{source}: not an IDX file (unknown data type 0x{code:02x})")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise ValueError(f"{source}: truncated IDX header ({len(data)} bytes, expected {head})")
    dims = struct.unpack(f">{ndim}i", data[4:head])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - head != expected:
        state = "truncated" if len(data) - head < expected else "has trailing bytes"
        raise ValueError(f"{source}: IDX file {state}: shape {dims} of {dtype} needs {expected} "
                         f"bytes of data, found {len(data) - head}")
    return np.frombuffer(data, dtype=dtype, offset=head).reshape(dims).astype(
        dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (optionally gzipped) to a numpy array."""
    return parse_idx(_read_maybe_gzip(path), source=os.fspath(path))


def _find(folder, prefix, kind, ndim):
    stems = [f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"]
    for stem in stems:
        for name in (stem, stem + ".gz"):
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                return p
    return None


def _load_npz(path):
    errors = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)
    try:
        f = np.load(path, allow_pickle=False)
    except errors as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    if not hasattr(f, "files"):  # a plain .npy array
        raise ValueError(f"{path}: expected an .npz archive with x_train, y_train, x_test, "
                         f"y_test; found a single array")
    with f:
        missing = [k for k in _PARTS if k not in f.files]
        if missing:
            raise ValueError(f"{path}: not an MNIST .npz: arrays {missing} are missing "
                             f"(found {f.files})")
        try:
            return {k: f[k] for k in _PARTS}
        except errors as e:
            raise ValueError(f"{path}: corrupted .npz file ({e})") from None


def load_data(path: str = "~/.keras/datasets"):
    """Returns ``(x_train, y_train), (x_test, y_test)`` as Keras's mnist.load_data: x uint8
    (n, 28, 28) with ink 0..255, y uint8 labels 0..9. `path`: a folder with the IDX files or
    mnist.npz, or the path of an .npz file. Scale with ``x.astype('float32') / 255``."""
    path = os.path.expanduser(os.fspath(path))
    if os.path.isfile(path):
        arrays = _load_npz(path)
    elif os.path.isdir(path):
        found = {k: _find(path, *spec) for k, spec in _PARTS.items()}
        if all(found.values()):
            arrays = {k: read_idx(p) for k, p in found.items()}
        elif os.path.isfile(os.path.join(path, "mnist.npz")):
            arrays = _load_npz(os.path.join(path, "mnist.npz"))
        else:
            missing = [f"{_PARTS[k][0]}-{_PARTS[k][1]}-idx{_PARTS[k][2]}-ubyte[.gz]"
                       for k, p in found.items() if p is None]
            raise FileNotFoundError(
                f"mnist.load_data: {path!r} has neither mnist.npz nor the IDX files "
                f"{missing}; grebe does not download: put the files there first")
    else:
        raise FileNotFoundError(f"mnist.load_data: no such file or folder {path!r}")
    return _check(arrays, path)


def _check(arrays, source):
    for part in ("train", "test"):
        x, y = arrays["x_" + part], arrays["y_" + part]
        if x.ndim != 3 or y.ndim != 1:
            raise ValueError(f"{source}: expected {part} images of shape (n, rows, cols) and "
                             f"labels of shape (n,), found {x.shape} and {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"{source}: {len(x)} {part} images but {len(y)} labels")
        if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
            raise ValueError(f"{source}: {part} labels outside 0..9 (min {y.min()}, "
                             f"max {y.max()})")
    return ((arrays["x_train"], arrays["y_train"].astype(np.uint8)),
            (arrays["x_test"], arrays["y_test"].astype(np.uint8)))
