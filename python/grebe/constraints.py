"""Weight constraints with Keras 3's names and formulas, applied after every optimizer step to
the weights that declare them (`kernel_constraint=`, `add_weight(constraint=...)`), as Keras's
`optimizer.apply` does.

>>> import numpy as np, grebe
>>> c = grebe.constraints.MaxNorm(1.0)
>>> np.round(c(grebe.tensor([[3.0], [4.0]])).numpy().ravel(), 4)  # column norm 5 -> 1
array([0.6, 0.8], dtype=float32)
"""
from __future__ import annotations

import weakref

import numpy as np

from grebe import autograd
from grebe.tensor import Tensor

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm",
           "min_max_norm", "non_neg", "unit_norm", "get", "serialize", "deserialize"]

_f32 = np.float32


def _eps() -> float:
    from grebe import backend
    return backend.epsilon()


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w, dtype=np.float64), axis=axis, keepdims=True))


class Constraint:
    """Base class: `__call__(w)` returns the projected weight; `get_config` its arguments."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _values(w) -> np.ndarray:
    return np.asarray(w.data if isinstance(w, Tensor) else w, dtype=np.float64)


class MaxNorm(Constraint):
    """Scales each slice along `axis` whose L2 norm exceeds max_value down to max_value."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        a = _values(w)
        n = _norms(a, self.axis)
        return Tensor((a * (np.clip(n, 0, self.max_value) / (_eps() + n))).astype(_f32))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's norm into [min_value, max_value] (at `rate` of the way)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        a = _values(w)
        n = _norms(a, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return Tensor((a * (desired / (_eps() + n))).astype(_f32))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Zeroes the negative weights."""

    def __call__(self, w):
        a = _values(w)
        return Tensor((a * (a >= 0)).astype(_f32))


class UnitNorm(Constraint):
    """Scales each slice along `axis` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        a = _values(w)
        return Tensor((a / (_eps() + _norms(a, self.axis))).astype(_f32))

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_CLASSES = {"MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
            "UnitNorm": UnitNorm, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
            "non_neg": NonNeg, "unit_norm": UnitNorm}


def serialize(constraint) -> dict:
    if not isinstance(constraint, Constraint):
        raise TypeError(f"constraints.serialize: expected a Constraint, received {constraint!r}")
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects=None) -> Constraint:
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret constraint identifier: {config!r} (known: "
                         f"MaxNorm, MinMaxNorm, NonNeg, UnitNorm)")
    return cls(**(config.get("config") or {}))


def get(identifier):
    """A constraint from a name ('max_norm', 'NonNeg', ...), a config dict, a class, an instance
    or any callable `f(weight) -> weight`; None stays None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier) or _CLASSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret constraint identifier: {identifier!r} "
                             f"(known: {sorted(k for k in _CLASSES if k.islower())})")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")


# ---- the weights that declare a constraint (weak: a dropped layer frees its weights) -----
_attached: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def attach(weight: Tensor, constraint) -> None:
    """Records that `weight` is projected by `constraint` after each optimizer step."""
    _attached[weight] = get(constraint)


def constraint_of(weight):
    return _attached.get(weight)


def apply_to(weights) -> None:
    """Projects, in place, each weight in `weights` that declares a constraint."""
    if not _attached:
        return
    with autograd.no_grad():
        for w in weights:
            c = _attached.get(w)
            if c is not None:
                value = c(w)
                w.data[...] = np.asarray(value.data if isinstance(value, Tensor) else value,
                                         dtype=_f32)
