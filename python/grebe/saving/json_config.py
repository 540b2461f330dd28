"""JSON for everything that is not a tensor: the model and compile configs."""
from __future__ import annotations

import json

import numpy as np


# ---- JSON helpers ------------------------------------------------------------------------------
def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, np.dtype):
        return str(o)
    if callable(o) and hasattr(o, "__name__"):
        return o.__name__
    raise TypeError(f"cannot save a {type(o).__name__} in a model config: {o!r}")


def _to_json(obj) -> bytes:
    return json.dumps(obj, indent=1, default=_json_default).encode("utf-8")


def serialize_object(obj):
    """A loss/metric/optimizer as JSON: a name string stays a string, an object with get_config
    becomes {"class_name", "config"}, a function becomes its name."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, dict):
        return {str(k): serialize_object(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [serialize_object(v) for v in obj]
    from grebe import registry

    if hasattr(obj, "get_config") and not isinstance(obj, type):
        return {"class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": registry.get_registered_name(type(obj))}
    if callable(obj) and hasattr(obj, "__name__"):
        return registry.get_registered_name(obj)  # a custom function: found again by name
    raise TypeError(f"cannot serialize {obj!r} in a compile config")


def _compile_config(model):
    if not getattr(model, "compiled", getattr(model, "optimizer", None) is not None):
        return None
    getter = getattr(model, "get_compile_config", None)
    cfg = getter() if getter is not None else None
    if cfg is None:
        cfg = {}
        for key, attr in (("optimizer", "optimizer"), ("loss", "loss"),
                          ("metrics", "_compile_metrics")):
            if getattr(model, attr, None) is not None:
                cfg[key] = getattr(model, attr)
    if not cfg:
        return None
    return serialize_object(cfg)


def _deserialize_compile(cfg: dict, custom_objects) -> dict:
    out = dict(cfg)
    opt = cfg.get("optimizer")
    if isinstance(opt, (dict, str)):
        from grebe import optimizers

        out["optimizer"] = (optimizers.deserialize(opt, custom_objects) if isinstance(opt, dict)
                            else optimizers.get(opt))
    for key, module in (("loss", "grebe.losses"), ("metrics", "grebe.metrics"),
                        ("weighted_metrics", "grebe.metrics")):
        if key in cfg:
            out[key] = _from_json(module, cfg[key], custom_objects)
    return out


def _from_json(module_name, v, custom_objects):
    """A loss/metric (or a list/per-output dict of them) from its JSON form: names stay names
    (compile() reads them) unless custom_objects maps them; {"class_name", "config"} dicts
    become objects."""
    if isinstance(v, list):
        return [_from_json(module_name, e, custom_objects) for e in v]
    from grebe import registry

    if isinstance(v, str):
        found = registry.lookup(v, custom_objects=custom_objects)
        return v if found is None else found
    if not isinstance(v, dict):
        return v
    if "class_name" not in v:  # one entry per output
        return {k: _from_json(module_name, e, custom_objects) for k, e in v.items()}
    name, config = v["class_name"], v.get("config") or {}
    cls = registry.lookup(v.get("registered_name"), name, custom_objects=custom_objects)
    if cls is None:
        import importlib

        module = importlib.import_module(module_name)
        if hasattr(module, "deserialize"):
            return module.deserialize(v)
        cls = getattr(module, name, None)
        if cls is None:
            raise ValueError(f"unknown class {name!r} in the compile config: pass "
                             f"custom_objects={{'{name}': ...}} to load_model")
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
