"""Elementwise arithmetic with numpy broadcasting: add, subtract, multiply, divide, negative,
power. Gradients are summed back over broadcast axes (unbroadcast)."""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function, unbroadcast
from grebe.ops._util import as_input, broadcast_error
from grebe.tensor import Tensor

_f32 = np.float32


def _f32_out(y):
    return y if y.dtype == _f32 else y.astype(_f32)


class Add(Function):
    """a (...), b (...) -> a + b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.add(a, b)
        except ValueError:
            raise broadcast_error("add", a, b) from None
        ctx.save(a.shape, b.shape)
        return _f32_out(y)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.saved
        return unbroadcast(dy, sa), unbroadcast(dy, sb)


class Subtract(Function):
    """a (...), b (...) -> a - b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.subtract(a, b)
        except ValueError:
            raise broadcast_error("subtract", a, b) from None
        ctx.save(a.shape, b.shape)
        return _f32_out(y)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.saved
        db = unbroadcast(-dy, sb) if ctx.needs_input_grad[1] else None
        return unbroadcast(dy, sa), db


class Multiply(Function):
    """a (...), b (...) -> a * b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.multiply(a, b)
        except ValueError:
            raise broadcast_error("multiply", a, b) from None
        ctx.save(a, b)
        return _f32_out(y)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        da = unbroadcast(dy * b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(dy * a, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Divide(Function):
    """a (...), b (...) -> a / b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.divide(a, b)
        except ValueError:
            raise broadcast_error("divide", a, b) from None
        ctx.save(a, b)
        return _f32_out(y)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        q = dy / b
        da = unbroadcast(q, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-q * a / b, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Negative(Function):
    """x (...) -> -x."""

    @staticmethod
    def forward(ctx, x):
        return _f32_out(np.negative(x))

    @staticmethod
    def backward(ctx, dy):
        return -dy


class PowScalar(Function):
    """x (...), p (a Python float) -> x ** p."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save(x, p)
        if p == 2.0:
            return _f32_out(np.square(x))
        return _f32_out(np.power(x, _f32(p)))

    @staticmethod
    def backward(ctx, dy):
        x, p = ctx.saved
        if p == 0.0:
            return np.zeros_like(dy)
        if p == 2.0:
            return (dy + dy) * x
        return dy * (_f32(p) * np.power(x, _f32(p - 1.0)))


class Power(Function):
    """a (...), b (...) -> a ** b (broadcast shape). As PyTorch: d/db is 0 where a == 0 and
    b >= 0 (instead of 0 * log 0), and d/da is 0 where b == 0."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = _f32_out(np.power(a, b))
        except ValueError:
            raise broadcast_error("power", a, b) from None
        ctx.save(a, b, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        a, b, y = ctx.saved
        da = db = None
        if ctx.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(b == 0, _f32(0), b * np.power(a, b - _f32(1)))
            da = unbroadcast(dy * g, a.shape)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where((a == 0) & (b >= 0), _f32(0), y * np.log(a))
            db = unbroadcast(dy * g, b.shape)
        return da, db


def add(a, b) -> Tensor:
    """a + b with broadcasting."""
    return Add.apply(as_input(a), as_input(b))


def subtract(a, b) -> Tensor:
    """a - b with broadcasting."""
    return Subtract.apply(as_input(a), as_input(b))


def multiply(a, b) -> Tensor:
    """a * b with broadcasting."""
    return Multiply.apply(as_input(a), as_input(b))


def divide(a, b) -> Tensor:
    """a / b with broadcasting."""
    return Divide.apply(as_input(a), as_input(b))


def negative(x) -> Tensor:
    """-x."""
    return Negative.apply(as_input(x))


def power(a, b) -> Tensor:
    """a ** b with broadcasting; a constant scalar exponent takes a faster path."""
    if not isinstance(b, (Tensor, np.ndarray)) and np.ndim(b) == 0:
        return PowScalar.apply(as_input(a), float(b))
    return Power.apply(as_input(a), as_input(b))
