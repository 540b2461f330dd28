"""Convolutional LSTM over a sequence (Shi et al. 2015), channels last, on the native conv ops.

Keras 3's layout: x (B, T, *S, C), kernel (*k, C, 4F), recurrent_kernel (*k, F, 4F), bias (4F,),
gates i, f, c, o; states h, c (B, *S', F) with S' the input conv's output size.

    z_t = conv(x_t, kernel; strides, padding, dilation) + bias + conv(h_{t-1}, recurrent_kernel;
          stride 1, 'same')
    i, f, o = recurrent_activation(z_i, z_f, z_o);  g = activation(z_c)
    c_t = f * c_{t-1} + i * g;                      h_t = o * activation(c_t)

The input convolution does not depend on the state, so it runs ONCE for all time steps as one
conv over (B*T, *S, C); only the recurrent conv runs per step. With tanh/sigmoid the gate math of
a step is one Function (LSTMGates: forward and backward in a few numpy passes); other activations
compose grebe ops. Gradients flow through conv2d/conv1d's native backward kernels.

>>> import numpy as np, grebe
>>> x = np.ones((2, 3, 5, 5, 2), np.float32)
>>> k, rk = np.full((3, 3, 2, 8), 0.1, np.float32), np.full((3, 3, 2, 8), 0.1, np.float32)
>>> y, h, c = grebe.ops.conv_lstm(x, k, rk, rank=2, padding="same", return_sequences=True)
>>> y.shape, h.shape
((2, 3, 5, 5, 2), (2, 5, 5, 2))
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.ops import activation as act_ops
from grebe.ops import conv as conv_ops
from grebe.ops import shape_ops
from grebe.tensor import Tensor

__all__ = ["conv_lstm"]


def _sigmoid(z):
    return np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * z))  # never overflows


class LSTMGates(Function):
    """z (..., 4F) (gates i, f, c, o pre-activation), c_prev (..., F) -> (h, c), each (..., F);
    recurrent activation sigmoid, activation tanh."""

    @staticmethod
    def forward(ctx, z, c_prev):
        F = c_prev.shape[-1]
        i, f, o = _sigmoid(z[..., :F]), _sigmoid(z[..., F:2 * F]), _sigmoid(z[..., 3 * F:])
        g = np.tanh(z[..., 2 * F:3 * F])
        c = f * c_prev + i * g
        tc = np.tanh(c)
        ctx.save(i, f, g, o, tc, c_prev)
        return o * tc, c

    @staticmethod
    def backward(ctx, dh, dc):
        i, f, g, o, tc, c_prev = ctx.saved
        dh = np.zeros_like(tc) if dh is None else dh
        dc_total = dh * o * (1 - tc * tc)
        if dc is not None:
            dc_total += dc
        dz = np.concatenate([dc_total * g * i * (1 - i), dc_total * c_prev * f * (1 - f),
                             dc_total * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1)
        return dz.astype(np.float32, copy=False), (dc_total * f).astype(np.float32, copy=False)


def _gates(z, c_prev, activation, recurrent_activation):
    """One step's gate math: the fused Function for tanh/sigmoid, composed ops otherwise."""
    if activation == "tanh" and recurrent_activation == "sigmoid":
        return LSTMGates.apply(z, c_prev)
    act = {"tanh": act_ops.tanh, "sigmoid": act_ops.sigmoid}.get(activation, activation)
    ract = {"tanh": act_ops.tanh, "sigmoid": act_ops.sigmoid}.get(recurrent_activation,
                                                                   recurrent_activation)
    zi, zf, zc, zo = shape_ops.split(z, 4, axis=-1)
    c = ract(zf) * c_prev + ract(zi) * act(zc)
    return ract(zo) * act(c), c


def _conv(rank, x, kernel, bias, strides, padding, dilation):
    fn = conv_ops.conv1d if rank == 1 else conv_ops.conv2d
    return fn(x, kernel, bias, strides=strides, padding=padding, dilation_rate=dilation)


def _masked_conv(rank, x, kernel, bias, masks, **geom):
    """conv(x * mask_g, kernel_g) + bias_g for the four gates g (Keras's per-gate dropout
    masks), concatenated on the channel axis; one conv when there are no masks."""
    if masks is None:
        return _conv(rank, x, kernel, bias, **geom)
    F = kernel.shape[-1] // 4
    parts = []
    for g, m in enumerate(masks):
        kg = kernel[..., g * F:(g + 1) * F]
        parts.append(_conv(rank, x * m, kg, None if bias is None else bias[g * F:(g + 1) * F],
                           **geom))
    return shape_ops.concatenate(parts, axis=-1)


def _as_tensor(v):
    return v if isinstance(v, Tensor) else Tensor(np.ascontiguousarray(v, np.float32))


def conv_lstm(x, kernel, recurrent_kernel, bias=None, initial_state=None, *, rank=2, strides=1,
              padding="valid", dilation_rate=1, activation="tanh",
              recurrent_activation="sigmoid", mask=None, go_backwards=False,
              return_sequences=False, dropout_masks=None, recurrent_dropout_masks=None,
              zero_output_for_mask=False):
    """x (B, T, *S, C) -> (y, h, c): y (B, T, *S', F) if return_sequences else (B, *S', F),
    h and c (B, *S', F). activation/recurrent_activation: 'tanh'/'sigmoid' or a function of a
    Tensor. mask (B, T) bool: masked steps keep the states and repeat the previous output
    (zeros before the first). dropout_masks: 4 arrays (B, *S, C), recurrent_dropout_masks:
    4 arrays (B, *S', F), one per gate, the same at every step."""
    op = "conv_lstm"
    if rank not in (1, 2):
        raise ValueError(f"{op}: rank must be 1 or 2, received rank={rank!r}")
    x, kernel, recurrent_kernel = (_as_tensor(v) for v in (x, kernel, recurrent_kernel))
    if x.ndim != rank + 3:
        raise ValueError(f"{op}: x must have rank {rank + 3} (batch, timesteps, "
                         f"{'*spatial, ' if rank > 1 else 'length, '}channels), received "
                         f"shape {tuple(x.shape)}")
    B, T, C = x.shape[0], x.shape[1], x.shape[-1]
    if T == 0:
        raise ValueError(f"{op}: x must have at least one time step, received shape "
                         f"{tuple(x.shape)}")
    F = recurrent_kernel.shape[-1] // 4
    if kernel.shape[-2:] != (C, 4 * F) or recurrent_kernel.shape[-2:] != (F, 4 * F) or \
            kernel.ndim != rank + 2 or recurrent_kernel.ndim != rank + 2:
        raise ValueError(f"{op}: expected kernel (*kernel_size, {C}, 4*filters) and "
                         f"recurrent_kernel (*kernel_size, filters, 4*filters), received "
                         f"{tuple(kernel.shape)} and {tuple(recurrent_kernel.shape)}")
    geom = dict(strides=strides, padding=padding, dilation=dilation_rate)
    # The input conv for every step at once: (B*T, *S, C) -> (B*T, *S', 4F).
    xs = shape_ops.reshape(x, (B * T,) + tuple(x.shape[2:]))
    masks = None
    if dropout_masks is not None:  # the same mask at every step: repeat it over T
        masks = [Tensor(np.repeat(np.asarray(m, np.float32)[:, None], T, 1).reshape(
            (B * T,) + tuple(x.shape[2:]))) for m in dropout_masks]
    zx = _masked_conv(rank, xs, kernel, bias, masks, **geom)
    spatial = tuple(zx.shape[1:-1])
    # One split over time (its backward is one concatenate), each step (B, *S', 4F).
    steps = [shape_ops.reshape(z, (B,) + spatial + (4 * F,))
             for z in shape_ops.split(shape_ops.reshape(zx, (B, T) + spatial + (4 * F,)), T, 1)]
    m = None if mask is None else _mask_array(mask, (B, T), op)
    if initial_state is None:
        h = c = Tensor(np.zeros((B,) + spatial + (F,), np.float32))
    else:
        h, c = (_as_tensor(s) for s in initial_state)
        for s in (h, c):
            if tuple(s.shape) != (B,) + spatial + (F,):
                raise ValueError(f"{op}: initial states must have shape (batch, *spatial, "
                                 f"filters) = {(B,) + spatial + (F,)}, received "
                                 f"{tuple(s.shape)}")
    rgeom = dict(strides=1, padding="same", dilation=1)
    rmasks = None if recurrent_dropout_masks is None else \
        [Tensor(np.asarray(r, np.float32)) for r in recurrent_dropout_masks]
    outputs, prev = [], None
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        z = steps[t] + _masked_conv(rank, h, recurrent_kernel, None, rmasks, **rgeom)
        h_new, c_new = _gates(z, c, activation, recurrent_activation)
        if m is not None:
            keep = Tensor(m[:, t].reshape((B,) + (1,) * (rank + 1)))
            h_new, c_new = shape_ops.where(keep, h_new, h), shape_ops.where(keep, c_new, c)
            out = shape_ops.where(keep, h_new, prev if prev is not None and not
                                  zero_output_for_mask else
                                  Tensor(np.zeros(tuple(h.shape), np.float32)))
        else:
            out = h_new
        h, c, prev = h_new, c_new, out
        if return_sequences:
            outputs.append(out)
    y = shape_ops.stack(outputs, axis=1) if return_sequences else prev
    return y, h, c


def _mask_array(mask, shape, who):
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{who}: mask must have shape (batch, timesteps) = {tuple(shape)}, "
                         f"received {m.shape}")
    return m != 0 if m.dtype != np.bool_ else m
