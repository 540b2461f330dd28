"""Elementwise math: exp, log, sqrt, abs, square, maximum, minimum, clip.

Gradient conventions follow PyTorch: abs'(0) = 0; maximum/minimum split the gradient evenly
between equal inputs; clip passes the gradient where lo <= x <= hi (both ends included).
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function, unbroadcast
from grebe.ops._util import as_input, broadcast_shape
from grebe.tensor import Tensor


class Exp(Function):
    """x (...) -> e^x."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        return dy * ctx.saved[0]


class Log(Function):
    """x (...) -> ln x (-inf at 0, nan below)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, dy):
        return dy / ctx.saved[0]


class Sqrt(Function):
    """x (...) -> sqrt(x)."""

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        return dy * np.float32(0.5) / ctx.saved[0]


class Abs(Function):
    """x (...) -> |x|; the gradient at 0 is 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, dy):
        return dy * np.sign(ctx.saved[0])


class Square(Function):
    """x (...) -> x * x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.square(x)

    @staticmethod
    def backward(ctx, dy):
        x = ctx.saved[0]
        return (dy + dy) * x


class _Extremum(Function):
    """a (...), b (...) -> elementwise max/min (broadcast shape); ties split the gradient."""

    pick = None  # np.maximum or np.minimum

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save(a, b)
        return cls.pick(a, b, dtype=np.float32)

    @classmethod
    def backward(cls, ctx, dy):
        a, b = ctx.saved
        wins_a = (a > b) if cls.pick is np.maximum else (a < b)
        share = np.where(wins_a, np.float32(1), np.where(a == b, np.float32(0.5), np.float32(0)))
        da = unbroadcast(dy * share, np.shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(dy * (1 - share), np.shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Maximum(_Extremum):
    pick = np.maximum


class Minimum(_Extremum):
    pick = np.minimum


class Clip(Function):
    """x (...) -> min(max(x, lo), hi); gradient passes where lo <= x <= hi."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save(x, lo, hi)
        y = x
        if lo is not None:
            y = np.maximum(y, np.float32(lo))
        if hi is not None:
            y = np.minimum(y, np.float32(hi))
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx, dy):
        x, lo, hi = ctx.saved
        keep = np.ones(x.shape, dtype=bool)
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
        return dy * keep


def exp(x) -> Tensor:
    return Exp.apply(as_input(x))


def log(x) -> Tensor:
    return Log.apply(as_input(x))


def sqrt(x) -> Tensor:
    return Sqrt.apply(as_input(x))


def abs(x) -> Tensor:  # noqa: A001
    return Abs.apply(as_input(x))


def square(x) -> Tensor:
    return Square.apply(as_input(x))


def maximum(a, b) -> Tensor:
    a, b = as_input(a), as_input(b)
    broadcast_shape("maximum", a, b)
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    a, b = as_input(a), as_input(b)
    broadcast_shape("minimum", a, b)
    return Minimum.apply(a, b)


def clip(x, lo=None, hi=None) -> Tensor:
    """Clips to [lo, hi] (either may be None). Keras's ops.clip(x, x_min, x_max)."""
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo and hi must be given")
    if lo is not None and hi is not None and float(lo) > float(hi):
        raise ValueError(f"clip: lo must not exceed hi, received lo={lo}, hi={hi}")
    return Clip.apply(as_input(x), None if lo is None else float(lo),
                      None if hi is None else float(hi))
