"""keras.ops.nn conv_transpose (1D, 2D), unfold and fold (torch's im2col/col2im layout,
channels first), composed of grebe's conv and the gather op, so all are differentiable.

conv_transpose is the convolution of the stride-dilated input (s - 1 zeros between samples),
padded as Keras's rule says, with the spatially flipped kernel whose channel axes are swapped.
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.ops._keras import fl, gather, keras_op, raw

_f32 = np.float32


def _tuple(v, n, name):
    t = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != n:
        raise ValueError(f"conv_transpose: {name} must have {n} values, received {v!r}")
    return tuple(int(a) for a in t)


def _pads(kernel, stride, dilation, padding, output_padding):
    """(left, right) padding of the dilated input for one spatial axis (Keras's rule)."""
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        op = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + op
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return left, total - left


@keras_op
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """Transposed convolution; kernel (k..., out_channels, in_channels) as Keras's."""
    from grebe.ops.nn import _channels_back, _channels_last, _conv
    from grebe.ops.np_shape import flip, swapaxes
    if padding not in ("valid", "same"):
        raise ValueError(f"conv_transpose: padding must be 'valid' or 'same', received "
                         f"{padding!r}")
    x = _channels_last(inputs, data_format)
    nd = np.ndim(raw(x)) - 2
    if nd not in (1, 2):
        raise ValueError(f"conv_transpose: grebe supports 1D and 2D inputs, received shape "
                         f"{np.shape(raw(x))}")
    k = fl(kernel)
    ks = np.shape(raw(k))[:nd]
    s = _tuple(strides, nd, "strides")
    d = _tuple(dilation_rate, nd, "dilation_rate")
    op = [None] * nd if output_padding is None else list(_tuple(output_padding, nd,
                                                                "output_padding"))
    pads = [_pads(ks[i], s[i], d[i], padding, op[i]) for i in range(nd)]
    shape = np.shape(raw(x))

    def dilate_pad(a):
        full = [shape[0]] + [(shape[1 + i] - 1) * s[i] + 1 + sum(pads[i]) for i in range(nd)] + \
            [shape[-1]]
        y = np.zeros(full, a.dtype)
        idx = (slice(None),) + tuple(slice(pads[i][0], pads[i][0] + (shape[1 + i] - 1) * s[i] + 1,
                                           s[i]) for i in range(nd))
        y[idx] = a
        return y
    xp = gather(dilate_pad, x, op="conv_transpose")
    kf = swapaxes(flip(k, axis=tuple(range(nd))), -1, -2)
    return _channels_back(_conv(xp, kf, 1, "valid", d), data_format)


def _unfold_index(c, h, w, kernel, dilation, padding, stride):
    """For (C, H, W) zero-padded by `padding`: the flat (1-based, 0 = padding) source of each
    im2col element (C*kh*kw, L)."""
    kh, kw = kernel
    dh, dw = dilation
    ph, pw = padding
    sh, sw = stride
    idx = np.zeros((c, h + 2 * ph, w + 2 * pw), np.int64)
    idx[:, ph:ph + h, pw:pw + w] = np.arange(1, c * h * w + 1).reshape(c, h, w)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    rows = (np.arange(kh) * dh)[:, None] + (np.arange(oh) * sh)[None, :]  # (kh, oh)
    cols = (np.arange(kw) * dw)[:, None] + (np.arange(ow) * sw)[None, :]  # (kw, ow)
    g = idx[:, rows[:, None, :, None], cols[None, :, None, :]]  # (c, kh, kw, oh, ow)
    return g.reshape(c * kh * kw, oh * ow)


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


@keras_op
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """x (N, C, H, W) -> patches (N, C*kh*kw, L), as torch.nn.functional.unfold."""
    n, c, h, w = np.shape(raw(x))
    src = _unfold_index(c, h, w, _pair(kernel_size), _pair(dilation), _pair(padding),
                        _pair(stride))

    def f(a):
        flat = np.concatenate([np.zeros((n, 1), a.dtype), a.reshape(n, -1)], axis=1)
        return flat[:, src]
    return gather(f, x, op="unfold")


class Fold(Function):
    """patches (N, C*kh*kw, L) -> (N, C, H, W): every patch element added at its source
    position (col2im); backward: the gather of unfold."""

    @staticmethod
    def forward(ctx, p, src, out_shape):
        n = p.shape[0]
        ctx.save(src)
        y = np.zeros((n, int(np.prod(out_shape)) + 1), _f32)
        for b in range(n):
            y[b] = np.bincount(src.reshape(-1), weights=p[b].reshape(-1),
                               minlength=y.shape[1])
        return y[:, 1:].reshape((n,) + tuple(out_shape))

    @staticmethod
    def backward(ctx, dy):
        src = ctx.saved[0]
        n = dy.shape[0]
        flat = np.concatenate([np.zeros((n, 1), _f32), dy.reshape(n, -1)], axis=1)
        return np.ascontiguousarray(flat[:, src])


@keras_op
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """patches (N, C*kh*kw, L) -> (N, C, H, W), summing overlaps, as torch's fold."""
    kh, kw = _pair(kernel_size)
    h, w = _pair(output_size)
    n, ckk, _ = np.shape(raw(x))
    c = ckk // (kh * kw)
    src = _unfold_index(c, h, w, (kh, kw), _pair(dilation), _pair(padding), _pair(stride))
    return Fold.apply(fl(x), src, (c, h, w))


__all__ = ["conv_transpose", "unfold", "fold"]
