"""Normalization ops: batch normalization (training: batch statistics, one fused Function;
inference: given statistics) and layer normalization.

    batch_norm(x, gamma, beta)            y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta
    batch_normalization(x, mean, var, ..) y = scale * (x - mean) / sqrt(var + eps) + offset
    layer_norm(x, gamma, beta)            the same over the trailing axes of each sample

Batch statistics run over every axis but `axis` (N*H*W rows for NHWC) in native kernels
(kernels/batchnorm.cpp): biased variance, as Keras; sums over fixed row blocks, so results do not
depend on the thread count. Keras's default epsilon is 1e-3.

>>> import grebe, numpy as np
>>> x = grebe.tensor(np.array([[1.0], [3.0]]))
>>> grebe.ops.batch_norm(x, epsilon=0.0).numpy().ravel()
array([-1.,  1.], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import norm_axis
from grebe.tensor import Tensor

__all__ = ["batch_norm", "batch_normalization", "layer_norm"]

_f32 = np.float32


def _rows(x, axis):
    """x as a C-contiguous (M, C) matrix with the channel axis last (a copy only when axis is
    not the last one)."""
    if axis == x.ndim - 1:
        return x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    return np.ascontiguousarray(np.moveaxis(x, axis, -1)).reshape(-1, x.shape[axis])


def _unrows(y2, shape, axis):
    """The inverse of _rows: (M, C) back to `shape`."""
    if axis == len(shape) - 1:
        return y2.reshape(shape)
    moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
    return np.ascontiguousarray(np.moveaxis(y2.reshape(moved), -1, axis))


def _dy_rows(dy, shape, axis):
    return _rows(np.ascontiguousarray(dy, dtype=_f32).reshape(shape), axis)


class BatchNormTrain(Function):
    """x (..., C, ...), gamma (C) or None, beta (C) or None -> y of x's shape, normalized with
    the batch statistics over every axis but `axis`. `stats`, a dict, receives the batch 'mean'
    and (biased) 'variance' for the moving averages; they carry no gradient. relu: a ReLU
    applied in the same pass (y = max(normalized, 0)), its gradient in the same backward."""

    @staticmethod
    def forward(ctx, x, gamma, beta, epsilon, axis, stats, moving=None, relu=False):
        x2 = _rows(x, axis)
        moving = moving or (None, None, 0.0)
        y2, mean, var, inv_std = _C.batch_norm_train_forward(x2, gamma, beta, epsilon, *moving,
                                                             relu=relu)
        if stats is not None:
            stats["mean"], stats["variance"] = mean, var
        ctx.save(x2, mean, inv_std, gamma, x.shape, axis, y2 if relu else None)
        return _unrows(y2, x.shape, axis)

    @staticmethod
    def backward(ctx, dy):
        x2, mean, inv_std, gamma, shape, axis, relu_y = ctx.saved
        need_dx = ctx.needs_input_grad[0]
        dx2, dgamma, dbeta = _C.batch_norm_train_backward(_dy_rows(dy, shape, axis), x2, mean,
                                                          inv_std, gamma, need_dx, relu_y)
        dx = _unrows(dx2, shape, axis) if need_dx else None
        return dx, dgamma, dbeta, None, None, None, None, None


class BatchNormInference(Function):
    """x, mean, variance, offset, scale -> scale * (x - mean) / sqrt(variance + eps) + offset,
    every statistic of shape (C,) along `axis`; gradients for all five."""

    @staticmethod
    def forward(ctx, x, mean, variance, offset, scale, epsilon, axis):
        x2 = _rows(x, axis)
        y2, inv_std, a = _C.batch_norm_infer_forward(x2, mean, variance, scale, offset, epsilon)
        # mean is copied: a layer's moving mean may move (in place) before this backward runs
        ctx.save(x2, mean.copy(), inv_std, scale, a, x.shape, axis)
        return _unrows(y2, x.shape, axis)

    @staticmethod
    def backward(ctx, dy):
        x2, mean, inv_std, scale, a, shape, axis = ctx.saved
        needs = ctx.needs_input_grad
        dy2 = _dy_rows(dy, shape, axis)
        dx = None
        if needs[0]:
            dx = _unrows(_C.batch_norm_apply(dy2, a, np.zeros_like(a)), shape, axis)
        dmean = dvar = doffset = dscale = None
        if any(needs[1:5]):
            dsum, dxhat = _C.batch_norm_backward_reduce(dy2, x2, mean, inv_std)
            doffset = dsum
            dscale = dxhat
            g = scale if scale is not None else _f32(1.0)
            dmean = -a * dsum
            dvar = (_f32(-0.5) * g * inv_std * inv_std * dxhat).astype(_f32)
        return dx, dmean, dvar, doffset, dscale, None, None


def _channel_arg(v, c: int, who: str, arg: str):
    """A per-channel argument: a Tensor or a float32 (c,) array (a constant), checked."""
    if v is None:
        return None
    if not isinstance(v, Tensor):
        v = np.ascontiguousarray(v, dtype=_f32)
    if v.shape != (c,):
        raise ValueError(f"{who}: {arg} must have shape ({c},) (the size of the normalized "
                         f"axis), received {tuple(v.shape)}")
    return v


def _prepare(x, axis, who):
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 1:
        raise ValueError(f"{who}: expected an input of rank >= 1, received a scalar")
    return x, norm_axis(who, axis, x.ndim)


def batch_norm(x, gamma=None, beta=None, epsilon: float = 1e-3, axis: int = -1,
               return_stats: bool = False, moving_mean=None, moving_variance=None,
               momentum: float = 0.99, relu: bool = False):
    """Training-mode batch normalization: statistics of this batch over every axis but `axis`.
    gamma/beta None mean 1/0. With return_stats, also returns the batch mean and biased
    variance (numpy arrays, no gradient). Given moving_mean and moving_variance (float32 arrays
    or Tensors of shape (C,)), updates them in place: moving = moving * momentum + batch *
    (1 - momentum), Keras's formula. relu=True returns max(normalized, 0) from the same pass
    (batch norm + ReLU fused, forward and backward)."""
    x, axis = _prepare(x, axis, "batch_norm")
    c = x.shape[axis]
    gamma = _channel_arg(gamma, c, "batch_norm", "gamma")
    beta = _channel_arg(beta, c, "batch_norm", "beta")
    if x.size == 0:
        raise ValueError(f"batch_norm: batch statistics need at least one value per channel, "
                         f"received shape {tuple(x.shape)}")
    moving = None
    if moving_mean is not None or moving_variance is not None:
        moving = tuple(m.data if isinstance(m, Tensor) else m
                       for m in (moving_mean, moving_variance)) + (float(momentum),)
    stats = {} if return_stats else None
    y = BatchNormTrain.apply(x, gamma, beta, float(epsilon), axis, stats, moving, bool(relu))
    return (y, stats["mean"], stats["variance"]) if return_stats else y


def batch_normalization(x, mean, variance, axis: int = -1, offset=None, scale=None,
                        epsilon: float = 1e-3) -> Tensor:
    """Keras's ops.batch_normalization: normalizes x with the given statistics (inference)."""
    x, axis = _prepare(x, axis, "batch_normalization")
    c = x.shape[axis]
    args = [_channel_arg(v, c, "batch_normalization", n) for v, n in
            ((mean, "mean"), (variance, "variance"), (offset, "offset"), (scale, "scale"))]
    if args[0] is None or args[1] is None:
        raise ValueError("batch_normalization: mean and variance are required")
    return BatchNormInference.apply(x, *args, float(epsilon), axis)


class LayerNorm(Function):
    """x (..., D...) with the last `k` axes normalized per sample; gamma, beta of those axes'
    shape (or None)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, epsilon, k):
        d = int(np.prod(x.shape[x.ndim - k:]))
        x2 = x.reshape(-1, d)
        mean = x2.mean(axis=1, keepdims=True, dtype=np.float64)
        xc = x2 - mean
        var = np.mean(xc * xc, axis=1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + epsilon)
        xhat = (xc * inv_std).astype(_f32)
        y = xhat * gamma.reshape(1, d) if gamma is not None else xhat.copy()
        if beta is not None:
            y += beta.reshape(1, d)
        ctx.save(xhat, inv_std.astype(_f32), gamma, x.shape, x.shape[x.ndim - k:], d)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, dy):
        xhat, inv_std, gamma, shape, param_shape, d = ctx.saved
        dy2 = np.asarray(dy, dtype=_f32).reshape(-1, d)
        needs = ctx.needs_input_grad
        dx = dgamma = dbeta = None
        if needs[0]:
            g = dy2 * gamma.reshape(1, d) if gamma is not None else dy2
            m1 = g.mean(axis=1, keepdims=True)
            m2 = (g * xhat).mean(axis=1, keepdims=True)
            dx = (inv_std * (g - m1 - xhat * m2)).astype(_f32).reshape(shape)
        if needs[1]:
            dgamma = (dy2 * xhat).sum(axis=0).reshape(param_shape)
        if needs[2]:
            dbeta = dy2.sum(axis=0).reshape(param_shape)
        return dx, dgamma, dbeta, None, None


def layer_norm(x, gamma=None, beta=None, epsilon: float = 1e-3, axis=-1) -> Tensor:
    """Normalizes each sample over `axis` (an int or a tuple of trailing axes), then scales by
    gamma and shifts by beta (both of those axes' shape, or None)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = sorted(norm_axis("layer_norm", a, x.ndim) for a in axes)
    k = len(axes)
    if axes != list(range(x.ndim - k, x.ndim)):
        raise ValueError(f"layer_norm: axis must name the trailing axes of the input, received "
                         f"axis={axis!r} for an input of rank {x.ndim}")
    want = tuple(x.shape[x.ndim - k:])
    for v, n in ((gamma, "gamma"), (beta, "beta")):
        if v is not None and tuple(np.shape(v.data if isinstance(v, Tensor) else v)) != want:
            raise ValueError(f"layer_norm: {n} must have shape {want}, received "
                             f"{tuple(np.shape(v.data if isinstance(v, Tensor) else v))}")
    gamma = gamma if gamma is None or isinstance(gamma, Tensor) else Tensor(gamma)
    beta = beta if beta is None or isinstance(beta, Tensor) else Tensor(beta)
    return LayerNorm.apply(x, gamma, beta, float(epsilon), k)
