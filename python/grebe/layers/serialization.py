"""Layers to and from plain dicts (JSON-ready), Keras 3's format:

    {"module": "grebe.layers", "class_name": "Dense", "config": {...}, "registered_name": None}

`deserialize` finds the class among grebe's layers and models, classes registered with
`register_serializable`, and `custom_objects`.

>>> import grebe
>>> from grebe import layers
>>> cfg = layers.serialize(layers.Dense(3, name="d"))
>>> cfg["class_name"], layers.deserialize(cfg).name
('Dense', 'd')
"""
from __future__ import annotations

import inspect

from grebe import registry
from grebe.layers.layer import Layer

_registry: dict = {}  # plain names of registered layers (grebe's older lookup by bare name)


def register_serializable(package: str = "Custom", name: str | None = None):
    """Class decorator: lets deserialize (and load_model) find a custom layer by name (the
    same registry as grebe.saving.register_keras_serializable)."""
    keras_decorate = registry.register_keras_serializable(package, name)

    def decorate(cls):
        keras_decorate(cls)
        _registry[name or cls.__name__] = cls
        return cls

    return decorate


def serialize(layer) -> dict:
    """A layer (or model) as {"module", "class_name", "config", "registered_name"}."""
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize: expected a Layer, received {layer!r}")
    cls = type(layer)
    return {
        "module": "grebe.layers" if cls.__module__.startswith("grebe.layers") else
        cls.__module__,
        "class_name": cls.__name__,
        "config": layer.get_config(),
        "registered_name": getattr(cls, "_registered_name", None),
    }


def _all_subclasses(cls):
    out, stack = {}, [cls]
    while stack:
        c = stack.pop()
        for sub in c.__subclasses__():
            out.setdefault(sub.__name__, sub)
            stack.append(sub)
    return out


def get_class(class_name: str, custom_objects: dict | None = None, registered_name=None):
    """The layer/model class for a name, or a ValueError listing where it was looked for."""
    found = registry.lookup(registered_name, class_name, custom_objects=custom_objects)
    if isinstance(found, type):
        return found
    if class_name in _registry:
        return _registry[class_name]
    import grebe.layers
    import grebe.models

    for module in (grebe.layers, grebe.models):
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and issubclass(cls, Layer):
            return cls
    cls = _all_subclasses(Layer).get(class_name)
    if cls is not None:
        return cls
    raise ValueError(f"Unknown layer class {class_name!r}: pass custom_objects="
                     f"{{'{class_name}': {class_name}}} or decorate the class with "
                     f"@grebe.saving.register_keras_serializable()")


def deserialize(config, custom_objects: dict | None = None):
    """A layer (or model) from serialize()'s dict (or a bare class name)."""
    if isinstance(config, Layer):
        return config
    if isinstance(config, str):
        return get_class(config, custom_objects)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config', "
                         f"received {config!r}")
    cls = get_class(config["class_name"], custom_objects, config.get("registered_name"))
    inner = dict(config.get("config") or {})
    if "batch_input_shape" in inner and cls.__name__ != "InputLayer":  # Keras 2 configs
        shape = inner.pop("batch_input_shape")
        if shape is not None and "input_shape" not in inner:
            inner["input_shape"] = list(shape)[1:]
    try:
        params = inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        params = {}
    if "custom_objects" in params:
        return cls.from_config(inner, custom_objects=custom_objects)
    return cls.from_config(inner)
