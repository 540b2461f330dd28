"""The custom-object registry behind Keras's `keras.saving` helpers: objects registered with
`register_keras_serializable`, the global dict `get_custom_objects()` returns, and the stack of
`custom_object_scope`s. It imports nothing from grebe, so every module that turns a name back
into an object (activations, losses, metrics, layers, saving) can consult it.

Lookup order for a name: the innermost open scope outwards, then the global dict (registered
names "package>name" and anything a user put there by hand).
"""
from __future__ import annotations

import threading

_GLOBAL_CUSTOM_OBJECTS: dict = {}
_GLOBAL_NAMES: dict = {}  # id(object) -> registered name
_local = threading.local()


def _scopes() -> list:
    if not hasattr(_local, "scopes"):
        _local.scopes = []
    return _local.scopes


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: registers a class or function under "package>name" (name defaults to the
    object's __name__), so that saved models find it without custom_objects=."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without '>', "
                         f"received {package!r}")

    def decorate(obj):
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and "get_config" not in _defined_methods(obj):
            raise ValueError(f"register_keras_serializable: class {obj.__name__} must define "
                             f"get_config() to be serializable")
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_NAMES[id(obj)] = key
        if isinstance(obj, type):
            obj._registered_name = key
        return obj

    return decorate


def _defined_methods(cls) -> set:
    return {k for c in cls.__mro__ if c is not object for k in vars(c)}


def get_custom_objects() -> dict:
    """The global dict of custom objects (registered name -> object); it can be edited."""
    return _GLOBAL_CUSTOM_OBJECTS


def get_registered_name(obj) -> str:
    """The name `obj` was registered under, else its __name__."""
    key = _GLOBAL_NAMES.get(id(obj))
    if key is not None:
        return key
    return getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name: str, custom_objects: dict | None = None,
                          module_objects: dict | None = None):
    """The object for `name` from custom_objects, the open scopes, the global dict, then
    module_objects; None when none has it."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(_scopes()):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def lookup(*names, custom_objects: dict | None = None):
    """The first of `names` (registered name, plain name, ...) that resolves, or None."""
    for n in names:
        if isinstance(n, str):
            obj = get_registered_object(n, custom_objects)
            if obj is not None:
                return obj
    return None


class custom_object_scope:  # noqa: N801  (Keras's name)
    """`with custom_object_scope({"name": obj, ...}):` — names visible to every lookup
    (load_model, deserialize, activations.get, ...) inside the block."""

    def __init__(self, custom_objects=None, *more):
        merged = {}
        for d in (custom_objects,) + more:
            if d is None:
                continue
            if not isinstance(d, dict):
                raise TypeError(f"custom_object_scope: expected dicts of name -> object, "
                                f"received {d!r}")
            merged.update(d)
        self.custom_objects = merged

    def __enter__(self):
        _scopes().append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _scopes().pop()
        return False


CustomObjectScope = custom_object_scope


def in_safe_mode() -> bool:
    """True unless load_model(..., safe_mode=False) is running: code stored in a file (a
    Lambda layer's function) may only be rebuilt when this is False."""
    return getattr(_local, "safe_mode", True)


class safe_mode_scope:  # noqa: N801
    """`with safe_mode_scope(False):` lets deserialization rebuild stored code."""

    def __init__(self, safe_mode: bool = True):
        self.safe_mode = bool(safe_mode)

    def __enter__(self):
        self.prev = in_safe_mode()
        _local.safe_mode = self.safe_mode
        return self

    def __exit__(self, *exc):
        _local.safe_mode = self.prev
        return False
