"""Pooling over channels-last tensors: max and average pooling (1D and 2D) and global pooling.

Windows follow Keras/TF: `strides` default to `pool_size`; padding 'valid' drops what does not
fill a window, 'same' gives ceil(size / stride) outputs with the padding split as TF does (the
extra one after). Padded positions never win a max and are not counted by an average.

>>> import grebe, numpy as np
>>> x = grebe.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
>>> grebe.ops.max_pool2d(x, 2).numpy()[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]], dtype=float32)
>>> grebe.ops.avg_pool1d(grebe.tensor([[[1.0], [2.0], [4.0]]]), 2, padding="same").numpy().ravel()
array([1.5, 4. ], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import normalize_tuple
from grebe.tensor import Tensor

__all__ = ["max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "max_pool", "average_pool",
           "global_avg_pool", "global_max_pool", "pool_output_length", "normalize_tuple",
           "normalize_padding"]


def normalize_padding(padding, who: str) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in ("valid", "same"):
        raise ValueError(f"{who}: padding must be 'valid' or 'same'. Received: "
                         f"padding={padding!r}")
    return p


def pool_output_length(size, pool: int, stride: int, padding: str):
    """Output length of one axis (None stays None): 'valid' floor((size - pool) / stride) + 1,
    'same' ceil(size / stride)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - pool) // stride + 1 if size >= pool else 0


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_rank(x, rank: int, who: str, layout: str):
    if x.ndim != rank:
        raise ValueError(f"{who}: expected an input of rank {rank} {layout}, received shape "
                         f"{tuple(x.shape)}")


def _dy(dy, shape):
    """The upstream gradient as the C-contiguous float32 array the kernels take."""
    return np.ascontiguousarray(dy, dtype=np.float32).reshape(shape)


class MaxPool2D(Function):
    """x (N, H, W, C) -> (N, P, Q, C), the max over each window; (N, L, C) pools L (1D)."""

    @staticmethod
    def forward(ctx, x, pool_size, strides, padding):
        x4 = x if x.ndim == 4 else x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])
        y, argmax = _C.max_pool2d_forward(x4, pool_size, strides, padding)
        ctx.save(argmax, x4.shape, x.shape, pool_size, strides, padding)
        return y if x.ndim == 4 else y.reshape(y.shape[0], y.shape[2], y.shape[3])

    @staticmethod
    def backward(ctx, dy):
        argmax, shape4, shape, pool_size, strides, padding = ctx.saved
        dx = _C.max_pool2d_backward(_dy(dy, argmax.shape), argmax, shape4, pool_size, strides,
                                    padding)
        return dx.reshape(shape), None, None, None


class AvgPool2D(Function):
    """x (N, H, W, C) -> (N, P, Q, C), the mean over each window's input positions; (N, L, C)
    pools L (1D)."""

    @staticmethod
    def forward(ctx, x, pool_size, strides, padding):
        x4 = x if x.ndim == 4 else x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])
        y = _C.avg_pool2d_forward(x4, pool_size, strides, padding)
        ctx.save(y.shape, x4.shape, x.shape, pool_size, strides, padding)
        return y if x.ndim == 4 else y.reshape(y.shape[0], y.shape[2], y.shape[3])

    @staticmethod
    def backward(ctx, dy):
        shape_y, shape4, shape, pool_size, strides, padding = ctx.saved
        dx = _C.avg_pool2d_backward(_dy(dy, shape_y), shape4, pool_size, strides, padding)
        return dx.reshape(shape), None, None, None


def _pool(fn, x, rank: int, pool_size, strides, padding, who: str) -> Tensor:
    x = _as_tensor(x)
    _check_rank(x, rank + 2, who, "(batch, height, width, channels)" if rank == 2
                else "(batch, steps, channels)")
    pool = normalize_tuple(pool_size, rank, "pool_size", who)
    stride = pool if strides is None else normalize_tuple(strides, rank, "strides", who)
    padding = normalize_padding(padding, who)
    if padding == "valid" and (x.shape[1] < pool[0] or x.shape[-2] < pool[-1]):
        raise ValueError(f"{who}: pool_size {pool} is larger than the input "
                         f"{tuple(x.shape[1:-1])} with padding='valid'")
    if rank == 1:
        pool, stride = (1,) + pool, (1,) + stride
    return fn.apply(x, pool, stride, padding)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding: str = "valid") -> Tensor:
    """x (N, H, W, C) -> (N, P, Q, C): the max over each pool_size window."""
    return _pool(MaxPool2D, x, 2, pool_size, strides, padding, "max_pool2d")


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding: str = "valid") -> Tensor:
    """x (N, H, W, C) -> (N, P, Q, C): the mean over each window (padding not counted)."""
    return _pool(AvgPool2D, x, 2, pool_size, strides, padding, "avg_pool2d")


def max_pool1d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """x (N, L, C) -> (N, L', C): the max over each window of pool_size steps."""
    return _pool(MaxPool2D, x, 1, pool_size, strides, padding, "max_pool1d")


def avg_pool1d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """x (N, L, C) -> (N, L', C): the mean over each window (padding not counted)."""
    return _pool(AvgPool2D, x, 1, pool_size, strides, padding, "avg_pool1d")


def max_pool(x, pool_size, strides=None, padding: str = "valid") -> Tensor:
    """Keras's ops.max_pool: 1D for (N, L, C), 2D for (N, H, W, C)."""
    x = _as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"max_pool: expected an input of rank 3 (N, L, C) or 4 (N, H, W, C), "
                         f"received shape {tuple(x.shape)}")
    return (max_pool1d if x.ndim == 3 else max_pool2d)(x, pool_size, strides, padding)


def average_pool(x, pool_size, strides=None, padding: str = "valid") -> Tensor:
    """Keras's ops.average_pool: 1D for (N, L, C), 2D for (N, H, W, C)."""
    x = _as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"average_pool: expected an input of rank 3 (N, L, C) or 4 "
                         f"(N, H, W, C), received shape {tuple(x.shape)}")
    return (avg_pool1d if x.ndim == 3 else avg_pool2d)(x, pool_size, strides, padding)


class GlobalAvgPool(Function):
    """x (N, ..., C) -> (N, C) (or (N, 1, ..., 1, C) with keepdims): the mean over the axes
    between batch and channels."""

    @staticmethod
    def forward(ctx, x, keepdims):
        n, c = x.shape[0], x.shape[-1]
        s = x.size // (n * c) if n * c else int(np.prod(x.shape[1:-1]))
        y = _C.global_avg_pool_forward(x.reshape(n, s, c))
        ctx.save(x.shape, s)
        return y.reshape((n,) + (1,) * (x.ndim - 2) + (c,)) if keepdims else y

    @staticmethod
    def backward(ctx, dy):
        shape, s = ctx.saved
        dx = _C.global_avg_pool_backward(_dy(dy, (shape[0], shape[-1])), s)
        return dx.reshape(shape), None


class GlobalMaxPool(Function):
    """x (N, ..., C) -> (N, C) (or (N, 1, ..., 1, C) with keepdims): the max over the axes
    between batch and channels."""

    @staticmethod
    def forward(ctx, x, keepdims):
        n, c = x.shape[0], x.shape[-1]
        s = x.size // (n * c) if n * c else int(np.prod(x.shape[1:-1]))
        y, argmax = _C.global_max_pool_forward(x.reshape(n, s, c))
        ctx.save(argmax, x.shape, s)
        return y.reshape((n,) + (1,) * (x.ndim - 2) + (c,)) if keepdims else y

    @staticmethod
    def backward(ctx, dy):
        argmax, shape, s = ctx.saved
        dx = _C.global_max_pool_backward(_dy(dy, argmax.shape), argmax, s)
        return dx.reshape(shape), None


def _global(fn, x, keepdims: bool, who: str) -> Tensor:
    x = _as_tensor(x)
    if x.ndim < 3:
        raise ValueError(f"{who}: expected an input of rank >= 3 (batch, ..., channels), "
                         f"received shape {tuple(x.shape)}")
    if any(d == 0 for d in x.shape[1:-1]):
        raise ValueError(f"{who}: the pooled axes must not be empty, received shape "
                         f"{tuple(x.shape)}")
    return fn.apply(x, bool(keepdims))


def global_avg_pool(x, keepdims: bool = False) -> Tensor:
    """x (N, ..., C) -> (N, C): the mean over every axis between batch and channels."""
    return _global(GlobalAvgPool, x, keepdims, "global_avg_pool")


def global_max_pool(x, keepdims: bool = False) -> Tensor:
    """x (N, ..., C) -> (N, C): the max over every axis between batch and channels."""
    return _global(GlobalMaxPool, x, keepdims, "global_max_pool")
