"""The functional API: Functional models (Input / InputLayer live in grebe.layers.input_layer).

Layers called on `grebe.Input` tensors record a graph (graph.py); `Model(inputs, outputs)`
walks the recorded nodes back from the outputs and replays them, in order, on real data.

>>> import grebe
>>> from grebe import layers
>>> inputs = grebe.Input(shape=(4,))
>>> outputs = layers.Dense(2)(layers.Dense(8, activation="relu")(inputs))
>>> model = grebe.Model(inputs, outputs)
>>> model.output.shape
(None, 2)
"""
from __future__ import annotations

import numpy as np

from grebe import tree
from grebe.graph import KerasTensor, Node, map_graph
from grebe.layers import fusion
from grebe.layers.input_layer import Input, InputLayer
from grebe.models.model import Model
from grebe.tensor import Tensor

__all__ = ["KerasTensor", "InputLayer", "Input", "Functional", "Node"]


def check_input(model_kind, model_name, spec: KerasTensor, x, cast_ints=True):
    """Casts `x` to the input's dtype (at the edge, once) and checks its shape against `spec`."""
    if isinstance(x, Tensor):
        data = x.data
    else:
        data = np.asarray(x)
    shape = data.shape
    want = spec.shape
    ok = len(shape) == len(want)
    if ok:  # the batch size is not checked (Keras's input specs leave it out too)
        for d, w in zip(shape[1:], want[1:]):
            if w is not None and d != w:
                ok = False
                break
    if not ok:
        raise ValueError(f"{model_kind}: expected input shape {_fmt_shape(want)}, received "
                         f"{_fmt_shape(shape)} (model '{model_name}', input '{spec.name}')")
    kind = data.dtype.kind
    if spec.dtype == "float32":
        if kind == "f" and data.dtype != np.float32 or kind in "b" or \
                (kind in "iu" and cast_ints):
            return Tensor(np.ascontiguousarray(data, dtype=np.float32))
    elif data.dtype != spec.dtype and kind in "fiub":
        return Tensor(np.ascontiguousarray(data, dtype=spec.dtype))
    return x if isinstance(x, Tensor) else Tensor(data)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Functional(Model):
    """A model defined by a graph of layer calls: `grebe.Model(inputs, outputs)`.

    >>> import grebe
    >>> from grebe import layers
    >>> a, b = grebe.Input((3,)), grebe.Input((5,))
    >>> y = layers.Dense(1)(layers.Concatenate()([a, b]))
    >>> model = grebe.Model([a, b], y)
    >>> [la.name for la in model.layers][-1] == y._node.layer.name
    True
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs):
        for kind, struct in (("inputs", inputs), ("outputs", outputs)):
            flat = tree.flatten(struct)
            if not flat or not all(isinstance(t, KerasTensor) for t in flat):
                raise TypeError(f"Model: {kind} must be grebe.Input / symbolic tensors (or "
                                f"lists/dicts of them), received {struct!r}")
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and \
                not isinstance(inputs[0], (list, tuple, dict)):
            inputs = inputs[0]
        self._input_struct = inputs
        self._output_struct = outputs
        self._inputs = tree.flatten(inputs)
        self._outputs = tree.flatten(outputs)
        for t in self._inputs:
            if not t._node.is_input:
                raise ValueError(f"Model: inputs must come from grebe.Input; {t} is the output "
                                 f"of layer '{t._node.layer.name}'")
        self._exec_nodes, layers = map_graph(self._inputs, self._outputs)
        self._steps = fusion.plan_graph(self._exec_nodes, self._outputs)
        names = [la.name for la in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Model: layer names must be unique; {dup} name(s) more than one "
                             f"layer in this model")
        self._layers = layers
        self._input_dict_keys = sorted(inputs) if isinstance(inputs, dict) else None
        self.built = True

    # ---- structure ---------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        return list(self._layers)

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def input(self):
        return self._input_struct

    @property
    def output(self):
        return self._output_struct

    @property
    def input_names(self) -> list:
        return [t.name for t in self._inputs]

    @property
    def output_names(self) -> list:
        if isinstance(self._output_struct, dict):
            return sorted(self._output_struct)
        return [t._node.layer.name for t in self._outputs]

    # ---- running -----------------------------------------------------------------------------
    def _flatten_call_inputs(self, inputs) -> list:
        if isinstance(inputs, dict):
            names = self._input_dict_keys or []
            flat = []
            for i, t in enumerate(self._inputs):
                key = names[i] if i < len(names) else t.name
                if key in inputs:
                    flat.append(inputs[key])
                elif t.name in inputs:
                    flat.append(inputs[t.name])
                else:
                    raise ValueError(f"Model '{self.name}': missing input '{key}'; received "
                                     f"keys {sorted(inputs)}")
            return flat
        flat = tree.flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self._inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self._inputs)} input(s) "
                             f"{[t.name for t in self._inputs]}, received {len(flat)}")
        return flat

    def call(self, inputs, training=None, mask=None):
        flat = self._flatten_call_inputs(inputs)
        values = {}
        kind = type(self).__name__ if type(self) is not Functional else "Model"
        for spec, x in zip(self._inputs, flat):
            values[spec] = check_input(kind, self.name, spec, x)
        for step in self._steps:
            node = step[0]
            if len(step) == 1:
                for t, v in zip(node.outputs, node.run(values, training)):
                    values[t] = v
            else:  # a fused run (grebe.layers.fusion): each output goes only into the next
                t = training if node.training is None else node.training
                values[step[-1].outputs[0]] = fusion.run_fused([n.layer for n in step],
                                                               values[node.call_inputs], t)
        if len(self._outputs) == 1 and not isinstance(self._output_struct, dict):
            return values[self._outputs[0]]  # Keras unpacks a one-element output list
        it = iter([values[t] for t in self._outputs])
        return tree.pack_like(self._output_struct, it)

    def compute_output_shape(self, input_shape):
        flat = tree.flatten_shapes(input_shape)
        batch = flat[0][0] if flat and flat[0] else None
        shapes = [(batch,) + t.shape[1:] for t in self._outputs]
        if len(shapes) == 1 and not isinstance(self._output_struct, dict):
            return shapes[0]
        return tree.pack_like(self._output_struct, iter(shapes))

    def build(self, input_shape=None):
        self.built = True

    # ---- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from grebe.models import config as config_lib

        return config_lib.functional_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from grebe.models import config as config_lib

        return config_lib.functional_from_config(cls, config, custom_objects)
