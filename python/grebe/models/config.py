"""Functional model configs, in Keras 3's layout:

    {"name": ..., "trainable": ...,
     "layers": [{class_name, config, name, "inbound_nodes": [{"args": [...], "kwargs": {...}}]}],
     "input_layers": [layer_name, node_index, tensor_index] (or a list/dict of them),
     "output_layers": ...}

A symbolic tensor inside `args` is written {"class_name": "__keras_tensor__", "config":
{"shape", "dtype", "keras_history": [layer_name, node_index, tensor_index]}}. Node indices
count only the nodes that belong to this model. Keras 2's list-style inbound_nodes also load.
"""
from __future__ import annotations

from grebe import serialization
from grebe import tree


def _model_nodes(model) -> dict:
    """{id(node): index among the layer's nodes in this model}."""
    in_model = {id(n) for n in model._exec_nodes}
    for t in model._inputs:
        in_model.add(id(t._node))
    index = {}
    for layer in model._layers:
        k = 0
        for node in getattr(layer, "_inbound_nodes", []):
            if id(node) in in_model:
                index[id(node)] = k
                k += 1
    return index


def functional_config(model) -> dict:
    from grebe.models.functional import KerasTensor

    index = _model_nodes(model)

    def history(t):
        return [t._node.layer.name, index[id(t._node)], t._index]

    def arg(v):
        if isinstance(v, KerasTensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(v.shape), "dtype": v.dtype,
                               "keras_history": history(v)}}
        if isinstance(v, tuple):
            return [arg(u) for u in v]
        return tree.map_structure(arg, v) if tree.is_nested(v) else v

    nodes_of = {}
    for node in model._exec_nodes:
        nodes_of.setdefault(id(node.layer), []).append(node)
    layers = []
    for layer in model._layers:
        entry = serialization.serialize(layer)
        entry["name"] = layer.name
        nodes = sorted(nodes_of.get(id(layer), []), key=lambda n: index[id(n)])
        inbound = []
        for node in nodes:
            kwargs = {k: arg(v) for k, v in node.call_kwargs.items()}
            if node.training is not None:
                kwargs["training"] = node.training
            inbound.append({"args": [arg(node.call_inputs)] + [arg(a) for a in node.call_args],
                            "kwargs": kwargs})
        entry["inbound_nodes"] = inbound
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": tree.map_structure(history, _listify(model._input_struct)),
        "output_layers": tree.map_structure(history, _listify(model._output_struct)),
    }


def _listify(struct):
    return list(struct) if isinstance(struct, tuple) else struct


def _is_history(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 3 and isinstance(v[0], str) and \
        isinstance(v[1], int) and isinstance(v[2], int)


def _map_histories(fn, v):
    if _is_history(v):
        return fn(v)
    if isinstance(v, dict):
        return {k: _map_histories(fn, u) for k, u in v.items()}
    if isinstance(v, (list, tuple)):
        return [_map_histories(fn, u) for u in v]
    return v


class _Missing(Exception):
    pass


def functional_from_config(cls, config: dict, custom_objects=None):
    from grebe.models.functional import InputLayer

    created, pending = {}, {}
    order = []
    for entry in config["layers"]:
        layer = serialization.deserialize(entry, custom_objects)
        name = entry.get("name", layer.name)
        created[name] = layer
        order.append(name)
        pending[name] = list(entry.get("inbound_nodes") or [])
    outputs_of = {}  # (layer name, node index) -> flat output tensors
    for name, layer in created.items():
        if isinstance(layer, InputLayer):
            outputs_of[(name, 0)] = [layer._output_tensor]
            pending[name] = []

    def lookup(h):
        key = (h[0], h[1])
        if key not in outputs_of:
            raise _Missing()
        return outputs_of[key][h[2]]

    def resolve(v):
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            return lookup(v["config"]["keras_history"])
        if isinstance(v, dict):
            return {k: resolve(u) for k, u in v.items()}
        if isinstance(v, list):
            return [resolve(u) for u in v]
        return v

    progress = True
    while progress and any(pending.values()):
        progress = False
        for name in order:
            layer = created[name]
            while pending[name]:
                node = pending[name][0]
                try:
                    args, kwargs = _node_call(node, resolve, lookup)
                except _Missing:
                    break
                out = layer(*args, **kwargs)
                k = sum(1 for key in outputs_of if key[0] == name)
                outputs_of[(name, k)] = tree.flatten(out)
                pending[name].pop(0)
                progress = True
    stuck = [n for n, p in pending.items() if p]
    if stuck:
        raise ValueError(f"Functional.from_config: cannot connect layers {stuck}: their inputs "
                         f"never appear in the config")
    inputs = _map_histories(lookup, config["input_layers"])
    outputs = _map_histories(lookup, config["output_layers"])
    kwargs = {"name": config.get("name"), "trainable": config.get("trainable", True)}
    return cls(inputs, outputs, **kwargs)


def _node_call(node, resolve, lookup):
    if isinstance(node, dict):  # Keras 3
        args = [resolve(a) for a in node.get("args", [])]
        kwargs = {k: resolve(v) for k, v in (node.get("kwargs") or {}).items()}
        return args, kwargs
    # Keras 2: [[layer_name, node_index, tensor_index, kwargs], ...]
    tensors, kwargs = [], {}
    for item in node:
        tensors.append(lookup(item))
        if len(item) > 3 and item[3]:
            kwargs.update(item[3])
    return [tensors[0] if len(tensors) == 1 else tensors], kwargs
