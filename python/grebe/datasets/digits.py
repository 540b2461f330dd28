"""scikit-learn's handwritten digits: 1797 real 8x8 scans (UCI optical digits), 10 classes,
shipped inside scikit-learn, so they load offline.

>>> from grebe.datasets import digits
>>> (x_train, y_train), (x_test, y_test) = digits.load_data()
>>> x_train.shape, x_train.dtype, y_train.dtype, float(x_train.max()) <= 1.0
((1437, 8, 8), dtype('float32'), dtype('int64'), True)
>>> (x, y), _ = digits.load_data(size=32, channels=3)     # for the example CNN (32, 32, 3)
>>> x.shape
(1437, 32, 32, 3)
"""
from __future__ import annotations

import numpy as np

NUM_CLASSES = 10


def _load_sklearn():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("grebe.datasets.digits needs scikit-learn: pip install scikit-learn "
                          "(or pip install 'grebe[data]')") from None
    bunch = load_digits()
    return bunch.images, bunch.target


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear interpolation weights with half-pixel centers and clamped edges
    (the convention of PIL and tf.image.resize), so ``R @ img @ R.T`` resizes a square image."""
    centers = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    centers = np.clip(centers, 0, n_in - 1)
    lo = np.floor(centers).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = centers - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def load_data(test_split: float = 0.2, seed: int = 0, size: int | None = None,
              channels: int | None = None, stratify: bool = True):
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    x: float32 in [0, 1] (the 0..16 ink levels / 16), shape (n, 8, 8) by default;
    ``size=s`` resizes to s x s by bilinear interpolation; ``channels=c`` adds a channels-last
    axis repeated c times, (n, s, s, c) — ``size=32, channels=3`` is the 32x32 RGB input of the
    example CNN. y: int64 labels 0..9.

    test_split: fraction held out (stratified by class when stratify=True); seed: the split is
    the same for the same seed.
    """
    from grebe.utils import train_test_split

    if not 0.0 < test_split < 1.0:
        raise ValueError(f"digits.load_data: test_split must be in (0, 1), received "
                         f"test_split={test_split}")
    images, labels = _load_sklearn()
    x = (np.asarray(images, dtype=np.float64) / 16.0)
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"digits.load_data: size must be a positive integer, received "
                             f"size={size!r}")
        r = resize_matrix(x.shape[1], int(size))
        x = np.einsum("ij,njk,lk->nil", r, x, r)
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    if channels is not None:
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or \
                channels < 1:
            raise ValueError(f"digits.load_data: channels must be a positive integer, received "
                             f"channels={channels!r}")
        x = np.ascontiguousarray(np.repeat(x[..., None], int(channels), axis=-1))
    y = np.asarray(labels, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_split, seed=seed, stratify=y if stratify else None)
    return (x_train, y_train), (x_test, y_test)
