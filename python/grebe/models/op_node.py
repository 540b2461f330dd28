"""grebe.ops on symbolic KerasTensors: `ops.add(x, 1)` while building a functional model
records a node whose layer (an OpLayer) calls the op on the real values later, as Keras does.

The output shapes and dtypes come from running the op on placeholder values twice, with the
unknown sizes set to 1 and to 2: a size that differs between the runs is unknown (None).
"""
from __future__ import annotations

import numpy as np

from grebe import autograd
from grebe.layers.layer import Layer, unique_name
from grebe import tree
from grebe.graph import KerasTensor, Node, _inbound_nodes
from grebe.ops import _keras
from grebe.tensor import Tensor


class _Slot:
    """Where the i-th symbolic input goes in the op's arguments."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def _template(args, kwargs):
    inputs = []

    def slot(v):
        if isinstance(v, KerasTensor):
            inputs.append(v)
            return _Slot(len(inputs) - 1)
        return v
    return tree.map_structure(slot, (list(args), dict(kwargs))), inputs


def _fill(template, values):
    return tree.map_structure(lambda v: values[v.i] if isinstance(v, _Slot) else v, template)


def _jsonable(v):
    if isinstance(v, _Slot):
        return {"__tensor__": v.i}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.ndarray, np.generic, Tensor)):
        return np.asarray(v).tolist()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"cannot serialize argument {v!r}")


def _from_json(v):
    if isinstance(v, dict) and set(v) == {"__tensor__"}:
        return _Slot(v["__tensor__"])
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _from_json(x) for k, x in v.items()}
    return v


class OpLayer(Layer):
    """A grebe.ops function applied inside a functional model (Keras's symbolic op call)."""

    def __init__(self, op, template=None, name=None, **kwargs):
        from grebe import ops

        self.op_name = op if isinstance(op, str) else op.__name__
        fn = getattr(ops, self.op_name, None) if isinstance(op, str) else op
        if fn is None:
            raise ValueError(f"OpLayer: grebe.ops has no function {self.op_name!r}")
        super().__init__(name=name or unique_name(self.op_name), **kwargs)
        self.fn = fn
        self.template = template if not isinstance(template, dict) else _from_json(
            template["args"])

    def call(self, inputs):
        args, kwargs = _fill(self.template, list(inputs))
        return self.fn(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(op=self.op_name, template={"args": _jsonable(self.template)})
        return config


def _placeholder(t: KerasTensor, unknown: int):
    shape = tuple(unknown if d is None else d for d in t.shape)
    return Tensor(np.zeros(shape, t.dtype) if t.dtype != "float32" else
                  np.full(shape, 0.5, np.float32))


def _spec(layer, inputs):
    """[(shape, dtype)] of the op's flat outputs and whether the result is a structure."""
    runs = []
    for unknown in (1, 2):
        with autograd.no_grad(), np.errstate(all="ignore"):
            res = layer.call([_placeholder(t, unknown) for t in inputs])
        flat = tree.flatten(res)
        runs.append((res, [(tuple(np.shape(o)), str(np.asarray(o).dtype)) for o in flat]))
    (res, a), (_, b) = runs
    if len(a) != len(b) or any(len(s1) != len(s2) for (s1, _), (s2, _) in zip(a, b)):
        raise ValueError(f"ops.{layer.op_name}: the output rank depends on unknown sizes")
    specs = [(tuple(d1 if d1 == d2 else None for d1, d2 in zip(s1, s2)), dt)
             for (s1, dt), (s2, _) in zip(a, b)]
    return specs, res


def symbolic_op(op, args, kwargs):
    """Records `op(*args, **kwargs)` (KerasTensors among the arguments) as a graph node."""
    template, inputs = _template(args, kwargs)
    layer = OpLayer(op, template)
    try:
        specs, res = _spec(layer, inputs)
    except Exception as e:
        raise type(e)(f"ops.{layer.op_name} on symbolic inputs of shapes "
                      f"{[t.shape for t in inputs]}: {e}") from e
    layer.built = True
    node = Node(layer, inputs)
    outputs = [KerasTensor(s, dt if dt in ("float32", "bool") or "int" in dt else "float32",
                           f"{layer.name}_output_{i}" if len(specs) > 1 else
                           f"{layer.name}_output", node, i)
               for i, (s, dt) in enumerate(specs)]
    node.outputs = outputs
    if isinstance(res, Tensor):
        node.output_structure = None
        result = outputs[0]
    else:
        node.output_structure = True
        result = tree.pack_like(res, iter(outputs))
    _inbound_nodes(layer).append(node)
    return result


_keras.symbolic_hook = symbolic_op
