"""keras.ops reductions, statistics, sorting and cumulative ops: sum/mean/max/min/prod,
var/std, logsumexp, median/quantile, cumsum/cumprod, sort/argsort/top_k, nan-reductions,
counting and searching.

Differentiable ones compose grebe's native ops (sum, mean, max, exp, ...) or the gather op, so
their gradients come from ops that are checked on their own. Integer inputs reduce in numpy and
keep an integer result where Keras's does (sum, prod, max, min), mean and var give float32.
"""
from __future__ import annotations

import builtins

import numpy as np

from grebe.autograd import Function
from grebe.ops import math as _m
from grebe.ops import reduce as _r
from grebe.ops._keras import fl, gather, is_float, keras_op, needs_grad, out, raw, val
from grebe.ops.np_shape import take_along_axis, where

_f32 = np.float32


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _fast_reduce(name, fast, npf, float_result=False):
    def op(x, axis=None, keepdims=False):
        v, axis = val(x), _axis(axis)
        if is_float(v):
            return fast(v, axis, keepdims)
        a = raw(v)
        if float_result or a.dtype == bool and name in ("sum",):
            a = a.astype(_f32) if float_result else a.astype(np.int32)
        r = npf(a, axis=axis, keepdims=keepdims)
        return out(r.astype(a.dtype) if a.dtype.kind in "iu" and not float_result else r)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name} over `axis` (None: all)."
    return keras_op(op)


sum = _fast_reduce("sum", _r.sum, np.sum)  # noqa: A001
mean = _fast_reduce("mean", _r.mean, np.mean, float_result=True)
amax = _fast_reduce("amax", _r.max, np.max)
amin = _fast_reduce("amin", _r.min, np.min)


@keras_op
def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    y = amax(x, axis, keepdims)
    return y if initial is None else _m.maximum(y, initial) if needs_grad(y) else \
        out(np.maximum(raw(y), initial))


@keras_op
def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    y = amin(x, axis, keepdims)
    return y if initial is None else _m.minimum(y, initial) if needs_grad(y) else \
        out(np.minimum(raw(y), initial))


class Prod(Function):
    """x (...) -> product over `axes`; backward: the product of the other elements (exclusive
    cumulative products from both sides, exact with zeros)."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.save(x, axes, keepdims)
        return np.asarray(np.prod(x, axis=axes, keepdims=keepdims), _f32)

    @staticmethod
    def backward(ctx, dy):
        x, axes, keepdims = ctx.saved
        axes = tuple(range(x.ndim)) if axes is None else \
            tuple(a % x.ndim for a in ((axes,) if isinstance(axes, int) else axes))
        rest = [i for i in range(x.ndim) if i not in axes]
        perm = rest + list(axes)
        xt = np.transpose(x, perm).reshape([x.shape[i] for i in rest] + [-1]).astype(np.float64)
        ones = np.ones(xt.shape[:-1] + (1,))
        left = np.cumprod(np.concatenate([ones, xt[..., :-1]], -1), -1)
        right = np.cumprod(np.concatenate([ones, xt[..., :0:-1]], -1), -1)[..., ::-1]
        others = (left * right).reshape([x.shape[i] for i in perm])
        others = np.transpose(others, np.argsort(perm))
        if not keepdims:
            dy = np.expand_dims(dy, axes)
        return (dy * others).astype(_f32)


@keras_op
def prod(x, axis=None, keepdims=False, dtype=None):
    v, axis = val(x), _axis(axis)
    if needs_grad(v):
        return Prod.apply(v, axis, keepdims)
    return out(np.prod(raw(v), axis=axis, keepdims=keepdims, dtype=dtype))


@keras_op
def var(x, axis=None, keepdims=False):
    v, axis = fl(x), _axis(axis)
    d = _m.square(v - _r.mean(v, axis, True)) if needs_grad(v) else None
    if d is None:
        return out(np.var(v, axis=axis, keepdims=keepdims))
    return _r.mean(d, axis, keepdims)


@keras_op
def std(x, axis=None, keepdims=False):
    v = var(x, axis, keepdims)
    return _m.sqrt(v) if needs_grad(v) else out(np.sqrt(raw(v)))


@keras_op
def logsumexp(x, axis=None, keepdims=False):
    v, axis = fl(x), _axis(axis)
    a = raw(v)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(_f32)
    s = _m.log(_r.sum(_m.exp(v - m), axis, True)) + m
    if keepdims:
        return s
    from grebe.ops.np_shape import squeeze
    return squeeze(s, axis) if axis is not None else s.reshape(())


@keras_op
def average(x, axis=None, weights=None):
    if weights is None:
        return mean(x, axis)
    v, w = fl(x), fl(weights)
    if axis is not None and np.ndim(raw(w)) == 1 and np.ndim(raw(v)) > 1:
        shape = [1] * np.ndim(raw(v))
        shape[axis] = -1
        w = w.reshape(shape) if needs_grad(w) else raw(w).reshape(shape)
    return _r.sum(v * w if needs_grad(v) else fl(w) * v, axis) / _r.sum(
        fl(w) * np.ones_like(raw(v)), axis)


@keras_op
def ptp(x, axis=None, keepdims=False):
    return amax(x, axis, keepdims) - amin(x, axis, keepdims) if needs_grad(val(x)) \
        else out(np.ptp(raw(x), axis=_axis(axis), keepdims=keepdims))


def _moved_last(v, axis):
    """v with `axis` moved last (None: flattened) and the result's restore function."""
    from grebe.ops.np_shape import moveaxis, reshape
    if axis is None:
        return reshape(v, (-1,)), -1
    return moveaxis(v, axis, -1), axis


@keras_op
def sort(x, axis=-1):
    idx = np.argsort(raw(x), axis=axis, kind="stable")
    return take_along_axis(x, idx, axis=axis)


@keras_op
def argsort(x, axis=-1):
    return out(np.argsort(raw(x), axis=axis, kind="stable").astype(np.int32))


@keras_op
def argpartition(x, kth, axis=-1):
    return out(np.argpartition(raw(x), kth, axis=axis).astype(np.int32))


def _arg(name, f):
    def op(x, axis=None, keepdims=False):
        a = raw(x)
        r = f(a, axis=axis, keepdims=keepdims) if axis is not None else \
            np.reshape(f(a.reshape(-1)), (1,) * a.ndim if keepdims else ())
        return out(np.asarray(r).astype(np.int32))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}: int32 indices."
    return keras_op(op)


argmax = _arg("argmax", np.argmax)
argmin = _arg("argmin", np.argmin)
nanargmax = _arg("nanargmax", np.nanargmax)
nanargmin = _arg("nanargmin", np.nanargmin)


@keras_op
def top_k(x, k, sorted=True):  # noqa: A002
    """(values, int32 indices) of the k largest along the last axis; values differentiable."""
    a = raw(x)
    idx = np.argsort(-a, axis=-1, kind="stable")[..., :k]
    return take_along_axis(x, idx, axis=-1), out(idx.astype(np.int32))


@keras_op
def in_top_k(targets, predictions, k):
    p, t = raw(predictions), raw(targets).astype(np.int64)
    target_score = np.take_along_axis(p, t[:, None], axis=-1)
    return out((p > target_score).sum(-1) < k)


@keras_op
def all(x, axis=None, keepdims=False):  # noqa: A001
    return out(np.all(raw(x), axis=_axis(axis), keepdims=keepdims))


@keras_op
def any(x, axis=None, keepdims=False):  # noqa: A001
    return out(np.any(raw(x), axis=_axis(axis), keepdims=keepdims))


@keras_op
def count_nonzero(x, axis=None):
    return out(np.asarray(np.count_nonzero(raw(x), axis=_axis(axis))).astype(np.int32))


class Cumsum(Function):
    """x (..., n, ...) -> running sums along `axis`; backward: reversed running sums."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.save(axis)
        return np.cumsum(x, axis=axis, dtype=_f32)

    @staticmethod
    def backward(ctx, dy):
        ax = ctx.saved[0]
        return np.ascontiguousarray(np.flip(np.cumsum(np.flip(dy, ax), axis=ax), ax))


@keras_op
def cumsum(x, axis=None, dtype=None):
    v = val(x)
    if axis is None:
        v = v.reshape(-1) if needs_grad(v) else raw(v).reshape(-1)
        axis = 0
    if needs_grad(v):
        return Cumsum.apply(v, axis)
    a = raw(v)
    return out(np.cumsum(a, axis=axis, dtype=np.int32 if a.dtype == bool else dtype or a.dtype))


class Cumprod(Function):
    """x (..., n, ...) -> running products along `axis`; backward:
    dx_i = sum_{j>=i} dy_j * prod_{k<=j, k!=i} x_k (computed per position, exact with zeros)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.save(x, axis)
        return np.cumprod(x, axis=axis, dtype=_f32)

    @staticmethod
    def backward(ctx, dy):
        x, ax = ctx.saved
        xt = np.moveaxis(x, ax, -1).astype(np.float64)
        gt = np.moveaxis(dy, ax, -1).astype(np.float64)
        n = xt.shape[-1]
        dx = np.zeros_like(xt)
        for i in range(n):
            others = xt.copy()
            others[..., i] = 1.0
            dx[..., i] = np.sum((gt * np.cumprod(others, -1))[..., i:], -1)
        return np.ascontiguousarray(np.moveaxis(dx, -1, ax), dtype=_f32)


@keras_op
def cumprod(x, axis=None, dtype=None):
    v = val(x)
    if axis is None:
        v = v.reshape(-1) if needs_grad(v) else raw(v).reshape(-1)
        axis = 0
    if needs_grad(v):
        return Cumprod.apply(v, axis)
    return out(np.cumprod(raw(v), axis=axis, dtype=dtype or raw(v).dtype))


@keras_op
def quantile(x, q, axis=None, method="linear", keepdims=False):
    """Quantiles q (scalar or 1-D, in [0, 1]) along `axis`; linear interpolation between the
    sorted neighbours is differentiable."""
    v, qa = val(x), np.asarray(raw(q), np.float64)
    if not needs_grad(v) or method != "linear":
        return out(np.quantile(raw(v), qa, axis=_axis(axis), method=method, keepdims=keepdims))
    a = raw(v)
    axes = tuple(range(a.ndim)) if axis is None else \
        tuple(ax % a.ndim for ax in ((axis,) if isinstance(axis, int) else axis))
    from grebe.ops.np_shape import reshape, transpose
    rest = [i for i in range(a.ndim) if i not in axes]
    t = reshape(transpose(v, rest + list(axes)), [a.shape[i] for i in rest] + [-1])
    s = sort(t, axis=-1)
    n = raw(s).shape[-1]
    pos = qa.reshape(-1) * (n - 1)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    w = (pos - lo).astype(_f32)
    take_lo = gather(lambda z: z[..., lo], s)
    take_hi = gather(lambda z: z[..., hi], s)
    r = take_lo * (1 - w) + take_hi * w  # (rest..., nq)
    from grebe.ops.np_shape import moveaxis
    r = moveaxis(r, -1, 0)
    if keepdims:
        kshape = [1 if i in axes else d for i, d in enumerate(a.shape)]
        r = reshape(r, [r.shape[0]] + kshape)
    return r if qa.ndim else r[0]


@keras_op
def percentile(x, q, axis=None, method="linear", keepdims=False):
    return quantile(x, np.asarray(raw(q), np.float64) / 100.0, axis, method, keepdims)


@keras_op
def median(x, axis=None, keepdims=False):
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def _nan_filled(x, fill):
    v = fl(x)
    return where(np.isnan(raw(v)), np.asarray(fill, _f32), v)


@keras_op
def nansum(x, axis=None, keepdims=False):
    return sum(_nan_filled(x, 0.0), axis, keepdims)


@keras_op
def nanprod(x, axis=None, keepdims=False):
    return prod(_nan_filled(x, 1.0), axis, keepdims)


@keras_op
def nanmax(x, axis=None, keepdims=False):
    return amax(_nan_filled(x, -np.inf), axis, keepdims)


@keras_op
def nanmin(x, axis=None, keepdims=False):
    return amin(_nan_filled(x, np.inf), axis, keepdims)


@keras_op
def nanmean(x, axis=None, keepdims=False):
    n = np.sum(~np.isnan(raw(x)), axis=_axis(axis), keepdims=keepdims).astype(_f32)
    return nansum(x, axis, keepdims) / n


@keras_op
def nanvar(x, axis=None, keepdims=False):
    v = fl(x)
    d = _nan_filled(v - nanmean(v, axis, True), 0.0)
    n = np.sum(~np.isnan(raw(v)), axis=_axis(axis), keepdims=keepdims).astype(_f32)
    return sum(d * d, axis, keepdims) / n


@keras_op
def nanstd(x, axis=None, keepdims=False):
    return _m.sqrt(fl(nanvar(x, axis, keepdims)))


@keras_op
def nancumsum(x, axis=None, dtype=None):
    return cumsum(_nan_filled(x, 0.0), axis)


@keras_op
def nancumprod(x, axis=None, dtype=None):
    return cumprod(_nan_filled(x, 1.0), axis)


@keras_op
def nanmedian(x, axis=None, keepdims=False):
    return out(np.nanmedian(raw(x), axis=_axis(axis), keepdims=keepdims))


@keras_op
def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    return out(np.nanquantile(raw(x), raw(q), axis=_axis(axis), method=method,
                              keepdims=keepdims))


@keras_op
def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return out(np.nanpercentile(raw(x), raw(q), axis=_axis(axis), method=method,
                                keepdims=keepdims))


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "annotations", "builtins", "Function", "fl", "gather", "keras_op", "needs_grad", "out",
    "raw", "val", "np", "take_along_axis", "where", "Prod", "Cumsum", "Cumprod")]
