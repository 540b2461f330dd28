"""The one random source of grebe: a global numpy Generator used by every random draw
(weight initializers, dropout masks, dataset shuffling), so one seed reproduces a whole run;
and Keras 3's keras.random over it (normal, uniform, truncated_normal, randint, dropout,
shuffle, categorical, gamma, beta, binomial, SeedGenerator).

>>> import grebe
>>> grebe.random.seed(1234)
>>> a = grebe.random.generator().standard_normal(3)
>>> grebe.random.seed(1234)
>>> bool((a == grebe.random.generator().standard_normal(3)).all())
True
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def seed(s: int | None) -> None:
    """Reseeds the global generator (None: fresh entropy from the OS)."""
    global _generator
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0):
        raise ValueError(f"grebe.random.seed: expected a non-negative integer or None, "
                         f"received {s!r}")
    _generator = np.random.default_rng(None if s is None else int(s))


def generator() -> np.random.Generator:
    """The global Generator (fetch it at each use: seed() replaces it)."""
    return _generator


def make_generator(s: int | None) -> np.random.Generator:
    """A private Generator for an explicit seed; the global one when `s` is None."""
    if s is None:
        return _generator
    return np.random.default_rng(int(s))


# ---- Keras 3's keras.random ----------------------------------------------------------------
# seed=None draws from the global generator (grebe.utils.set_random_seed reproduces it), an
# int gives the same values at every call, a SeedGenerator advances its own stream.

class SeedGenerator:
    """A random stream of its own, as Keras's SeedGenerator: pass it as `seed=` and each call
    draws new values; two generators made with the same seed draw the same values."""

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is None:
            seed = int(_generator.integers(0, 2**31 - 1))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"SeedGenerator: seed must be a non-negative integer or None, "
                             f"received seed={seed!r}")
        self._initial_seed = int(seed)
        self.name = name or "seed_generator"
        self._rng = np.random.default_rng(self._initial_seed)

    def next(self, ordered=True):
        """A fresh (2,) uint32 seed pair from this stream (advances it)."""
        from grebe.tensor import Tensor
        return Tensor(self._rng.integers(0, 2**32, size=2, dtype=np.uint32))

    @property
    def state(self):
        from grebe.tensor import Tensor
        return Tensor(np.array([self._initial_seed, 0], np.uint32))

    def get_config(self) -> dict:
        return {"seed": self._initial_seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _rng(seed, who: str) -> np.random.Generator:
    if seed is None:
        return _generator
    if isinstance(seed, SeedGenerator):
        return seed._rng
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"grebe.random.{who}: seed must be None, an integer or a "
                         f"SeedGenerator, received seed={seed!r}")
    return np.random.default_rng(int(seed))


def _shape(shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


def _float_dtype(dtype, who: str):
    if dtype not in (None, "float32", np.float32) and np.dtype(dtype) != np.float32:
        raise ValueError(f"grebe.random.{who}: grebe draws float32 values, received "
                         f"dtype={dtype!r}")
    return np.float32


def _out(a):
    from grebe.tensor import Tensor
    return Tensor(a)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from N(mean, stddev^2)."""
    d = _float_dtype(dtype, "normal")
    z = _rng(seed, "normal").standard_normal(_shape(shape), dtype=d)
    return _out(z * np.float32(stddev) + np.float32(mean))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws from U[minval, maxval); an integer dtype draws integers (as randint)."""
    if dtype is not None and np.dtype(dtype).kind in "iu":
        return randint(shape, minval, maxval, dtype, seed)
    d = _float_dtype(dtype, "uniform")
    u = _rng(seed, "uniform").random(_shape(shape), dtype=d)
    return _out(u * np.float32(maxval - minval) + np.float32(minval))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """N(mean, stddev^2) redrawn until within two standard deviations of the mean."""
    d = _float_dtype(dtype, "truncated_normal")
    g = _rng(seed, "truncated_normal")
    z = g.standard_normal(_shape(shape))
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return _out((z * stddev + mean).astype(d))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in [minval, maxval)."""
    d = np.dtype(dtype)
    if d.kind not in "iu":
        raise ValueError(f"grebe.random.randint: dtype must be an integer type, received "
                         f"{dtype!r}")
    return _out(_rng(seed, "randint").integers(minval, maxval, _shape(shape)).astype(d))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Keras's random.dropout: zeroes with probability `rate`, scales the rest by 1/(1-rate)."""
    from grebe.ops.dropout import dropout as _dropout
    return _dropout(inputs, rate, noise_shape, _rng(seed, "dropout"))


def shuffle(x, axis=0, seed=None):
    """x permuted along `axis` (a gather: gradients flow back to the original positions)."""
    from grebe import ops
    n = np.shape(x)[axis]
    return ops.take(x, _rng(seed, "shuffle").permutation(n), axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """(batch, num_samples) class indices drawn from softmax(logits) per row."""
    a = np.asarray(logits.data if hasattr(logits, "data") else logits, np.float64)
    if a.ndim != 2:
        raise ValueError(f"grebe.random.categorical: logits must be 2-D (batch, classes), "
                         f"received shape {a.shape}")
    p = np.exp(a - a.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    g = _rng(seed, "categorical")
    cdf = np.cumsum(p, -1)
    u = g.random((a.shape[0], int(num_samples)))
    idx = np.minimum((u[:, :, None] > cdf[:, None, :]).sum(-1), a.shape[1] - 1)
    return _out(idx.astype(dtype))


def gamma(shape, alpha, dtype=None, seed=None):
    d = _float_dtype(dtype, "gamma")
    return _out(_rng(seed, "gamma").gamma(alpha, size=_shape(shape)).astype(d))


def beta(shape, alpha, beta, dtype=None, seed=None):  # noqa: A002 (Keras's names)
    d = _float_dtype(dtype, "beta")
    return _out(_rng(seed, "beta").beta(alpha, beta, size=_shape(shape)).astype(d))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    d = _float_dtype(dtype, "binomial")
    g = _rng(seed, "binomial")
    return _out(g.binomial(np.asarray(counts, np.int64), np.asarray(probabilities),
                           size=_shape(shape)).astype(d))
