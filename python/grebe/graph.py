"""The recorded graph of the functional API: symbolic KerasTensors, the Node of each layer call,
`symbolic_call` (what Layer.__call__ runs on symbolic inputs) and the walk that orders a model's
nodes. It sits below layers and models and knows a layer only by the methods it calls.

Calling a layer on a KerasTensor runs no math: the layer is built for the input shape, asked for
`compute_output_shape` (or, when it has none, run once on zeros), and a Node records the call.
"""
from __future__ import annotations

import numpy as np

from grebe import autograd, tree
from grebe.tensor import Tensor

__all__ = ["KerasTensor", "Node", "symbolic_call", "map_graph"]


class KerasTensor:
    """A symbolic tensor: a shape (None for unknown sizes, the batch first) and a dtype. It holds
    no values; it records which layer call (node) produced it."""

    _grebe_symbolic = True
    __slots__ = ("shape", "dtype", "name", "_node", "_index", "_keras_mask")

    def __init__(self, shape, dtype="float32", name=None, node=None, index=0):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = str(np.dtype(dtype))
        self.name = name
        self._node = node
        self._index = index
        self._keras_mask = None  # a boolean KerasTensor when a layer before made a mask

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def _keras_history(self):
        """(layer, node index in layer._inbound_nodes, tensor index), as in Keras."""
        node = self._node
        return node.layer, node.layer._inbound_nodes.index(node), self._index

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, dtype=None, copy=None):
        raise TypeError("A KerasTensor is symbolic (a shape, no values): it cannot become a numpy "
                        "array. Call layers on it, then build a grebe.Model(inputs, outputs) and "
                        "call the model on data.")

    # Operators record grebe.ops calls (grebe.models.op_node), as Keras's symbolic ops do.
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _ops().multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _ops().divide(self, o)
    def __rtruediv__(self, o): return _ops().divide(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __pow__(self, o): return _ops().power(self, o)
    def __rpow__(self, o): return _ops().power(o, self)
    def __neg__(self): return _ops().negative(self)
    def __abs__(self): return _ops().abs(self)
    def __getitem__(self, key): return _ops().get_item(self, key)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    __hash__ = object.__hash__


def _ops():
    from grebe import ops
    return ops


class Node:
    """One call of a layer on symbolic inputs: `outputs = layer(arguments...)`."""

    __slots__ = ("layer", "call_inputs", "call_args", "call_kwargs", "training", "inputs",
                 "outputs", "output_structure", "fast")

    def __init__(self, layer, call_inputs, call_args=(), call_kwargs=None, training=None):
        self.layer = layer
        self.call_inputs = call_inputs  # the first positional argument, KerasTensors inside
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.training = training  # None: follow the model's training flag
        self.inputs = [t for t in tree.flatten((call_inputs, self.call_args, self.call_kwargs))
                       if isinstance(t, KerasTensor)]
        # The common case, one tensor in and nothing else, skips the structure walk.
        self.fast = isinstance(call_inputs, KerasTensor) and not self.call_args and \
            not self.call_kwargs
        self.outputs = []
        self.output_structure = None

    @property
    def is_input(self) -> bool:
        return getattr(self.layer, "_is_input_layer", False)

    @property
    def parent_nodes(self) -> list:
        return [t._node for t in self.inputs]

    def run(self, values: dict, training):
        """Calls the layer on the real values of the node's inputs; returns flat outputs."""
        t = training if self.training is None else self.training
        if self.fast:
            out = self.layer(values[self.call_inputs], training=t)
        else:
            def get(v):
                return values[v] if isinstance(v, KerasTensor) else v
            x = tree.map_structure(get, self.call_inputs)
            args = tree.map_structure(get, self.call_args)
            kwargs = tree.map_structure(get, self.call_kwargs)
            out = self.layer(x, *args, training=t, **kwargs)
        return [out] if self.output_structure is None else tree.flatten(out)


def _is_shape(s) -> bool:
    return isinstance(s, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s)


def _inbound_nodes(layer) -> list:
    nodes = layer.__dict__.get("_inbound_nodes")
    if nodes is None:
        nodes = layer.__dict__["_inbound_nodes"] = []
    return nodes


def symbolic_call(layer, inputs, args, kwargs):
    """Layer.__call__ on KerasTensors: build the layer, infer output shapes, record a Node."""
    training = kwargs.pop("training", None)
    if kwargs.get("mask") is None:
        kwargs.pop("mask", None)
    in_shapes = tree.map_structure(
        lambda t: t.shape if isinstance(t, KerasTensor) else None, inputs)
    if not layer.built:
        layer._build_once(in_shapes)
        layer.built = True
    try:
        if getattr(type(layer).compute_output_shape, "runs_the_layer", False):
            out_shapes = _shapes_by_running(layer, inputs, args, kwargs)
        else:
            out_shapes = layer.compute_output_shape(in_shapes)
    except (ValueError, TypeError) as e:
        raise type(e)(f"Layer '{layer.name}' ({type(layer).__name__}) cannot be called on "
                      f"symbolic inputs of shape {in_shapes}: {e}") from e
    node = Node(layer, inputs, args, kwargs, training)
    if _is_shape(out_shapes):
        outputs = [KerasTensor(out_shapes, "float32", f"{layer.name}_output", node, 0)]
        node.output_structure = None
        result = outputs[0]
    else:
        flat = _flatten_shapes(out_shapes)
        outputs = [KerasTensor(s, "float32", f"{layer.name}_output_{i}", node, i)
                   for i, s in enumerate(flat)]
        it = iter(outputs)
        result = _pack_shapes(out_shapes, it)
        node.output_structure = True
    node.outputs = outputs
    _symbolic_masks(layer, inputs, kwargs.get("mask"), outputs)
    _inbound_nodes(layer).append(node)
    return result


def _symbolic_masks(layer, inputs, mask, outputs) -> None:
    """Sets `_keras_mask` on the outputs (as Keras does on symbolic tensors): the input's mask
    passed along by a layer that supports masking, or the shape of what the layer's own
    compute_mask makes, found by running it on zeros."""
    first = tree.flatten(inputs)[0]
    in_mask = mask if mask is not None else getattr(first, "_keras_mask", None)
    if getattr(type(layer).compute_mask, "passes_mask_through", False):
        if in_mask is not None and layer.supports_masking and len(outputs) == 1:
            outputs[0]._keras_mask = in_mask
        return

    def zeros(t):
        if isinstance(t, KerasTensor):
            return Tensor(np.zeros(tuple(1 if d is None else d for d in t.shape), t.dtype))
        return t

    concrete_mask = None
    if in_mask is not None:
        concrete_mask = Tensor(np.ones(tuple(1 if d is None else d for d in in_mask.shape), bool))
    try:
        with autograd.no_grad():
            masks = layer.compute_mask(tree.map_structure(zeros, inputs), concrete_mask)
    except (ValueError, TypeError, IndexError, AttributeError):
        return  # a compute_mask that needs real values: leave the symbolic mask unknown
    if masks is None:
        return
    masks = list(masks) if isinstance(masks, (list, tuple)) else [masks]
    for out, m in zip(outputs, masks):
        if m is not None:  # a mask covers the leading axes of its output (batch, time, ...)
            out._keras_mask = KerasTensor(out.shape[:len(np.shape(m))], "bool",
                                          f"{out.name}_mask")


def _shapes_by_running(layer, inputs, args, kwargs):
    """Output shapes of a layer without its own compute_output_shape: run it once on zeros of
    the inputs' shapes and dtypes (unknown sizes as 1), batch axis kept symbolic."""
    def zeros(t):
        if isinstance(t, KerasTensor):
            z = Tensor(np.zeros(tuple(1 if d is None else d for d in t.shape), t.dtype))
            if t._keras_mask is not None:  # layers that need the mask see one (all kept)
                z._keras_mask = Tensor(np.ones(tuple(1 if d is None else d
                                                     for d in t._keras_mask.shape), bool))
            return z
        return t

    first = tree.flatten(inputs)[0]
    batch = first.shape[0] if isinstance(first, KerasTensor) and first.shape else None
    with autograd.no_grad():
        out = layer(tree.map_structure(zeros, inputs), *tree.map_structure(zeros, args),
                    training=False, **tree.map_structure(zeros, kwargs))

    def shape(o):
        return (batch,) + tuple(o.shape[1:])

    if isinstance(out, (list, tuple, dict)):
        return tree.map_structure(shape, out) if not isinstance(out, tuple) else \
            [shape(o) for o in out]
    return shape(out)


def _flatten_shapes(s) -> list:
    if _is_shape(s):
        return [s]
    if isinstance(s, dict):
        return [x for k in sorted(s) for x in _flatten_shapes(s[k])]
    return [x for v in s for x in _flatten_shapes(v)]


def _pack_shapes(s, it):
    if _is_shape(s):
        return next(it)
    if isinstance(s, dict):
        return {k: _pack_shapes(s[k], it) for k in sorted(s)}
    return [_pack_shapes(v, it) for v in s]



# ---- the graph -----------------------------------------------------------------------------

def map_graph(inputs: list, outputs: list):
    """Nodes and layers between `inputs` and `outputs`, in Keras's order: by decreasing depth
    (distance from the outputs), ties broken by the order of a depth-first walk from the
    outputs. Raises on cycles and on outputs that the inputs cannot reach."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress = set(), set()
    post_order, layer_index = [], {}

    def visit(tensor):
        node = tensor._node
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"The graph has a cycle at layer '{node.layer.name}'")
        layer_index.setdefault(id(node.layer), len(layer_index))
        in_progress.add(id(node))
        if id(tensor) not in input_ids:
            for t in node.inputs:
                visit(t)
        in_progress.discard(id(node))
        finished.add(id(node))
        post_order.append(node)

    for t in outputs:
        visit(t)

    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(post_order):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    nodes = sorted(post_order, key=lambda n: -node_depth[id(n)])
    ordered_layers = sorted(layers.values(),
                            key=lambda la: (-layer_depth[id(la)], layer_index[id(la)]))

    # Every node's inputs must be model inputs or outputs of earlier nodes.
    available = set(input_ids)
    exec_nodes = []
    for node in nodes:
        if node.is_input:
            if not any(id(t) in input_ids for t in node.outputs):
                raise ValueError(
                    f"Graph disconnected: the input '{node.layer.name}' is needed to compute "
                    f"the outputs but is not among the model inputs "
                    f"{[t.name for t in inputs]}")
            continue
        if all(id(t) in input_ids for t in node.outputs):
            continue  # an intermediate tensor given as a model input
        for t in node.inputs:
            if id(t) not in available:
                raise ValueError(
                    f"Graph disconnected: cannot obtain the value of tensor {t} needed by "
                    f"layer '{node.layer.name}'. The model inputs are "
                    f"{[x.name for x in inputs]}")
        available.update(id(t) for t in node.outputs)
        exec_nodes.append(node)
    for t in outputs:
        if id(t) not in available:
            raise ValueError(f"Graph disconnected: the output {t} cannot be computed from the "
                             f"inputs {[x.name for x in inputs]}")
    return exec_nodes, ordered_layers
