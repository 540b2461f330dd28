"""Reductions over axes: sum, mean, max, min (axis: None, int or tuple; keepdims).

max/min send the gradient to the extreme elements, split evenly among ties (as TensorFlow's
reduce_max and PyTorch's amax), so the gradient is the same whatever order ties appear in.
"""
from __future__ import annotations

import builtins

import numpy as np

from grebe.autograd import Function
from grebe.ops._util import as_input, norm_axes
from grebe.tensor import Tensor

_f32 = np.float32


def _expand(dy, shape, axes):
    """dy reduced over `axes` (None: all; keepdims or not) -> broadcastable against `shape`."""
    if dy.ndim == len(shape):
        return dy
    if axes is None:
        return dy.reshape((1,) * len(shape))
    return np.expand_dims(dy, axes)


def _as_f32(y):
    return y if type(y) is np.ndarray and y.dtype == _f32 else np.asarray(y, dtype=_f32)


class Sum(Function):
    """x (...) -> sum over `axes` (None: all; keepdims optional)."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.save(x.shape, axes)
        return _as_f32(np.add.reduce(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, dy):
        shape, axes = ctx.saved
        if axes is None:
            return np.full(shape, dy.reshape(()), dtype=_f32)
        return np.asarray(np.broadcast_to(_expand(dy, shape, axes), shape), order="C")


class Mean(Function):
    """x (...) -> mean over `axes` (None: all; keepdims optional)."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        if axes is None:
            count = x.size
        else:
            count = 1
            for a in axes:
                count *= x.shape[a]
        ctx.save(x.shape, axes, count)
        y = np.add.reduce(x, axis=axes, keepdims=keepdims)
        return _as_f32(y / _f32(builtins.max(count, 1)) if count != 1 else y)

    @staticmethod
    def backward(ctx, dy):
        shape, axes, count = ctx.saved
        scale = _f32(1.0 / builtins.max(count, 1))
        if axes is None:
            return np.full(shape, dy.reshape(()) * scale, dtype=_f32)
        return np.asarray(np.broadcast_to(_expand(dy * scale, shape, axes), shape), order="C")


class _Extreme(Function):
    """x (...) -> max/min over `axes`; the gradient is split evenly among tied extremes."""

    reduce = None  # np.max or np.min

    @classmethod
    def forward(cls, ctx, x, axes, keepdims):
        y = cls.reduce(x, axis=axes, keepdims=True)
        ctx.save(x, y, axes)
        return y if keepdims else np.squeeze(y, axis=axes)

    @classmethod
    def backward(cls, ctx, dy):
        x, y, axes = ctx.saved
        hit = x == y
        count = np.sum(hit, axis=axes, keepdims=True, dtype=_f32)
        return hit * (_expand(dy, x.shape, axes) / count)


class Max(_Extreme):
    reduce = np.max


class Min(_Extreme):
    reduce = np.min


def _reduce(fn, name, x, axis, keepdims):
    x = as_input(x)
    axes = None if axis is None else norm_axes(name, axis, x.ndim)
    if fn is not Sum and fn is not Mean and x.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty input of shape {x.shape}")
    return fn.apply(x, axes, bool(keepdims))


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Sum over `axis` (None: all axes)."""
    return _reduce(Sum, "sum", x, axis, keepdims)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Mean over `axis` (None: all axes)."""
    return _reduce(Mean, "mean", x, axis, keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Maximum over `axis`; ties share the gradient evenly."""
    return _reduce(Max, "max", x, axis, keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Minimum over `axis`; ties share the gradient evenly."""
    return _reduce(Min, "min", x, axis, keepdims)
