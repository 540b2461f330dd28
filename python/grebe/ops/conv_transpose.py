"""Transposed convolution over channels-last data, on the native conv kernels.

>>> import grebe, numpy as np
>>> x = grebe.tensor(np.ones((2, 5, 5, 3)))
>>> k = grebe.tensor(np.ones((3, 3, 4, 3)))      # (R, S, filters, in_channels), Keras's layout
>>> grebe.ops.conv2d_transpose(x, k, strides=2, padding="same").shape
(2, 10, 10, 4)

A transposed convolution is the input gradient of a convolution: with the forward conv of
stride s, dilation d and top/left padding pt, input i and tap t reach output
o = i*s - pt + t*d. So the three passes are the existing conv kernels (kernels/conv.h), each
with its AVX2 / portable variants and its bit-for-bit determinism:
  forward          y  = conv2d_backward_data(x as the conv's output gradient, kernel)
  input gradient   dx = conv2d_forward(dy, kernel)
  kernel gradient  dk = conv2d_backward_weights(dy as the conv's input, x as its gradient)
Shapes: conv2d_transpose x (N, H, W, C), kernel (R, S, F, C), bias (F) -> (N, H', W', F);
conv1d_transpose x (N, L, C), kernel (k, F, C) -> (N, L', F) (the 2-D kernels with H = 1).

Padding follows Keras 3 (the TensorFlow/JAX rule, `conv_transpose_padding` below): output
length (in-1)*s + max(dk, s) for 'valid', in*s for 'same', where dk = (k-1)*d + 1; with
output_padding p, (in-1)*s + dk - 2*(dk//2) + p ('same') or (in-1)*s + dk + p ('valid').
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import normalize_tuple
from grebe.ops.conv import _input, inputs_of_rank
from grebe.tensor import Tensor


def conv_transpose_padding(size: int, kernel: int, stride: int, dilation: int, padding: str,
                           output_padding) -> tuple:
    """(output length, top/left padding of the equivalent conv) of one spatial axis.

    Keras's rule: the input, dilated by the stride, is padded with `left` zeros before and
    `right` after and correlated with the flipped kernel; the equivalent conv's padding is
    dk - 1 - left."""
    dk = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(dk, stride) - dk if output_padding is None else output_padding
        left, right = dk - 1, dk - 1 + extra
    else:
        pad_len = stride + dk - 2 if output_padding is None else \
            dk + dk % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, dk - 1)
        right = pad_len - left
    length = (size - 1) * stride + 1 + left + right - dk + 1
    return length, dk - 1 - left


class Conv2DTranspose(Function):
    """x (N, H, W, C), kernel (R, S, F, C), bias (F) or None -> y (N, Ho, Wo, F).

    geom = (strides, (top, bottom, left, right) of the equivalent conv, dilation, (Ho, Wo))."""

    @staticmethod
    def forward(ctx, x, kernel, bias, geom):
        strides, pads, dilation, out_hw = geom
        x, kernel = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(kernel, np.float32)
        y = _C.conv2d_backward_data(x, kernel, None, out_hw, strides, pads, dilation)
        if bias is not None:
            y += np.asarray(bias, np.float32)
        ctx.save(x, kernel, geom)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, kernel, (strides, pads, dilation, _) = ctx.saved
        need_x, need_k, need_b = ctx.needs_input_grad[:3]
        dy = np.ascontiguousarray(dy, dtype=np.float32)
        dx = dk = db = None
        if need_x:
            dx = _C.conv2d_forward(dy, kernel, None, strides, pads, dilation, False)
        if need_k:
            dk, _ = _C.conv2d_backward_weights(dy, x, None, kernel.shape[:2], strides, pads,
                                               dilation, False)
        if need_b:
            db = dy.reshape(-1, dy.shape[-1]).sum(axis=0, dtype=np.float32)
        return dx, dk, db


class Conv1DTranspose(Function):
    """x (N, L, C), kernel (k, F, C), bias (F) or None -> y (N, Lo, F): Conv2DTranspose with
    H = 1 on reshaped views."""

    @staticmethod
    def forward(ctx, x, kernel, bias, geom):
        return Conv2DTranspose.forward(ctx, x[:, None], kernel[None], bias, geom)[:, 0]

    @staticmethod
    def backward(ctx, dy):
        dx, dk, db = Conv2DTranspose.backward(ctx, dy[:, None])
        return (None if dx is None else dx[:, 0], None if dk is None else dk[0], db)


def _check(op: str, x, kernel, bias, rank: int) -> tuple:
    xa, ka = inputs_of_rank(op, x, kernel, rank, "filters, in_channels")
    if ka.shape[-1] != xa.shape[-1]:
        raise ValueError(f"{op}: input has {xa.shape[-1]} channels but kernel expects "
                         f"{ka.shape[-1]} (kernel shape {ka.shape}, (..., filters, "
                         f"in_channels))")
    if bias is not None:
        ba = _input(bias, op, "bias")
        if ba.shape != (ka.shape[-2],):
            raise ValueError(f"{op}: bias must have shape ({ka.shape[-2]},), received "
                             f"{ba.shape}")
        if not isinstance(bias, Tensor):
            bias = ba
    return xa, ka, bias


def _geometry(op, spatial, ksize, strides, padding, output_padding, dilation, rank):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', received "
                         f"padding={padding!r}")
    padding = padding.lower()
    strides = normalize_tuple(strides, rank, "strides", op)
    dilation = normalize_tuple(dilation, rank, "dilation_rate", op)
    if output_padding is None:
        output_padding = (None,) * rank
    else:
        if isinstance(output_padding, (int, np.integer)):
            output_padding = (int(output_padding),) * rank
        output_padding = tuple(int(v) for v in output_padding)
        if len(output_padding) != rank or any(v < 0 for v in output_padding):
            raise ValueError(f"{op}: output_padding must be None or {rank} non-negative "
                             f"integers, received output_padding={output_padding!r}")
        if any(p >= s for p, s in zip(output_padding, strides)):
            raise ValueError(f"{op}: strides must be greater than output padding, received "
                             f"strides={strides}, output_padding={output_padding}")
    out, pads = [], []
    for size, k, s, d, p in zip(spatial, ksize, strides, dilation, output_padding):
        length, before = conv_transpose_padding(size, k, s, d, padding, p)
        dk = (k - 1) * d + 1
        # The equivalent conv over `length` must give back `size` outputs.
        after = max(0, (size - 1) * s + dk - length - before)
        if length < 1 or (length + before + after - dk) // s + 1 != size:
            raise ValueError(f"{op}: cannot transpose an input of length {size} with kernel "
                             f"{k}, stride {s}, dilation {d}, padding {padding!r}")
        out.append(length)
        pads += [before, after]
    return strides, tuple(pads), dilation, tuple(out)


def conv2d_transpose(x, kernel, bias=None, strides=(1, 1), padding="valid", output_padding=None,
                     dilation_rate=(1, 1)):
    """Transposed 2-D convolution: x (N, H, W, C), kernel (R, S, F, C), bias (F)
    -> (N, H', W', F), Keras's output size and padding rules."""
    op = "conv2d_transpose"
    xa, ka, bias = _check(op, x, kernel, bias, 2)
    strides, pads, dilation, out = _geometry(op, xa.shape[1:3], ka.shape[:2], strides, padding,
                                             output_padding, dilation_rate, 2)
    return Conv2DTranspose.apply(xa, ka, bias, (strides, pads, dilation, out))


def conv1d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1):
    """Transposed 1-D convolution: x (N, L, C), kernel (k, F, C), bias (F) -> (N, L', F)."""
    op = "conv1d_transpose"
    xa, ka, bias = _check(op, x, kernel, bias, 1)
    if output_padding is not None:  # one integer (or a 1-tuple) for the length axis
        pad = output_padding
        if not isinstance(pad, (int, np.integer)):
            pad = tuple(pad)
            if len(pad) != 1:
                raise ValueError(f"{op}: output_padding must be None or 1 integer, received "
                                 f"output_padding={output_padding!r}")
            pad = pad[0]
        output_padding = (0, int(pad))
    strides = (1,) + normalize_tuple(strides, 1, "strides", op)
    dilation = (1,) + normalize_tuple(dilation_rate, 1, "dilation_rate", op)
    strides, pads, dilation, out = _geometry(op, (1, xa.shape[1]), (1, ka.shape[0]), strides,
                                             padding, output_padding, dilation, 2)
    return Conv1DTranspose.apply(xa, ka, bias, (strides, pads, dilation, out))
