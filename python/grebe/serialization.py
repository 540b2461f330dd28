"""Layers to and from plain dicts (JSON-ready), Keras 3's format:

    {"module": "grebe.layers", "class_name": "Dense", "config": {...}, "registered_name": None}

`deserialize` finds the class among `custom_objects`, classes registered with
`register_serializable`, and every Layer class defined so far (Layer.__init_subclass__ lists
each one here with `add_layer_class`; a config's "module" under grebe is imported when its class
is not defined yet). This module sits below layers and models: it knows them only through that
table and the methods it calls (get_config, from_config).

>>> import grebe
>>> from grebe import layers
>>> cfg = layers.serialize(layers.Dense(3, name="d"))
>>> cfg["class_name"], layers.deserialize(cfg).name
('Dense', 'd')
"""
from __future__ import annotations

import importlib
import inspect

from grebe import registry

_registry: dict = {}  # plain names of registered layers (grebe's older lookup by bare name)
_layer_classes: dict = {}  # class name -> the first Layer class defined under that name


def add_layer_class(cls) -> None:
    """Lists a Layer class for deserialize (Layer.__init_subclass__ calls it for each one)."""
    _layer_classes.setdefault(cls.__name__, cls)


def _is_layer(obj) -> bool:
    base = _layer_classes.get("Layer")  # grebe's Layer lists itself first
    return base is not None and isinstance(obj, base)


# Where a config's classes are defined when it names no grebe module (Keras files say
# "keras.layers", older files nothing): the class table fills as these load.
_DEFAULT_MODULES = ("grebe.layers", "grebe.models")


def _load_defining_module(module) -> None:
    """Imports the module a config names when it is grebe's, else grebe's layers and models:
    deserialize finds classes by name in the table those modules fill, as Keras finds them
    by the config's module and class name."""
    if isinstance(module, str) and (module == "grebe" or module.startswith("grebe.")):
        importlib.import_module(module)
    else:
        for name in _DEFAULT_MODULES:
            importlib.import_module(name)


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
    if not _is_layer(layer):
        raise TypeError(f"serialize: expected a Layer, received {layer!r}")
    cls = type(layer)
    return {
        "module": "grebe.layers" if cls.__module__.startswith("grebe.layers") else
        cls.__module__,
        "class_name": cls.__name__,
        "config": layer.get_config(),
        "registered_name": getattr(cls, "_registered_name", None),
    }


def get_class(class_name: str, custom_objects: dict | None = None, registered_name=None,
              module: str | None = None):
    """The layer/model class for a name, or a ValueError listing where it was looked for."""
    found = registry.lookup(registered_name, class_name, custom_objects=custom_objects)
    if isinstance(found, type):
        return found
    if class_name in _registry:
        return _registry[class_name]
    if class_name not in _layer_classes:
        _load_defining_module(module)
    cls = _layer_classes.get(class_name)
    if cls is not None:
        return cls
    raise ValueError(f"Unknown layer class {class_name!r}: pass custom_objects="
                     f"{{'{class_name}': {class_name}}} or decorate the class with "
                     f"@grebe.saving.register_keras_serializable()")


def deserialize(config, custom_objects: dict | None = None):
    """A layer (or model) from serialize()'s dict (or a bare class name)."""
    if _is_layer(config):
        return config
    if isinstance(config, str):
        return get_class(config, custom_objects)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config', "
                         f"received {config!r}")
    cls = get_class(config["class_name"], custom_objects, config.get("registered_name"),
                    config.get("module"))
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
