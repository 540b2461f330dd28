"""Layer fusion: the one rule that decides when consecutive layer calls run as one kernel.

Two kinds of runs:

- A Conv2D with activation='relu' whose output goes only into a MaxPooling2D with 'valid'
  padding and strides equal to its pool size runs as `ops.conv2d_relu_maxpool`, which never
  writes the conv output to memory: the same values and gradients as the two layers one after
  the other (maxpool(relu(x)) = relu(maxpool(x))).
- A linear Conv2D whose output goes only into a BatchNormalization over the channel axis
  (optionally followed by a plain ReLU: `Activation('relu')` or `ReLU()`) is folded at
  inference: while the normalization uses its moving statistics and no gradient is recorded
  (`predict`, `no_grad`), the conv runs once with kernel * s and bias (b - mean) * s + beta,
  s = gamma / sqrt(moving_variance + epsilon), the ReLU fused into its store. The folded
  weights are recomputed from the layers' current weights on every call, so they are never
  stale. In training (batch statistics) the conv runs, then batch norm + ReLU as one pass each
  way (`ops.batch_norm(relu=True)`: the normalized values are never written before the ReLU);
  at inference with gradients recorded the layers run one after the other.

Sequential and functional models ask this module for a plan (`plan_chain` for a stack of
layers, `plan_graph` for the nodes of a graph) and run its steps with `run_fused`;
`Model.fusion_plan()` lists the fused runs. A run falls back to its layers one by one when its
input carries a Keras mask or when any of its layers is blocked:

>>> import grebe
>>> from grebe import layers
>>> from grebe.layers import fusion
>>> model = grebe.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
...                           layers.MaxPooling2D(2)])
>>> model.fusion_plan()
[('conv2d', 'max_pooling2d')]
>>> with fusion.blocked(model.layers[0]):   # e.g. to see the conv output (grebe.explain)
...     y = model(grebe.tensor([[[[0.0]] * 8] * 8]))
"""
from __future__ import annotations

import contextlib

import numpy as np

from grebe import autograd, ops
from grebe.tensor import Tensor

__all__ = ["can_fuse", "can_fold", "fused_length", "blocked", "is_blocked", "run_pair",
           "run_fused", "plan_chain", "plan_graph"]


def can_fuse(first, second) -> bool:
    """True when `second(first(x))` may run as one fused kernel: `first` a 2-D relu conv
    (groups 1, no other activation, no activity regularizer), `second` a channels-last 2-D max
    pooling with 'valid' padding, strides == pool_size, and a window of at most 256 values."""
    if not getattr(first, "_fuses_into_pool", False) or \
            not getattr(second, "_fusable_max_pool", False):
        return False
    if first.rank != 2 or not first._fused_relu or first._post_activation is not None or \
            first.groups != 1 or first.activity_regularizer is not None:
        return False
    pool = tuple(second.pool_size)
    return (len(pool) == 2 and tuple(second.strides) == pool and second.padding == "valid"
            and pool[0] * pool[1] <= 256 and second.data_format == "channels_last")


def can_fold(conv, norm) -> bool:
    """True when `norm(conv(x))` may run folded at inference: `conv` a 2-D linear conv (no
    activation, no activity regularizer), `norm` a BatchNormalization over the last (channel)
    axis of its 4-D input."""
    if not getattr(conv, "_fuses_into_pool", False) or \
            not getattr(norm, "_folds_into_conv", False):
        return False
    return (conv.rank == 2 and not conv._fused_relu and conv._post_activation is None
            and conv.activity_regularizer is None and norm.axis in (-1, 3))


def _plain_relu(layer) -> bool:
    """An Activation('relu') or a ReLU() with Keras's defaults (max(x, 0))."""
    return bool(getattr(layer, "_plain_relu", False))


def fused_length(layers) -> int:
    """How many of the first layers of `layers` run as one step: 2 for a conv + max-pool pair
    (`can_fuse`), 2 or 3 for a conv + batch-norm (+ ReLU) fold (`can_fold`), else 1."""
    if len(layers) >= 2 and can_fuse(layers[0], layers[1]):
        return 2
    if len(layers) >= 2 and can_fold(layers[0], layers[1]):
        return 3 if len(layers) >= 3 and _plain_relu(layers[2]) else 2
    return 1


def is_blocked(layer) -> bool:
    return layer.__dict__.get("_fusion_blocks", 0) > 0


@contextlib.contextmanager
def blocked(*layers):
    """Keeps the given layers out of fused kernels inside the block (each runs its own call),
    e.g. while a hook reads a conv layer's output. Blocks nest."""
    for layer in layers:
        layer.__dict__["_fusion_blocks"] = layer.__dict__.get("_fusion_blocks", 0) + 1
    try:
        yield
    finally:
        for layer in layers:
            n = layer.__dict__["_fusion_blocks"] - 1
            if n:
                layer.__dict__["_fusion_blocks"] = n
            else:
                del layer.__dict__["_fusion_blocks"]


def run_pair(first, second, x, training=None):
    """second(first(x)): one fused kernel when the pair `can_fuse`, else (a mask on x, a
    blocked layer, a layer changed since the plan was made) the two layer calls. Builds
    either layer on first use."""
    if getattr(x, "_keras_mask", None) is not None or is_blocked(first) or \
            is_blocked(second) or not can_fuse(first, second):
        return second(first(x, training=training), training=training)
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if not first.built:
        first._build_once(tuple(x.shape))
    if not second.built:
        second._build_once(first.compute_output_shape(tuple(x.shape)))
    # The pair computes as `first` does (pooling has no products to round).
    return ops.conv2d_relu_maxpool(x, first.kernel, first.bias, first.strides, first.padding,
                                   first.dilation_rate, tuple(second.pool_size),
                                   compute_dtype=first.op_compute_dtype)


def folded_weights(conv, norm) -> tuple:
    """(kernel, bias) of the conv that computes norm(conv(x)) with the normalization's moving
    statistics: kernel * s and (bias - moving_mean) * s + beta, s = gamma /
    sqrt(moving_variance + epsilon) per output channel; computed in float64 from the current
    weights (float32 arrays, no gradient)."""
    f64 = np.float64
    s = 1.0 / np.sqrt(norm.moving_variance.data.astype(f64) + norm.epsilon)
    if norm.gamma is not None:
        s = s * norm.gamma.data
    shift = -norm.moving_mean.data.astype(f64)
    if conv.bias is not None:
        shift = shift + conv.bias.data
    bias = shift * s
    if norm.beta is not None:
        bias = bias + norm.beta.data
    # (kh, kw, cin / groups, filters) * s (filters): one float32 pass over the kernel
    kernel = np.multiply(conv.kernel.data, s.astype(np.float32))
    return kernel, bias.astype(np.float32)


def _run_folded(layers, x, training):
    """norm(conv(x)) (and its ReLU): one conv with the folded weights when the normalization
    runs on its moving statistics and no gradient is recorded; in training (batch statistics)
    the conv, then batch norm + ReLU in one pass each way (ops.batch_norm(relu=True)); else
    the layers one by one."""
    conv, norm = layers[0], layers[1]
    relu = len(layers) == 3
    if getattr(x, "_keras_mask", None) is not None or any(is_blocked(la) for la in layers) \
            or not can_fold(conv, norm) or (relu and not _plain_relu(layers[2])):
        return _one_by_one(layers, x, training)
    if training and norm.trainable:  # batch statistics
        if not relu:
            return _one_by_one(layers, x, training)
        h = conv(x, training=training)
        if not norm.built:
            norm._build_once(tuple(h.shape))
        return ops.batch_norm(h, norm.gamma, norm.beta, norm.epsilon, -1,
                              moving_mean=norm.moving_mean,
                              moving_variance=norm.moving_variance, momentum=norm.momentum,
                              relu=True)
    if autograd.is_grad_enabled():
        return _one_by_one(layers, x, training)
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if not conv.built:
        conv._build_once(tuple(x.shape))
    if not norm.built:
        norm._build_once(conv.compute_output_shape(tuple(x.shape)))
    kernel, bias = folded_weights(conv, norm)
    return ops.conv2d(x, kernel, bias, conv.strides, conv.padding, conv.dilation_rate,
                      "relu" if relu else None, conv.groups,
                      compute_dtype=conv.op_compute_dtype)  # the folded conv computes as conv


def _one_by_one(layers, x, training):
    for layer in layers:
        x = layer(x, training=training)
    return x


def run_fused(layers, x, training=None):
    """Runs one step of a plan (a tuple of layers from `plan_chain`, or the layers of a
    `plan_graph` step) on x: a single layer call, a conv + max-pool pair (`run_pair`) or a
    conv + batch-norm (+ ReLU) fold."""
    if len(layers) == 1:
        return layers[0](x, training=training)
    if len(layers) == 2 and getattr(layers[1], "_fusable_max_pool", False):
        return run_pair(layers[0], layers[1], x, training)
    return _run_folded(layers, x, training)


def plan_chain(layers) -> list:
    """Steps for a stack of layers: `(layer,)`, a fusable pair `(first, second)` or a fold
    `(conv, norm[, relu])` (`fused_length`)."""
    steps, i, n = [], 0, len(layers)
    while i < n:
        k = fused_length(layers[i:i + 3])
        steps.append(tuple(layers[i:i + k]))
        i += k
    return steps


def _next_in_chain(node, consumers, output_ids, by_input):
    """The node that takes node's only output as its only input, when that output goes nowhere
    else and is not a model output; else None."""
    if not node.fast or len(node.outputs) != 1 or node.output_structure is not None:
        return None
    out = node.outputs[0]
    nxt = by_input.get(id(out))
    if nxt is None or consumers.get(id(out)) != 1 or id(out) in output_ids or \
            nxt.training != node.training:
        return None
    return nxt


def plan_graph(nodes, outputs) -> list:
    """Steps for the ordered nodes of a functional graph: `(node,)` or a run `(a, b[, c])`
    where each node but the last (one tensor in, no other arguments) has one output that goes
    only into the next (the same), is not a model output, and the layers form a fused run
    (`fused_length`). The run executes where a stood: each later node's only input is the
    previous node's output, so nothing between them can need a later node earlier or an
    intermediate output at all."""
    consumers: dict = {}
    for node in nodes:
        for t in node.inputs:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    output_ids = {id(t) for t in outputs}
    by_input = {id(node.call_inputs): node for node in nodes if node.fast}
    steps, fused = [], set()
    for node in nodes:
        if id(node) in fused:
            continue
        chain = [node]
        while len(chain) < 3:
            nxt = _next_in_chain(chain[-1], consumers, output_ids, by_input)
            if nxt is None:
                break
            chain.append(nxt)
        k = fused_length([n.layer for n in chain])
        steps.append(tuple(chain[:k]))
        fused.update(id(n) for n in chain[1:k])
    return steps
