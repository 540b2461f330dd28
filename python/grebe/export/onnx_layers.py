"""ONNX converters for the transposed, depthwise, separable and grouped convolutions, the
upsampling and reshaping layers, the activation layers and the group/unit normalizations
(issue 11's layers); `grebe.export.onnx` adds them to its table. Same contract as there:
(graph, layer, config, input names, static input shape) -> output name, values channels-last
between layers, an error naming the layer for anything without an exact mapping.

Shapes: ConvTranspose x (N, ..., C), kernel Keras (k..., F, C) -> ONNX (C, F, k...);
depthwise kernel Keras (k..., C, M) -> ONNX grouped Conv (C*M, 1, k...), group C;
separable = that depthwise Conv (no bias), then the 1x1 pointwise kernel (1.., C*M, F) as MatMul.
"""
from __future__ import annotations

import numpy as np


def _base():
    from grebe.export import onnx as base  # the helpers (imported late: base imports us)
    return base


def _channels_last(layer, cfg):
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"ONNX export: {layer.name}: data_format="
                         f"{cfg['data_format']!r} (only channels_last is exported)")


def _static_spatial(layer, shape):
    spatial = tuple(shape[1:-1])
    if any(d is None for d in spatial):
        raise ValueError(f"ONNX export: {layer.name}: the spatial input shape must be known, "
                         f"received {tuple(shape)}")
    return spatial


# ---- convolutions -----------------------------------------------------------------------------

def conv_transpose(g, layer, cfg, xs, shape):
    """ConvTranspose with grebe's (Keras's) output length and crop, as explicit pads."""
    from grebe.ops.conv_transpose import _geometry

    base = _base()
    _channels_last(layer, cfg)
    spatial = _static_spatial(layer, shape)
    w = layer.get_weights()
    k = w[0]                                     # (k..., F, C)
    rank = len(spatial)
    ksize, op_pad = tuple(k.shape[:rank]), cfg.get("output_padding")
    if rank == 1:                                # conv1d_transpose runs as 2-D with H = 1
        op_pad = None if op_pad is None else (0, int(np.ravel(op_pad)[0]))
        _, pads, _, out = _geometry(layer.name, (1,) + spatial, (1,) + ksize,
                                    (1,) + tuple(cfg["strides"]), cfg["padding"], op_pad,
                                    (1,) + tuple(cfg["dilation_rate"]), 2)
        pads, out = pads[2:], out[1:]
    else:
        _, pads, _, out = _geometry(layer.name, spatial, ksize, cfg["strides"], cfg["padding"],
                                    op_pad, cfg["dilation_rate"], rank)
    begins, ends, extra = [], [], []
    for i, (n, kk, s, d) in enumerate(zip(spatial, ksize, cfg["strides"], cfg["dilation_rate"])):
        full = (n - 1) * s + (kk - 1) * d + 1    # the uncropped transposed length
        before = pads[2 * i]
        end = full - before - out[i]             # < 0: the output runs past the last tap
        begins.append(before)
        ends.append(max(end, 0))
        extra.append(max(-end, 0))
    onnx_k = np.transpose(k, (rank + 1, rank) + tuple(range(rank)))
    inputs = [base._to_first(g, xs[0], rank + 2), g.const(onnx_k, "kernel")]
    if cfg.get("use_bias", True):
        inputs.append(g.const(w[1], "bias"))
    y = g.op("ConvTranspose", inputs, kernel_shape=list(ksize), strides=list(cfg["strides"]),
             dilations=list(cfg["dilation_rate"]), pads=begins + ends, output_padding=extra)
    return base._activation(g, base._to_last(g, y, rank + 2), cfg.get("activation"), layer.name)


def _depthwise_node(g, layer, cfg, x, shape, kernel, bias):
    """Grouped Conv (group = C) of channels-last x with a Keras depthwise kernel (k..., C, M)."""
    base = _base()
    _channels_last(layer, cfg)
    rank = kernel.ndim - 2
    c, m = kernel.shape[-2:]
    onnx_k = np.transpose(kernel.reshape(kernel.shape[:rank] + (c * m,)),
                          (rank,) + tuple(range(rank)))[:, None]   # (C*M, 1, k...)
    strides, dil = list(cfg["strides"]), list(cfg["dilation_rate"])
    if cfg["padding"] == "same" and any(d > 1 for d in dil) and any(s > 1 for s in strides):
        raise ValueError(f"ONNX export: {layer.name}: padding='same' with both strides and "
                         f"dilation has no exact ONNX mapping")
    inputs = [base._to_first(g, x, rank + 2), g.const(np.ascontiguousarray(onnx_k), "kernel")]
    if bias is not None:
        inputs.append(g.const(bias, "bias"))
    y = g.op("Conv", inputs, kernel_shape=list(kernel.shape[:rank]), strides=strides,
             dilations=dil, group=int(c), **base._conv_pads(cfg, kernel.shape[:rank], rank))
    return base._to_last(g, y, rank + 2)


def depthwise_conv(g, layer, cfg, xs, shape):
    w = layer.get_weights()
    bias = w[1] if cfg.get("use_bias", True) else None
    y = _depthwise_node(g, layer, cfg, xs[0], shape, w[0], bias)
    return _base()._activation(g, y, cfg.get("activation"), layer.name)


def separable_conv(g, layer, cfg, xs, shape):
    w = layer.get_weights()                      # depthwise (k.., C, M), pointwise (1.., CM, F)
    y = _depthwise_node(g, layer, cfg, xs[0], shape, w[0], None)
    pw = w[1].reshape(w[1].shape[-2:])
    y = g.op("MatMul", [y, g.const(np.ascontiguousarray(pw), "pointwise_kernel")])
    if cfg.get("use_bias", True):
        y = g.op("Add", [y, g.const(w[2], "bias")])
    return _base()._activation(g, y, cfg.get("activation"), layer.name)


# ---- upsampling and reshaping ------------------------------------------------------------------

def upsampling(g, layer, cfg, xs, shape):
    """Resize channels-last x: nearest = repeat (asymmetric coordinates, floor); bilinear =
    half-pixel (TF2 resize, torch align_corners=False)."""
    _channels_last(layer, cfg)
    size = cfg["size"]
    size = [int(size)] if np.ndim(size) == 0 else [int(s) for s in size]
    scales = np.array([1.0] + size + [1.0], np.float32)
    mode = cfg.get("interpolation", "nearest")
    if mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                 "nearest_mode": "floor"}
    elif mode == "bilinear":
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:
        raise ValueError(f"ONNX export: {layer.name}: interpolation {mode!r} has no ONNX "
                         f"mapping")
    return g.op("Resize", [xs[0], "", g.const(scales, "scales")], **attrs)


def repeat_vector(g, layer, cfg, xs, shape):      # (N, F) -> (N, n, F)
    y = g.op("Unsqueeze", [xs[0], g.const(np.array([1], np.int64), "axes")])
    return g.op("Tile", [y, g.const(np.array([1, int(cfg["n"]), 1], np.int64), "repeats")])


def permute(g, layer, cfg, xs, shape):
    return g.op("Transpose", [xs[0]], perm=[0] + [int(d) for d in cfg["dims"]])


# ---- activation layers ------------------------------------------------------------------------

def relu(g, layer, cfg, xs, shape):
    """Keras's relu(x, negative_slope, max_value, threshold): x * (x > threshold) (relu when the
    threshold is 0), clipped to [0, max_value], minus negative_slope * relu(threshold - x)."""
    x, slope, top, thr = xs[0], cfg["negative_slope"], cfg["max_value"], cfg["threshold"]
    if thr != 0.0:
        keep = g.op("Cast", [g.op("Greater", [x, g.const(np.float32(thr))])],
                    to=g.onnx.TensorProto.FLOAT)
        y = g.op("Mul", [x, keep])
    else:
        y = g.op("Relu", [x])
    if top is not None:
        y = g.op("Clip", [y, g.const(np.float32(0)), g.const(np.float32(top))])
    if slope != 0.0:
        below = g.op("Relu", [g.op("Sub", [g.const(np.float32(thr)), x])])
        y = g.op("Sub", [y, g.op("Mul", [below, g.const(np.float32(slope))])])
    return y


def leaky_relu(g, layer, cfg, xs, shape):
    return g.op("LeakyRelu", [xs[0]], alpha=float(cfg["negative_slope"]))


def prelu(g, layer, cfg, xs, shape):              # alpha (input_shape[1:], 1 on shared axes)
    return g.op("PRelu", [xs[0], g.const(layer.get_weights()[0], "alpha")])


def elu(g, layer, cfg, xs, shape):
    return g.op("Elu", [xs[0]], alpha=float(cfg["alpha"]))


def softmax(g, layer, cfg, xs, shape):
    if len(xs) > 1:
        raise ValueError(f"ONNX export: {layer.name}: Softmax with a mask is not exported")
    axis = cfg["axis"]
    axes = [axis] if np.ndim(axis) == 0 else list(axis)
    if len(axes) == 1:
        return g.op("Softmax", [xs[0]], axis=int(axes[0]))
    axes_c = g.const(np.array(axes, np.int64), "axes")   # several axes: exp(x - max) / sum
    shifted = g.op("Sub", [xs[0], g.op("ReduceMax", [xs[0]], axes=axes, keepdims=1)])
    e = g.op("Exp", [shifted])
    return g.op("Div", [e, g.op("ReduceSum", [e, axes_c], keepdims=1)])


# ---- normalizations ---------------------------------------------------------------------------

def unit_normalization(g, layer, cfg, xs, shape):  # x / sqrt(max(sum x^2, 1e-24))
    axis = cfg["axis"]
    axes = [int(axis)] if np.ndim(axis) == 0 else [int(a) for a in axis]
    ss = g.op("ReduceSumSquare", [xs[0]], axes=axes, keepdims=1)
    norm = g.op("Sqrt", [g.op("Max", [ss, g.const(np.float32(1e-24))])])
    return g.op("Div", [xs[0], norm])


def group_normalization(g, layer, cfg, xs, shape):
    """(N, ..., C) -> (N, -1, G, C/G), mean and biased variance over axes 1 and 3, normalized,
    back to x's shape, then gamma and beta per channel (opset 17 has no GroupNormalization)."""
    if cfg["axis"] not in (-1, len(shape) - 1):
        raise ValueError(f"ONNX export: {layer.name}: GroupNormalization over axis "
                         f"{cfg['axis']} (only the last axis is exported)")
    c, groups = int(shape[-1]), int(cfg["groups"])
    x = xs[0]
    grouped = g.op("Reshape", [x, g.const(np.array([0, -1, groups, c // groups], np.int64),
                                          "shape")])
    mean = g.op("ReduceMean", [grouped], axes=[1, 3], keepdims=1)
    centered = g.op("Sub", [grouped, mean])
    var = g.op("ReduceMean", [g.op("Mul", [centered, centered])], axes=[1, 3], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(np.float32(cfg["epsilon"]))])])
    y = g.op("Reshape", [g.op("Div", [centered, std]), g.op("Shape", [x])])
    w = list(layer.get_weights())
    if cfg.get("scale", True):
        y = g.op("Mul", [y, g.const(w.pop(0), "gamma")])
    if cfg.get("center", True):
        y = g.op("Add", [y, g.const(w.pop(0), "beta")])
    return y


def table(L) -> dict:
    """The converters above, by layer class."""
    return {
        L.Conv1DTranspose: conv_transpose, L.Conv2DTranspose: conv_transpose,
        L.DepthwiseConv1D: depthwise_conv, L.DepthwiseConv2D: depthwise_conv,
        L.SeparableConv1D: separable_conv, L.SeparableConv2D: separable_conv,
        L.UpSampling1D: upsampling, L.UpSampling2D: upsampling,
        L.RepeatVector: repeat_vector, L.Permute: permute,
        L.ReLU: relu, L.LeakyReLU: leaky_relu, L.PReLU: prelu, L.ELU: elu, L.Softmax: softmax,
        L.UnitNormalization: unit_normalization, L.GroupNormalization: group_normalization,
    }
