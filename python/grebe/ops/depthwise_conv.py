"""Depthwise convolution over channels-last data on the native kernels
(grebe._C.depthwise_conv2d_*, csrc/kernels/depthwise_conv.h).

>>> import grebe, numpy as np
>>> x = grebe.tensor(np.ones((2, 8, 8, 3)))
>>> k = grebe.tensor(np.ones((3, 3, 3, 2)))      # (R, S, C, depth_multiplier)
>>> grebe.ops.depthwise_conv2d(x, k, padding="same").shape
(2, 8, 8, 6)

Shapes follow Keras: depthwise_conv2d x (N, H, W, C), kernel (R, S, C, M), bias (C*M)
-> (N, P, Q, C*M), output channel c*M + m from input channel c and filter m;
depthwise_conv1d x (N, L, C), kernel (k, C, M) -> (N, L', C*M) (the 2-D kernels with H = 1).
padding 'valid' or 'same' (TensorFlow's rule, as ops.conv2d). The input gradient is skipped
when the input does not require one, the kernel/bias gradients when they do not.
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import normalize_tuple
from grebe.ops.conv import _input, _pads, inputs_of_rank
from grebe.tensor import Tensor


class DepthwiseConv2D(Function):
    """x (N, H, W, C), kernel (R, S, C, M), bias (C*M) or None -> y (N, P, Q, C*M).

    geom = (strides, (top, bottom, left, right), dilation)."""

    @staticmethod
    def forward(ctx, x, kernel, bias, geom):
        strides, pads, dilation = geom
        x, kernel = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(kernel, np.float32)
        if bias is not None:
            bias = np.ascontiguousarray(bias, np.float32)
        ctx.save(x, kernel, geom)
        return _C.depthwise_conv2d_forward(x, kernel, bias, strides, pads, dilation)

    @staticmethod
    def backward(ctx, dy):
        x, kernel, (strides, pads, dilation) = ctx.saved
        need_x, need_k, need_b = ctx.needs_input_grad[:3]
        return _C.depthwise_conv2d_backward(np.ascontiguousarray(dy, dtype=np.float32), x,
                                            kernel, strides, pads, dilation, need_x, need_k,
                                            need_b)


class DepthwiseConv1D(Function):
    """x (N, L, C), kernel (k, C, M), bias (C*M) or None -> y (N, L', C*M): DepthwiseConv2D
    with H = 1 on reshaped views."""

    @staticmethod
    def forward(ctx, x, kernel, bias, geom):
        return DepthwiseConv2D.forward(ctx, x[:, None], kernel[None], bias, geom)[:, 0]

    @staticmethod
    def backward(ctx, dy):
        dx, dk, db = DepthwiseConv2D.backward(ctx, dy[:, None])
        return (None if dx is None else dx[:, 0], None if dk is None else dk[0], db)


def _check(op: str, x, kernel, bias, rank: int) -> tuple:
    xa, ka = inputs_of_rank(op, x, kernel, rank, "in_channels, depth_multiplier")
    if ka.shape[-2] != xa.shape[-1]:
        raise ValueError(f"{op}: input has {xa.shape[-1]} channels but kernel expects "
                         f"{ka.shape[-2]} (kernel shape {ka.shape})")
    out_channels = ka.shape[-2] * ka.shape[-1]
    if bias is not None:
        ba = _input(bias, op, "bias")
        if ba.shape != (out_channels,):
            raise ValueError(f"{op}: bias must have shape ({out_channels},), received "
                             f"{ba.shape}")
        if not isinstance(bias, Tensor):
            bias = ba
    return xa, ka, bias


def _padding(op: str, padding) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', received "
                         f"padding={padding!r}")
    return padding.lower()


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid",
                     dilation_rate=(1, 1)) -> Tensor:
    """Depthwise 2-D convolution: x (N, H, W, C), kernel (R, S, C, M), bias (C*M)
    -> (N, P, Q, C*M)."""
    op = "depthwise_conv2d"
    xa, ka, bias = _check(op, x, kernel, bias, 2)
    strides = normalize_tuple(strides, 2, "strides", op)
    dilation = normalize_tuple(dilation_rate, 2, "dilation_rate", op)
    pads = _pads(op, _padding(op, padding), xa.shape[1:3], ka.shape[:2], strides, dilation)
    return DepthwiseConv2D.apply(xa, ka, bias, (strides, pads, dilation))


def depthwise_conv1d(x, kernel, bias=None, strides=1, padding="valid",
                     dilation_rate=1) -> Tensor:
    """Depthwise 1-D convolution: x (N, L, C), kernel (k, C, M), bias (C*M) -> (N, L', C*M)."""
    op = "depthwise_conv1d"
    xa, ka, bias = _check(op, x, kernel, bias, 1)
    strides = (1,) + normalize_tuple(strides, 1, "strides", op)
    dilation = (1,) + normalize_tuple(dilation_rate, 1, "dilation_rate", op)
    pads = _pads(op, _padding(op, padding), (1, xa.shape[1]), (1, ka.shape[0]), strides,
                 dilation)
    return DepthwiseConv1D.apply(xa, ka, bias, (strides, pads, dilation))
