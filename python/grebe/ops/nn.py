"""keras.ops.nn: activations, convolutions, pooling, normalization, one-hot encodings, the
cross-entropies and attention, in Keras's signatures (channels_last; channels_first inputs are
transposed around the channels-last kernels).

The activations, softmax, conv and pooling run grebe's native ops; the rest compose them.

>>> from grebe import ops
>>> ops.one_hot([0, 2], 3).numpy().tolist()
[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
"""
from __future__ import annotations

import numpy as np

from grebe import backend as _backend
from grebe.ops import activation as _a
from grebe.ops.conv import conv1d as _conv1d
from grebe.ops.conv import conv2d as _conv2d
from grebe.ops import math as _m
from grebe.ops import normalization as _n
from grebe.ops import pool as _p
from grebe.ops import reduce as _r
from grebe.ops._keras import fl, gather, keras_op, needs_grad, np_dtype, out, raw, val
from grebe.ops.np_shape import moveaxis, reshape, split, transpose, where

_f32 = np.float32


def _wrap_fl(name, fn):
    def op(x, *args, **kwargs):
        return fn(fl(x), *args, **kwargs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = fn.__doc__ or f"Keras's ops.{name}."
    return keras_op(op)


relu = _wrap_fl("relu", _a.relu)
relu6 = _wrap_fl("relu6", _a.relu6)
sigmoid = _wrap_fl("sigmoid", _a.sigmoid)
tanh = _wrap_fl("tanh", _a.tanh)
softplus = _wrap_fl("softplus", _a.softplus)
softsign = _wrap_fl("softsign", _a.softsign)
silu = _wrap_fl("silu", _a.silu)
swish = silu
log_sigmoid = _wrap_fl("log_sigmoid", _a.log_sigmoid)
leaky_relu = _wrap_fl("leaky_relu", _a.leaky_relu)
hard_sigmoid = _wrap_fl("hard_sigmoid", _a.hard_sigmoid)
hard_silu = _wrap_fl("hard_silu", _a.hard_silu)
hard_swish = hard_silu
elu = _wrap_fl("elu", _a.elu)
selu = _wrap_fl("selu", _a.selu)
mish = _wrap_fl("mish", _a.mish)
exponential = _wrap_fl("exponential", _a.exponential)
linear = _wrap_fl("linear", _a.linear)


@keras_op
def gelu(x, approximate=True):
    """Keras's ops.gelu: the tanh approximation by default (activations.gelu is exact)."""
    return _a.gelu(fl(x), approximate)


@keras_op
def softmax(x, axis=-1):
    v = fl(x)
    if isinstance(axis, (tuple, list)):
        from grebe.ops.np_reduce import logsumexp
        return _m.exp(v - logsumexp(v, axis=tuple(axis), keepdims=True))
    return _a.softmax(v, axis)


@keras_op
def log_softmax(x, axis=-1):
    v = fl(x)
    if isinstance(axis, (tuple, list)):
        from grebe.ops.np_reduce import logsumexp
        return v - logsumexp(v, axis=tuple(axis), keepdims=True)
    return _a.log_softmax(v, axis)


def _w(cond, a, b):
    return where(cond, a, b)


@keras_op
def celu(x, alpha=1.0):
    v = fl(x)
    neg = _m.minimum(alpha * (_m.exp(v * (1.0 / alpha)) - 1.0), 0.0)
    return _m.maximum(v, 0.0) + neg


@keras_op
def glu(x, axis=-1):
    a, b = split(fl(x), 2, axis)
    return a * _a.sigmoid(b)


@keras_op
def hard_tanh(x):
    return _m.clip(fl(x), -1.0, 1.0)


@keras_op
def hard_shrink(x, threshold=0.5):
    v = fl(x)
    return _w(np.abs(raw(v)) > threshold, v, np.float32(0))


@keras_op
def soft_shrink(x, threshold=0.5):
    v = fl(x)
    a = raw(v)
    return _w(a > threshold, v - threshold, _w(a < -threshold, v + threshold, np.float32(0)))


@keras_op
def tanh_shrink(x):
    v = fl(x)
    return v - _a.tanh(v)


@keras_op
def sparse_plus(x):
    v = fl(x)
    a = raw(v)
    mid = _m.square(v + 1.0) * 0.25
    return _w(a <= -1, np.float32(0), _w(a >= 1, v, mid))


@keras_op
def sparse_sigmoid(x):
    v = fl(x)
    a = raw(v)
    return _w(a <= -1, np.float32(0), _w(a >= 1, np.float32(1), (v + 1.0) * 0.5))


@keras_op
def squareplus(x, b=4):
    v = fl(x)
    return (v + _m.sqrt(_m.square(v) + float(b))) * 0.5


@keras_op
def threshold(x, threshold, default_value):  # noqa: A002 (Keras's name)
    v = fl(x)
    return _w(raw(v) > threshold, v, np.float32(default_value))


@keras_op
def sparsemax(x, axis=-1):
    """Projection onto the simplex (Martins & Astudillo 2016). The support is found in numpy;
    tau = (sum of the supported x - 1) / k stays a function of x, so the gradient is exact."""
    v = fl(x)
    a = np.moveaxis(raw(v), axis, -1)
    z = -np.sort(-a, axis=-1)
    k = np.arange(1, a.shape[-1] + 1, dtype=_f32)
    cums = np.cumsum(z, -1)
    support_k = np.sum(1 + k * z > cums, axis=-1, keepdims=True)
    tau_np = (np.take_along_axis(cums, support_k - 1, -1) - 1) / support_k
    mask = np.moveaxis(a > tau_np, -1, axis)
    s = _r.sum(_w(mask, v, np.float32(0)), axis, True)
    tau = (s - 1.0) * (1.0 / np.moveaxis(support_k, -1, axis).astype(_f32))
    return _w(mask, v - tau, np.float32(0))


# ---- convolution and pooling ---------------------------------------------------------------
def _channels_last(x, data_format):
    if data_format == "channels_first":
        nd = np.ndim(raw(x))
        return transpose(x, (0,) + tuple(range(2, nd)) + (1,))
    return fl(x)


def _channels_back(y, data_format):
    if data_format == "channels_first":
        nd = np.ndim(raw(y))
        return transpose(y, (0, nd - 1) + tuple(range(1, nd - 1)))
    return y


def _conv(x, k, strides, padding, dilation_rate, groups=1):
    nd = np.ndim(raw(x))
    if nd == 3:
        return _conv1d(x, k, None, strides, padding, dilation_rate, groups=groups)
    if nd == 4:
        return _conv2d(x, k, None, strides, padding, dilation_rate, groups=groups)
    raise ValueError(f"conv: grebe supports 1D (N, L, C) and 2D (N, H, W, C) inputs, received "
                     f"shape {np.shape(raw(x))}")


@keras_op
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (1D, 2D); kernel (k..., in_channels / groups, out_channels)."""
    x = _channels_last(inputs, data_format)
    k = fl(kernel)
    c_in, k_in = np.shape(raw(x))[-1], np.shape(raw(k))[-2]
    groups = c_in // k_in if k_in and c_in % k_in == 0 else 1
    return _channels_back(_conv(x, k, strides, padding, dilation_rate, groups), data_format)


def _block_diagonal(dk):
    """depthwise kernel (k..., C, m) -> full kernel (k..., C, C*m), zero off the diagonal."""
    shape = np.shape(raw(dk))
    c, m = shape[-2], shape[-1]

    def f(a):
        full = np.zeros(shape[:-2] + (c, c * m), a.dtype)
        for i in range(c):
            full[..., i, i * m:(i + 1) * m] = a[..., i, :]
        return full
    return gather(f, dk)


@keras_op
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Per-channel convolution: kernel (k..., C, multiplier) -> C * multiplier channels."""
    x = _channels_last(inputs, data_format)
    return _channels_back(_conv(x, _block_diagonal(fl(kernel)), strides, padding,
                                dilation_rate), data_format)


@keras_op
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    x = _channels_last(inputs, data_format)
    y = _conv(x, _block_diagonal(fl(depthwise_kernel)), strides, padding, dilation_rate)
    return _channels_back(_conv(y, fl(pointwise_kernel), 1, "valid", 1), data_format)


@keras_op
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x = _channels_last(inputs, data_format)
    return _channels_back(_p.max_pool(x, pool_size, strides, padding), data_format)


@keras_op
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x = _channels_last(inputs, data_format)
    return _channels_back(_p.average_pool(x, pool_size, strides, padding), data_format)


def _adaptive(inputs, output_size, data_format, reduce_fn):
    x = _channels_last(inputs, data_format)
    nd = np.ndim(raw(x)) - 2
    sizes = (output_size,) * nd if isinstance(output_size, int) else tuple(output_size)
    from grebe.ops.np_shape import stack
    for ax, o in zip(range(1, nd + 1), sizes):
        n = np.shape(raw(x))[ax]
        parts = []
        for i in range(o):
            lo, hi = (i * n) // o, -((-(i + 1) * n) // o)  # PyTorch's bins
            sl = (slice(None),) * ax + (slice(lo, hi),)
            parts.append(reduce_fn(x[sl], ax))
        x = stack(parts, ax)
    return _channels_back(x, data_format)


@keras_op
def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive(inputs, output_size, data_format, lambda t, ax: _r.mean(t, ax))


@keras_op
def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive(inputs, output_size, data_format, lambda t, ax: _r.max(t, ax))


# ---- normalization ---------------------------------------------------------------------------
@keras_op
def batch_normalization(x, mean, variance, axis=-1, offset=None, scale=None, epsilon=1e-3):
    return _n.batch_normalization(fl(x), mean, variance, axis, offset, scale, epsilon)


@keras_op
def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over `axes`."""
    v = fl(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    m = _r.mean(v, axes, True)
    var = _r.mean(_m.square(v - m), axes, keepdims)
    return (m if keepdims else _r.mean(v, axes, False)), var


@keras_op
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    v = fl(x)
    eps = _backend.epsilon() if epsilon is None else epsilon
    m = _r.mean(v, axis, True)
    var = _r.mean(_m.square(v - m), axis, True)
    y = (v - m) / _m.sqrt(var + eps)
    if gamma is not None:
        y = y * fl(gamma)
    if beta is not None:
        y = y + fl(beta)
    return y


@keras_op
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    v = fl(x)
    eps = _backend.epsilon() if epsilon is None else epsilon
    y = v / _m.sqrt(_r.mean(_m.square(v), axis, True) + eps)
    return y if scale is None else y * fl(scale)


@keras_op
def normalize(x, axis=-1, order=2, epsilon=None):
    """x divided by its `order`-norm along `axis` (at least epsilon)."""
    v = fl(x)
    eps = _backend.epsilon() if epsilon is None else epsilon
    if order == 2:
        return v / _m.sqrt(_m.maximum(_r.sum(_m.square(v), axis, True), eps))
    from grebe.ops.linalg import norm
    return v / _m.maximum(norm(v, ord=order, axis=axis, keepdims=True), eps)


# ---- encodings ---------------------------------------------------------------------------------
@keras_op
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """Integer labels (...) -> one-hot (..., num_classes) (at `axis`); out-of-range rows 0."""
    labels = raw(x).astype(np.int64)
    y = (labels[..., None] == np.arange(int(num_classes))).astype(np_dtype(dtype, _f32))
    return out(np.moveaxis(y, -1, axis) if axis != -1 else y)


@keras_op
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    num_classes = num_classes or kwargs.get("num_tokens")
    labels = raw(inputs).astype(np.int64)
    if labels.ndim == 1:
        labels = labels[None]
        squeeze = True
    else:
        squeeze = False
    y = np.zeros(labels.shape[:-1] + (int(num_classes),), np_dtype(dtype, _f32))
    for i, row in enumerate(labels.reshape(-1, labels.shape[-1])):
        r = row[(row >= 0) & (row < num_classes)]
        y.reshape(-1, int(num_classes))[i, r] = 1
    y = y[0] if squeeze else y
    return out(np.moveaxis(y, -1, axis) if axis != -1 else y)


# ---- losses (elementwise / per-sample, no reduction: Keras's ops) ----------------------------
@keras_op
def binary_crossentropy(target, output, from_logits=False):
    t, o = fl(target), fl(output)
    if from_logits:
        return _m.maximum(o, 0.0) - o * t + _a.softplus(-_m.abs(o))
    o = _m.clip(o, _backend.epsilon(), 1.0 - _backend.epsilon())
    return -(t * _m.log(o) + (1.0 - t) * _m.log(1.0 - o))


@keras_op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    t, o = fl(target), fl(output)
    if from_logits:
        return -_r.sum(t * log_softmax(o, axis), axis)
    o = o / _r.sum(o, axis, True)
    o = _m.clip(o, _backend.epsilon(), 1.0 - _backend.epsilon())
    return -_r.sum(t * _m.log(o), axis)


@keras_op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    o = fl(output)
    n = np.shape(raw(o))[axis]
    t = one_hot(np.squeeze(raw(target), -1) if np.ndim(raw(target)) == np.ndim(raw(o))
                else raw(target), n, axis=axis)
    return categorical_crossentropy(t, o, from_logits, axis)


@keras_op
def psnr(x1, x2, max_val):
    from grebe.ops.np_math import log10
    mse = _r.mean(_m.square(fl(x1) - fl(x2)))
    return 20.0 * float(np.log10(max_val)) - 10.0 * log10(mse)


@keras_op
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """softmax(q k^T * scale + bias, masked) v for q (B, T, N, H), k and v (B, S, N, H)."""
    from grebe.ops.np_products import einsum
    q, k, v = fl(query), fl(key), fl(value)
    h = np.shape(raw(q))[-1]
    scale = 1.0 / np.sqrt(h) if scale is None else scale
    logits = einsum("btnh,bsnh->bnts", q, k) * float(scale)
    if attn_logits_soft_cap is not None:
        c = float(attn_logits_soft_cap)
        logits = _a.tanh(logits * (1.0 / c)) * c
    if bias is not None:
        logits = logits + fl(bias)
    keep = None
    if mask is not None:
        keep = raw(mask).astype(bool)
    if is_causal:
        t, s = np.shape(raw(logits))[-2:]
        causal = np.tril(np.ones((t, s), bool))
        keep = causal if keep is None else keep & causal
    if keep is not None:
        logits = where(keep, logits, np.float32(np.finfo(_f32).min))
    return einsum("bnts,bsnh->btnh", _a.softmax(logits, -1), v)


# ---- space/depth rearrangements --------------------------------------------------------------
@keras_op
def depth_to_space(x, block_size, data_format="channels_last"):
    b = int(block_size)
    xl = _channels_last(x, data_format)
    n, h, w, c = np.shape(raw(xl))

    def f(a):
        a = a.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        return a.reshape(n, h * b, w * b, c // (b * b))
    return _channels_back(gather(f, xl), data_format)


@keras_op
def space_to_depth(x, block_size, data_format="channels_last"):
    b = int(block_size)
    xl = _channels_last(x, data_format)
    n, h, w, c = np.shape(raw(xl))

    def f(a):
        a = a.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        return a.reshape(n, h // b, w // b, b * b * c)
    return _channels_back(gather(f, xl), data_format)


from grebe.ops.ctc import ctc_decode, ctc_loss  # noqa: E402,F401
from grebe.ops.nn_conv_extra import conv_transpose, fold, unfold  # noqa: E402,F401

__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "annotations", "fl", "gather", "keras_op", "needs_grad", "np_dtype", "out", "raw", "val",
    "np", "moveaxis", "reshape", "split", "transpose", "where")]
