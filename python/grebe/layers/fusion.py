"""Layer fusion: the one rule that decides when two layer calls run as one kernel.

Today there is one fused pair: a Conv2D with activation='relu' whose output goes only into a
MaxPooling2D with 'valid' padding and strides equal to its pool size. The pair runs as
`ops.conv2d_relu_maxpool`, which never writes the conv output to memory: the same values
and gradients as the two layers one after the other (maxpool(relu(x)) = relu(maxpool(x))).

Sequential and functional models ask this module for a plan (`plan_chain` for a stack of
layers, `plan_graph` for the nodes of a graph) and run it with `run_pair`; `Model.fusion_plan()`
lists the pairs. A pair falls back to the two layers at run time when its input carries a
Keras mask or when either layer is blocked:

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

from grebe import ops
from grebe.tensor import Tensor

__all__ = ["can_fuse", "blocked", "is_blocked", "run_pair", "plan_chain", "plan_graph"]


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


def plan_chain(layers) -> list:
    """Steps for a stack of layers: `(layer,)` or a fusable pair `(first, second)`."""
    steps, i, n = [], 0, len(layers)
    while i < n:
        if i + 1 < n and can_fuse(layers[i], layers[i + 1]):
            steps.append((layers[i], layers[i + 1]))
            i += 2
        else:
            steps.append((layers[i],))
            i += 1
    return steps


def plan_graph(nodes, outputs) -> list:
    """Steps for the ordered nodes of a functional graph: `(node,)` or a pair `(a, b)` where
    node a (one tensor in, no other arguments) has one output that goes only into node b (the
    same), is not a model output, and the layers of a and b `can_fuse`. The pair runs where a
    stood: b's only input is a's output, so nothing between them can need b earlier or a's
    output at all."""
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
        nxt = None
        if node.fast and len(node.outputs) == 1 and node.output_structure is None:
            out = node.outputs[0]
            nxt = by_input.get(id(out))
            if nxt is None or consumers.get(id(out)) != 1 or id(out) in output_ids or \
                    not can_fuse(node.layer, nxt.layer):
                nxt = None
        if nxt is None:
            steps.append((node,))
        else:
            steps.append((node, nxt))
            fused.add(id(nxt))
    return steps
