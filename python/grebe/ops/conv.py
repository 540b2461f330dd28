"""Convolution over channels-last data on the native kernels (grebe._C.conv2d_*).

>>> import grebe, numpy as np
>>> x = grebe.tensor(np.ones((2, 8, 8, 3)))
>>> k = grebe.tensor(np.ones((3, 3, 3, 4)))
>>> grebe.ops.conv2d(x, k, padding="same").shape
(2, 8, 8, 4)

Shapes follow Keras: conv2d x (N, H, W, C), kernel (R, S, C/groups, K) -> (N, P, Q, K);
conv1d x (N, L, C), kernel (k, C/groups, K) -> (N, L', K). conv1d runs the 2-D kernels with
H = 1 (reshapes only, no copies). padding is 'valid', 'same' (TensorFlow's rule: the total
padding max((ceil(H/s) - 1)*s + (k-1)*d + 1 - H, 0) is split with the extra pixel at the
bottom/right) or, for conv1d, 'causal' ((k-1)*d zeros on the left). activation='relu' is fused
into the kernel's store, and its gradient into the backward kernels (they read the saved
output): no separate pass over the activations. The input gradient is skipped when the input
does not require one (the first layer), and the kernel/bias gradients when they do not.
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import is_bf16, normalize_tuple
from grebe.tensor import Tensor

_F32 = np.dtype(np.float32)


def _input(x, op: str, arg: str):
    """A float Tensor as it is (it carries the graph); anything else as a float32 array."""
    if isinstance(x, Tensor):
        if x.dtype != _F32:
            raise TypeError(f"{op}: {arg} must be float32, received dtype {x.dtype}")
        return x
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {arg} must be numeric, received dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple:
    """(before, after) zero padding of TensorFlow's 'same' for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def output_size(size, kernel: int, stride: int, dilation: int, padding: str):
    """Output length of one spatial axis ('valid', 'same' or 'causal'); None stays None."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    span = (kernel - 1) * dilation + 1
    if padding == "causal":
        size += span - 1
    return max((size - span) // stride + 1, 0)


_MAX_EXTRA_PAD = 1024  # padding per side beyond the input's own size


def check_span(who: str, padding: str, spatial: tuple, kernel: tuple, dilation: tuple) -> None:
    """With padding 'same'/'causal', a dilated kernel span (k - 1) * d + 1 far larger than the
    input pads it by that much: taps that far read only zeros, and the padded buffers end in
    std::bad_alloc. A side padding above the input size + 1024 is refused here, naming `who`."""
    if not isinstance(padding, str) or padding.lower() not in ("same", "causal"):
        return
    for size, k, d in zip(spatial, kernel, dilation):
        if size is None:
            continue
        span = (int(k) - 1) * int(d) + 1
        pad = span - 1 if padding.lower() == "causal" else (span - 1 + 1) // 2
        if pad > int(size) + _MAX_EXTRA_PAD:
            raise ValueError(
                f"{who}: kernel_size {tuple(kernel)} with dilation_rate {tuple(dilation)} spans "
                f"{span} positions on an input of size {tuple(spatial)}; padding='{padding}' "
                f"would add {pad} on a side, more than the input size + {_MAX_EXTRA_PAD}, so "
                f"those taps would read only padding. Use a smaller dilation_rate or kernel_size")


def _pads(op: str, padding, spatial: tuple, kernel: tuple, strides: tuple,
          dilation: tuple) -> tuple:
    """(top, bottom, left, right) for the 2-D kernels; spatial/kernel/... are (H, W) pairs."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
        raise ValueError(f"{op}: padding must be 'valid', 'same'" +
                         (" or 'causal'" if op == "conv1d" else "") +
                         f", received padding={padding!r}")
    padding = padding.lower()
    if padding == "valid":
        return (0, 0, 0, 0)
    check_span(op, padding, spatial if padding != "causal" else spatial[1:],
               kernel if padding != "causal" else kernel[1:],
               dilation if padding != "causal" else dilation[1:])
    if padding == "causal":
        if op != "conv1d":
            raise ValueError(f"{op}: padding='causal' is only for conv1d, received "
                             f"padding={padding!r}")
        return (0, 0, (kernel[1] - 1) * dilation[1], 0)
    t, b = same_padding(spatial[0], kernel[0], strides[0], dilation[0])
    left, right = same_padding(spatial[1], kernel[1], strides[1], dilation[1])
    return (t, b, left, right)


class Conv2D(Function):
    """x (N, H, W, C), kernel (R, S, C/groups, K), bias (K) or None -> y (N, P, Q, K).

    geom = (strides, (top, bottom, left, right), dilation); relu fuses max(0, .). bf16 (groups
    1 only): the conv2d_*_bf16 kernels, bfloat16 products with float32 sums, forward and
    backward.
    """

    @staticmethod
    def forward(ctx, x, kernel, bias, geom, relu, groups, bf16=False):
        strides, pads, dilation = geom
        x, kernel = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(kernel, np.float32)
        if bias is not None:
            bias = np.ascontiguousarray(bias, np.float32)
        if bf16:
            y = _C.conv2d_forward_bf16(x, kernel, bias, strides, pads, dilation, relu)
        elif groups == 1:
            y = _C.conv2d_forward(x, kernel, bias, strides, pads, dilation, relu)
        else:  # every group in one call: one lowering, one batched GEMM (grouped_conv.h)
            y = _C.grouped_conv2d_forward(x, kernel, bias, strides, pads, dilation, groups)
            if relu:
                np.maximum(y, 0.0, out=y)  # NaN stays NaN
        ctx.save(x, kernel, y if relu else None, geom, groups, bf16)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, kernel, y, (strides, pads, dilation), groups, bf16 = ctx.saved
        need_x, need_k, need_b = ctx.needs_input_grad[:3]
        dy = np.ascontiguousarray(dy, dtype=np.float32)
        if groups == 1:
            backward = _C.conv2d_backward_bf16 if bf16 else _C.conv2d_backward
            return backward(dy, x, kernel, y, strides, pads, dilation, need_x, need_k, need_b)
        if y is not None:  # the fused relu's gradient: dy where y > 0
            dy = np.where(y > 0, dy, np.float32(0.0))
        return _C.grouped_conv2d_backward(dy, x, kernel, strides, pads, dilation, groups,
                                          need_x, need_k, need_b)


class Conv1D(Function):
    """x (N, L, C), kernel (k, C/groups, K), bias (K) or None -> y (N, L', K): Conv2D with
    H = 1 on reshaped views."""

    @staticmethod
    def forward(ctx, x, kernel, bias, geom, relu, groups, bf16=False):
        y = Conv2D.forward(ctx, x[:, None], kernel[None], bias, geom, relu, groups, bf16)
        return y[:, 0]

    @staticmethod
    def backward(ctx, dy):
        dx, dk, db = Conv2D.backward(ctx, dy[:, None])
        return (None if dx is None else dx[:, 0], None if dk is None else dk[0], db)


class Conv2DReluMaxPool(Function):
    """x (N, H, W, C), kernel (R, S, C, K), bias (K) or None -> (N, P // ph, Q // pw, K) =
    max_pool(relu(conv2d(x, kernel) + bias)), pool windows (ph, pw) with strides (ph, pw),
    'valid'. One kernel: the conv output is pooled in L1 and never stored; the backward reads
    the pooled gradient and the u8 argmax. bf16: the *_bf16 kernels (bfloat16 products)."""

    @staticmethod
    def forward(ctx, x, kernel, bias, geom, pool, bf16=False):
        strides, pads, dilation = geom
        x, kernel = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(kernel, np.float32)
        if bias is not None:
            bias = np.ascontiguousarray(bias, np.float32)
        forward = _C.conv2d_relu_maxpool_forward_bf16 if bf16 else \
            _C.conv2d_relu_maxpool_forward
        y, argmax = forward(x, kernel, bias, strides, pads, dilation, pool)
        ctx.save(x, kernel, y, argmax, geom, pool, bf16)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, kernel, y, argmax, (strides, pads, dilation), pool, bf16 = ctx.saved
        need_x, need_k, need_b = ctx.needs_input_grad[:3]
        backward = _C.conv2d_relu_maxpool_backward_bf16 if bf16 else \
            _C.conv2d_relu_maxpool_backward
        return backward(np.ascontiguousarray(dy, dtype=np.float32), argmax, y, x, kernel,
                        strides, pads, dilation, pool, need_x, need_k, need_b)


def _activation(op: str, activation) -> bool:
    """True for a fused relu; None/'linear' give False; anything else is refused here (the
    layers apply other activations after the op)."""
    if activation is None or activation == "linear":
        return False
    if activation == "relu":
        return True
    raise ValueError(f"{op}: activation must be None, 'linear' or 'relu' (apply other "
                     f"activations to the result), received activation={activation!r}")


def inputs_of_rank(op: str, x, kernel, rank: int, kernel_tail: str) -> tuple:
    """x and kernel as for apply (see _input), checked to be (N, *spatial, C) and
    (*kernel_size, <kernel_tail>) of a rank-`rank` convolution; shared by every conv family."""
    xa, ka = _input(x, op, "x"), _input(kernel, op, "kernel")
    if xa.ndim != rank + 2:
        layout = "(batch, length, channels)" if rank == 1 else "(batch, height, width, channels)"
        raise ValueError(f"{op}: x must have rank {rank + 2} {layout}, received shape "
                         f"{xa.shape}")
    if ka.ndim != rank + 2:
        raise ValueError(f"{op}: kernel must have rank {rank + 2} "
                         f"({'kernel_size, ' * rank}{kernel_tail}), received shape {ka.shape}")
    return xa, ka


def _check(op: str, x, kernel, bias, rank: int, groups, compute_dtype="float32") -> tuple:
    """Checks ranks, channels, groups, the bias and compute_dtype; returns x and kernel ready
    for apply (Tensors as they are, anything else as float32 arrays) and the bf16 flag."""
    xa, ka = inputs_of_rank(op, x, kernel, rank, "in_channels, filters")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, received groups={groups!r}")
    channels, filters = xa.shape[-1], ka.shape[-1]
    if channels != ka.shape[-2] * groups:
        extra = f" with groups={groups}" if groups != 1 else ""
        raise ValueError(f"{op}: input has {channels} channels but kernel expects "
                         f"{ka.shape[-2] * groups}{extra} (kernel shape {ka.shape})")
    if filters % groups:
        raise ValueError(f"{op}: filters ({filters}) must be divisible by groups ({groups})")
    if bias is not None:
        ba = _input(bias, op, "bias")
        if ba.shape != (filters,):
            raise ValueError(f"{op}: bias must have shape ({filters},), received {ba.shape}")
    bf16 = is_bf16(compute_dtype, op)
    if bf16 and groups != 1:
        raise ValueError(f"{op}: compute_dtype='bfloat16' needs groups=1 (there is no bfloat16 "
                         f"grouped convolution kernel), received groups={groups}")
    return xa, ka, bf16


def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
           activation=None, groups: int = 1, *, compute_dtype: str = "float32") -> Tensor:
    """2-D convolution, channels last: x (N, H, W, C), kernel (R, S, C/groups, K), bias (K)
    -> (N, P, Q, K). activation None/'linear'/'relu' (fused). compute_dtype 'bfloat16' (groups
    1): bfloat16 products with float32 sums, forward and backward; the output is float32."""
    op = "conv2d"
    xa, ka, bf16 = _check(op, x, kernel, bias, 2, groups, compute_dtype)
    strides = normalize_tuple(strides, 2, "strides", op)
    dilation = normalize_tuple(dilation_rate, 2, "dilation_rate", op)
    pads = _pads(op, padding, xa.shape[1:3], ka.shape[:2], strides, dilation)
    relu = _activation(op, activation)
    return Conv2D.apply(xa, ka, _bias_arg(bias),
                        (strides, pads, dilation), relu, int(groups), bf16)


def conv2d_relu_maxpool(x, kernel, bias=None, strides=(1, 1), padding="valid",
                        dilation_rate=(1, 1), pool_size=(2, 2), *,
                        compute_dtype: str = "float32") -> Tensor:
    """max_pool2d(relu(conv2d(x, kernel, bias)), pool_size) in one fused op (pool strides =
    pool_size, 'valid' pooling): x (N, H, W, C), kernel (R, S, C, K) -> (N, P // ph, Q // pw, K).
    The same values as the three ops in a row (with the same compute_dtype); the conv output
    is never written to memory."""
    op = "conv2d_relu_maxpool"
    xa, ka, bf16 = _check(op, x, kernel, bias, 2, 1, compute_dtype)
    strides = normalize_tuple(strides, 2, "strides", op)
    dilation = normalize_tuple(dilation_rate, 2, "dilation_rate", op)
    pool = normalize_tuple(pool_size, 2, "pool_size", op)
    pads = _pads(op, padding, xa.shape[1:3], ka.shape[:2], strides, dilation)
    return Conv2DReluMaxPool.apply(xa, ka, _bias_arg(bias), (strides, pads, dilation), pool,
                                   bf16)


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, activation=None,
           groups: int = 1, *, compute_dtype: str = "float32") -> Tensor:
    """1-D convolution, channels last: x (N, L, C), kernel (k, C/groups, K), bias (K)
    -> (N, L', K). padding 'valid', 'same' or 'causal'; activation None/'linear'/'relu';
    compute_dtype as conv2d's."""
    op = "conv1d"
    xa, ka, bf16 = _check(op, x, kernel, bias, 1, groups, compute_dtype)
    strides = (1,) + normalize_tuple(strides, 1, "strides", op)
    dilation = (1,) + normalize_tuple(dilation_rate, 1, "dilation_rate", op)
    pads = _pads(op, padding, (1, xa.shape[1]), (1, ka.shape[0]), strides, dilation)
    relu = _activation(op, activation)
    return Conv1D.apply(xa, ka, _bias_arg(bias),
                        (strides, pads, dilation), relu, int(groups), bf16)


def _bias_arg(bias):
    if bias is None or isinstance(bias, Tensor):
        return bias
    return np.ascontiguousarray(bias, dtype=np.float32)
