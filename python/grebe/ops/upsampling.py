"""Upsampling ops: repeat (nearest-neighbour upsampling, RepeatVector) and bilinear resizing.

>>> import grebe, numpy as np
>>> from grebe.ops.upsampling import repeat
>>> repeat(np.array([[1.0, 2.0]]), 2, axis=1).numpy().tolist()
[[1.0, 1.0, 2.0, 2.0]]
>>> grebe.ops.resize_bilinear(np.ones((1, 2, 2, 3)), (4, 6)).shape
(1, 4, 6, 3)

repeat: every element repeated `repeats` times along `axis` (numpy's np.repeat); its gradient
sums each run of copies. resize_bilinear: x (N, H, W, C) -> (N, Ho, Wo, C) with half-pixel
centers (TensorFlow 2's tf.image.resize, PyTorch's align_corners=False, what Keras 3's
UpSampling2D(interpolation='bilinear') computes): output o reads source position
(o + 0.5) * in / out - 0.5, clamped to [0, in - 1], linearly between its two neighbours. It is
separable: two products with small interpolation matrices on the native GEMM (ops.matmul), so
its gradient is the transposed products.
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.tensor import Tensor


class Repeat(Function):
    """x (..., L, ...) -> (..., L * repeats, ...) along `axis`."""

    @staticmethod
    def forward(ctx, x, repeats, axis):
        ctx.save(x.shape, repeats, axis)
        return np.repeat(x, repeats, axis=axis)

    @staticmethod
    def backward(ctx, dy):
        shape, repeats, axis = ctx.saved
        split = shape[:axis] + (shape[axis], repeats) + shape[axis + 1:]
        return (np.ascontiguousarray(dy.reshape(split).sum(axis=axis + 1, dtype=np.float32)),)


def repeat(x, repeats: int, axis: int) -> Tensor:
    """Each element `repeats` times along `axis` (np.repeat with an integer count)."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeat: repeats must be a positive integer, received "
                         f"repeats={repeats!r}")
    xa = x if isinstance(x, Tensor) else np.asarray(x, dtype=np.float32)
    if not -xa.ndim <= axis < xa.ndim:
        raise ValueError(f"repeat: axis {axis} is out of range for an input of shape "
                         f"{tuple(xa.shape)}")
    return Repeat.apply(xa, int(repeats), axis % xa.ndim)


def bilinear_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) weights of half-pixel-centre linear interpolation along one axis."""
    m = np.zeros((out, size), np.float32)
    src = np.maximum((np.arange(out) + 0.5) * (size / out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    frac = (src - i0).astype(np.float32)
    rows = np.arange(out)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def resize_bilinear(x, size) -> Tensor:
    """x (N, H, W, C) -> (N, Ho, Wo, C), size = (Ho, Wo), half-pixel centers."""
    from grebe.ops.matmul import matmul
    from grebe.ops.shape_ops import reshape

    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
    if x.ndim != 4:
        raise ValueError(f"resize_bilinear: x must have rank 4 (batch, height, width, "
                         f"channels), received shape {tuple(x.shape)}")
    n, h, w, c = x.shape
    ho, wo = (int(v) for v in size)
    ah, aw = bilinear_matrix(h, ho), bilinear_matrix(w, wo)
    y = matmul(ah, reshape(x, (n, h, w * c)))             # (N, Ho, W*C)
    y = matmul(aw, reshape(y, (n * ho, w, c)))            # (N*Ho, Wo, C)
    return reshape(y, (n, ho, wo, c))
