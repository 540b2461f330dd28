"""Keras's generic object (de)serialization: `serialize_keras_object(obj)` gives the
{"module", "class_name", "config", "registered_name"} dict Keras 3 writes for layers,
regularizers, initializers, losses, metrics, optimizers and functions, and
`deserialize_keras_object(config)` rebuilds the object, finding its class through
custom_objects, the custom-object scopes and registrations, then grebe's own modules.

>>> import grebe
>>> cfg = grebe.saving.serialize_keras_object(grebe.regularizers.L2(0.01))
>>> cfg["class_name"], type(grebe.saving.deserialize_keras_object(cfg)).__name__
('L2', 'L2')
"""
from __future__ import annotations

import importlib

import numpy as np

from grebe import registry

# Where grebe looks for a class or function that is not a custom object, in order.
_MODULES = ("grebe.layers", "grebe.models", "grebe.regularizers", "grebe.initializers",
            "grebe.losses", "grebe.metrics", "grebe.optimizers", "grebe.activations",
            "grebe.constraints", "grebe.callbacks", "grebe.optimizers.schedules")


def serialize_keras_object(obj):
    """A JSON-ready form of `obj` (nested lists/dicts of them included)."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(),
                                                       "dtype": str(obj.dtype)}}
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, type):
        raise TypeError(f"serialize_keras_object: pass an instance, not the class {obj.__name__}")
    if hasattr(obj, "get_config"):
        cls = type(obj)
        return {"module": cls.__module__, "class_name": cls.__name__,
                "config": serialize_keras_object(obj.get_config()),
                "registered_name": registry.get_registered_name(cls)}
    if callable(obj) and hasattr(obj, "__name__"):
        return {"module": getattr(obj, "__module__", None), "class_name": "function",
                "config": obj.__name__, "registered_name": registry.get_registered_name(obj)}
    raise TypeError(f"serialize_keras_object: cannot serialize a {type(obj).__name__} "
                    f"({obj!r}); give it get_config() or register it")


def _from_grebe(name, module_hint=None):
    modules = list(_MODULES)
    if isinstance(module_hint, str):
        hinted = "grebe" + module_hint[len("keras"):] if module_hint.startswith("keras") else \
            module_hint
        if hinted.startswith("grebe"):
            modules.insert(0, hinted)
    for m in modules:
        try:
            mod = importlib.import_module(m)
        except ImportError:
            continue
        obj = getattr(mod, name, None)
        if obj is not None:
            return obj
    return None


def deserialize_keras_object(config, custom_objects=None, safe_mode: bool = True, **kwargs):
    """The object `serialize_keras_object` described (or a plain value, returned as is)."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, list):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if isinstance(config, str):
        found = registry.lookup(config, custom_objects=custom_objects)
        return found if found is not None else (_from_grebe(config) or config)
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: expected a config dict, received {config!r}")
    if "class_name" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode)
                for k, v in config.items()}
    name, inner = config["class_name"], config.get("config")
    if name == "__numpy__":
        return np.asarray(inner["value"], dtype=inner["dtype"])
    with registry.custom_object_scope(custom_objects or {}), registry.safe_mode_scope(safe_mode):
        if name == "function":
            obj = registry.lookup(config.get("registered_name"), inner,
                                  custom_objects=custom_objects) or _from_grebe(inner)
            if obj is None:
                raise ValueError(f"Could not locate function '{inner}': pass custom_objects="
                                 f"{{'{inner}': {inner}}} or register it with "
                                 f"@grebe.saving.register_keras_serializable()")
            return obj
        cls = registry.lookup(config.get("registered_name"), name,
                              custom_objects=custom_objects) or \
            _from_grebe(name, config.get("module"))
        if not isinstance(cls, type):
            raise ValueError(f"Could not locate class '{name}': pass custom_objects="
                             f"{{'{name}': {name}}} or register it with "
                             f"@grebe.saving.register_keras_serializable()")
        inner = dict(inner or {})
        from grebe.layers.layer import Layer

        if issubclass(cls, Layer):
            from grebe import serialization

            return serialization.deserialize(dict(config, config=inner), custom_objects)
        if hasattr(cls, "from_config"):
            return cls.from_config(inner)
        return cls(**inner)
