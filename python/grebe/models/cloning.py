"""`grebe.models.clone_model` and `model_from_json`: a model's architecture copied through its
config (new weights, freshly initialized), as Keras does.

>>> import grebe
>>> m = grebe.Sequential([grebe.Input((3,)), grebe.layers.Dense(2)])
>>> c = grebe.models.clone_model(m)
>>> [w.shape for w in c.get_weights()] == [w.shape for w in m.get_weights()]
True
"""
from __future__ import annotations

import json

from grebe import registry
from grebe import serialization


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive: bool = False, **kwargs):
    """A new model with the same architecture and new weights. `clone_function(layer)` (for
    Sequential models) returns the layer to use in the copy (default: a layer rebuilt from its
    config)."""
    from grebe.models.sequential import Sequential

    if kwargs:
        raise TypeError(f"clone_model: unrecognized arguments {sorted(kwargs)}")
    if input_tensors is not None or call_function is not None:
        raise NotImplementedError("clone_model: input_tensors= and call_function= are not "
                                  "supported by grebe; clone the model, then call it on new "
                                  "inputs")
    if clone_function is None:
        return serialization.deserialize(serialization.serialize(model))
    if not isinstance(model, Sequential):
        raise NotImplementedError("clone_model: clone_function= is supported for Sequential "
                                  "models; for a functional model rebuild the graph, calling "
                                  "your cloned layers on grebe.Input")
    layers = [clone_function(layer) for layer in model.layers]
    clone = Sequential(name=model.name)
    shape = model._build_input_shape if getattr(model, "_build_input_shape", None) else None
    from grebe.models.functional import Input

    if model.built and model._inputs is not None:
        clone.add(Input(batch_shape=model._inputs[0].shape))
    for layer in layers:
        clone.add(layer)
    if shape is not None and not clone.built:
        clone.build(shape)
    return clone


def model_to_json(model, **kwargs) -> str:
    """The architecture as a JSON string: Keras's {"module", "class_name", "config", ...}."""
    return json.dumps(serialization.serialize(model), default=_json_default, **kwargs)


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """A model (new weights) from the JSON string model.to_json() wrote."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not a JSON model config ({e})") from None
    with registry.custom_object_scope(custom_objects or {}):
        return serialization.deserialize(config, custom_objects=custom_objects)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"to_json: cannot store a {type(o).__name__} in a JSON config ({o!r})")
