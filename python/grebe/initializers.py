"""Weight initializers with Keras 3 names, defaults and fan rules.

An initializer is a callable `init(shape) -> np.ndarray` (float32, C-contiguous) with
`get_config()`. Unseeded initializers draw from grebe's global generator (`grebe.random`), so
`grebe.random.seed(s)` reproduces every weight; one given `seed=` draws the same values at every
call, as in Keras.

>>> import grebe
>>> init = grebe.initializers.get("glorot_uniform")
>>> init((784, 128)).shape
(784, 128)
>>> grebe.initializers.get({"class_name": "Constant", "config": {"value": 0.5}})((2,))
array([0.5, 0.5], dtype=float32)
"""
from __future__ import annotations

import math

import numpy as np

from grebe import random as _random

__all__ = [
    "Initializer", "Constant", "Zeros", "Ones", "Identity", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal",
    "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal", "compute_fans", "get",
    "serialize", "deserialize",
]


def compute_fans(shape) -> tuple:
    """(fan_in, fan_out) as Keras: a conv kernel (..., in, out) multiplies both by the
    receptive field (the product of the leading axes); a vector uses its length for both."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


def _shape(shape, who: str) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{who}: expected a shape (tuple of ints), received {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{who}: shape dimensions must be non-negative, received {shape}")
    return shape


def _check_seed(seed, who: str):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{who}: expected an integer seed or None, received seed={seed!r}")
    return None if seed is None else int(seed)


class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype=None)` and `get_config()`."""

    def __call__(self, shape, dtype=None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Random(Initializer):
    """An initializer that draws random numbers: its own generator when seeded."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed, type(self).__name__)

    def _rng(self) -> np.random.Generator:
        # A fixed seed restarts its stream at each call (same values each time, as Keras).
        return _random.make_generator(self.seed)


# ---- constants ---------------------------------------------------------------------------
class Constant(Initializer):
    """Every element set to `value`."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return np.full(_shape(shape, "Constant"), self.value, dtype=np.float32)

    def get_config(self):
        return {"value": self.value}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape, "Zeros"), dtype=np.float32)


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape, "Ones"), dtype=np.float32)


class Identity(Initializer):
    """gain * the identity matrix (2-D shapes only; rectangular gives ones on the diagonal)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "Identity")
        if len(shape) != 2:
            raise ValueError(f"Identity: the initializer only works for 2-D shapes, received "
                             f"shape={shape}")
        return (self.gain * np.eye(*shape)).astype(np.float32)

    def get_config(self):
        return {"gain": self.gain}


# ---- random ------------------------------------------------------------------------------
class RandomNormal(_Random):
    """Normal(mean, stddev)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        x = self._rng().standard_normal(_shape(shape, "RandomNormal"), dtype=np.float32)
        return (x * np.float32(self.stddev) + np.float32(self.mean)).astype(np.float32)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Random):
    """Uniform in [minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype=None):
        u = self._rng().random(_shape(shape, "RandomUniform"), dtype=np.float32)
        return (u * np.float32(self.maxval - self.minval) + np.float32(self.minval)).astype(
            np.float32)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(rng, shape, stddev) -> np.ndarray:
    """Normal(0, stddev) redrawn wherever |x| > 2 stddev (Keras's truncation)."""
    x = rng.standard_normal(shape, dtype=np.float32)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32)
        bad = np.abs(x) > 2.0
    return x * np.float32(stddev)


class TruncatedNormal(_Random):
    """Normal(mean, stddev) with draws beyond two standard deviations redrawn."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        x = _truncated_normal(self._rng(), _shape(shape, "TruncatedNormal"), self.stddev)
        return (x + np.float32(self.mean)).astype(np.float32)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Random):
    """Variance scale / n, n = fan_in, fan_out or their mean. uniform: limit sqrt(3 scale / n);
    truncated_normal: stddev sqrt(scale / n) / .8796 (the std of a 2-sigma-truncated unit
    normal), so the result has the intended variance; untruncated_normal: sqrt(scale / n)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not scale > 0.0:
            raise ValueError(f"VarianceScaling: `scale` must be positive float. Received: "
                             f"scale={scale}")
        mode = str(mode).lower()
        if mode not in _MODES:
            raise ValueError(f"VarianceScaling: invalid `mode` argument: expected one of "
                             f"{list(_MODES)}. Received: mode={mode}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: invalid `distribution` argument: expected one "
                             f"of {list(_DISTRIBUTIONS)}. Received: distribution={distribution}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, type(self).__name__)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            u = rng.random(shape, dtype=np.float32)
            return (u * np.float32(2 * limit) - np.float32(limit)).astype(np.float32)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, math.sqrt(scale) / 0.87962566103423978)
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(math.sqrt(scale))

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class _FixedScaling(VarianceScaling):
    """A VarianceScaling preset: its config is the seed only (as Keras)."""

    _args: tuple = ()

    def __init__(self, seed=None):
        super().__init__(*self._args, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_FixedScaling):
    """Uniform in ±sqrt(6 / (fan_in + fan_out))."""
    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedScaling):
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out))."""
    _args = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_FixedScaling):
    """Truncated normal, stddev sqrt(2 / fan_in)."""
    _args = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedScaling):
    """Uniform in ±sqrt(6 / fan_in)."""
    _args = (2.0, "fan_in", "uniform")


class LecunNormal(_FixedScaling):
    """Truncated normal, stddev sqrt(1 / fan_in)."""
    _args = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedScaling):
    """Uniform in ±sqrt(3 / fan_in)."""
    _args = (1.0, "fan_in", "uniform")


class Orthogonal(_Random):
    """gain * an orthogonal matrix (QR of a normal matrix, signs fixed by R's diagonal), the
    shape flattened to (prod(shape[:-1]), shape[-1]): rows or columns orthonormal, whichever
    are fewer."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the initializer requires a shape of rank 2 or "
                             f"more, received shape={shape}")
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
        if rows < cols:
            q = q.T
        return np.asarray((self.gain * q).reshape(shape), dtype=np.float32, order="C")

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


# ---- lookup ------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (
    Constant, Zeros, Ones, Identity, RandomNormal, RandomUniform, TruncatedNormal,
    VarianceScaling, GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal,
    LecunUniform, Orthogonal)}
_ALIASES = {
    "constant": Constant, "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones,
    "identity": Identity, "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_normal": HeNormal,
    "he_uniform": HeUniform, "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal, "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
}
# Keras 3 exposes the snake_case names as functions too: grebe.initializers.glorot_uniform(...)
constant, zeros, ones, identity = Constant, Zeros, Ones, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_normal, he_uniform = GlorotUniform, GlorotNormal, HeNormal, \
    HeUniform
lecun_normal, lecun_uniform = LecunNormal, LecunUniform
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal  # Keras 3's long names


def serialize(initializer) -> dict:
    """{'class_name': ..., 'config': ...} for an Initializer (JSON-safe)."""
    if not isinstance(initializer, Initializer):
        raise TypeError(f"initializers.serialize: expected an Initializer, received "
                        f"{initializer!r}")
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def deserialize(config: dict) -> Initializer:
    """The inverse of serialize: a config dict back to an Initializer."""
    name = config.get("class_name")
    cls = _CLASSES.get(name) or _ALIASES.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret initializer identifier: {config!r} (unknown "
                         f"class_name {name!r}; known: {sorted(_CLASSES)})")
    return cls(**(config.get("config") or {}))


def get(identifier):
    """An initializer from a name ('glorot_uniform' or 'GlorotUniform'), a config dict, a
    class, an Initializer instance or any callable `f(shape) -> array`; None stays None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier) or \
            _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret initializer identifier: {identifier!r} "
                             f"(known: {sorted(k for k in _ALIASES if k.islower())})")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
