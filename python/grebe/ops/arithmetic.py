"""Elementwise arithmetic with numpy broadcasting: add, subtract, multiply, divide, negative."""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function, unbroadcast
from grebe.tensor import Tensor


def _arr(x):
    """A Tensor stays a Tensor; anything else becomes a float32 array (a constant)."""
    if isinstance(x, Tensor):
        return x
    return np.asarray(x, dtype=np.float32)


class Add(Function):
    """a (...), b (...) -> a + b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(np.shape(a), np.shape(b))
        return np.add(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.saved
        return unbroadcast(dy, sa), unbroadcast(dy, sb)


class Subtract(Function):
    """a (...), b (...) -> a - b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(np.shape(a), np.shape(b))
        return np.subtract(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.saved
        return unbroadcast(dy, sa), unbroadcast(-dy, sb)


class Multiply(Function):
    """a (...), b (...) -> a * b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.multiply(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        da = unbroadcast(dy * b, np.shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(dy * a, np.shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Divide(Function):
    """a (...), b (...) -> a / b (broadcast shape)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.divide(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        da = unbroadcast(dy / b, np.shape(a)) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-dy * a / (b * b), np.shape(b)) if ctx.needs_input_grad[1] else None
        return da, db


class Negative(Function):
    """x (...) -> -x."""

    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, dy):
        return -dy


def add(a, b) -> Tensor:
    return Add.apply(_arr(a), _arr(b))


def subtract(a, b) -> Tensor:
    return Subtract.apply(_arr(a), _arr(b))


def multiply(a, b) -> Tensor:
    return Multiply.apply(_arr(a), _arr(b))


def divide(a, b) -> Tensor:
    return Divide.apply(_arr(a), _arr(b))


def negative(x) -> Tensor:
    return Negative.apply(_arr(x))
