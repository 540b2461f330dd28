"""Weight regularizers with Keras 3 names and defaults.

A regularizer is callable on a weight Tensor and returns a scalar Tensor built from ops, so the
penalty is differentiable: `loss = loss + sum(layer.losses)` trains against it.

>>> import grebe
>>> reg = grebe.regularizers.get("l2")                 # L2(l2=0.01)
>>> round(reg(grebe.tensor([1.0, 2.0])).item(), 6)        # 0.01 * (1 + 4)
0.05
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]


def _factor(value, arg: str, who: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: invalid value for argument {arg}: expected a float. "
                         f"Received: {arg}={value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{who}: invalid value for argument {arg}: expected a non-negative "
                         f"finite float. Received: {arg}={value}")
    return value


def _ops():
    from grebe import ops
    return ops


class Regularizer:
    """Base class: subclasses implement `__call__(weight) -> scalar Tensor` and get_config."""

    def __call__(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1", "L1")

    def __call__(self, x):
        ops = _ops()
        return ops.multiply(ops.sum(ops.abs(x)), self.l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x ** 2)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2", "L2")

    def __call__(self, x):
        ops = _ops()
        return ops.multiply(ops.sum(ops.square(x)), self.l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x ** 2). Keras 3's defaults are l1=0.0, l2=0.0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", "L1L2")
        self.l2 = _factor(l2, "l2", "L1L2")

    def __call__(self, x):
        ops = _ops()
        out = ops.multiply(ops.sum(ops.abs(x)), self.l1) if self.l1 else None
        if self.l2 or out is None:
            sq = ops.multiply(ops.sum(ops.square(x)), self.l2)
            out = sq if out is None else ops.add(out, sq)
        return out

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (mode='rows') or columns (mode='columns') of a 2-D weight towards
    orthogonality: factor * mean over pairs of |cos(angle)| between the L2-normalized vectors
    (the off-diagonal entries of their Gram matrix)."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', "
                             f"received mode={mode!r}")
        self.mode = mode

    def __call__(self, x):
        ops = _ops()
        if len(x.shape) != 2:
            raise ValueError(f"OrthogonalRegularizer: expected a 2-D weight, received shape "
                             f"{tuple(x.shape)}")
        if self.mode == "rows":
            v = ops.normalize(x, axis=1)
            gram = ops.matmul(v, ops.transpose(v))
        else:
            v = ops.normalize(x, axis=0)
            gram = ops.matmul(ops.transpose(v), v)
        n = gram.shape[0]
        off = ops.abs(gram) * (1.0 - np.eye(n, dtype=np.float32))
        pairs = max(n * (n - 1) / 2.0, 1.0)
        return ops.sum(off) * (self.factor * 0.5 / pairs)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras 3's lower-case aliases.
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2,
            "l1l2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
            "orthogonal_regularizer": OrthogonalRegularizer}


def serialize(regularizer) -> dict:
    if not isinstance(regularizer, Regularizer):
        raise TypeError(f"regularizers.serialize: expected a Regularizer, received "
                        f"{regularizer!r}")
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def deserialize(config: dict) -> Regularizer:
    name = config.get("class_name")
    cls = _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret regularizer identifier: {config!r} (unknown "
                         f"class_name {name!r}; known: L1, L2, L1L2)")
    return cls(**(config.get("config") or {}))


def get(identifier):
    """A regularizer from a name ('l1', 'l2', 'l1_l2'), a config dict, a class, an instance or
    any callable `f(weight) -> scalar Tensor`; None stays None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier) or _CLASSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret regularizer identifier: {identifier!r} "
                             f"(known: 'l1', 'l2', 'l1_l2')")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
