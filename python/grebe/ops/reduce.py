"""Reductions over axes: sum (mean, max, min to follow)."""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.tensor import Tensor


def _norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim for a in axis)


class Sum(Function):
    """x (...) -> sum over `axis` (keepdims optional)."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.save(x.shape, _norm_axes(axis, x.ndim))
        return np.asarray(x.sum(axis=axis, keepdims=keepdims), dtype=np.float32)

    @staticmethod
    def backward(ctx, dy):
        shape, axes = ctx.saved
        dy = np.expand_dims(dy, axes) if dy.ndim != len(shape) else dy
        return np.ascontiguousarray(np.broadcast_to(dy, shape))


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    x = x if isinstance(x, Tensor) else Tensor(x)
    return Sum.apply(x, axis=axis, keepdims=keepdims)
