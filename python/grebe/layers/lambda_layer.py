"""Lambda (Keras 3): wraps a function of Tensors as a layer.

>>> import grebe, numpy as np
>>> double = grebe.layers.Lambda(lambda x: x * 2.0)
>>> double(np.ones((1, 2), np.float32)).numpy().tolist()
[[2.0, 2.0]]

Saving: grebe stores a Lambda's function by NAME, never as code, so loading a file never runs
code from it. get_config records {"class_name": "function", "config": name, "module": ...,
"registered_name": ...}; from_config finds the function in `custom_objects`, among functions
registered with @grebe.layers.register_serializable(), or as a function of a grebe module
(e.g. grebe.ops.relu), and raises a clear error otherwise (a `lambda`, or a function defined in
a script and not registered). Keras stores Python lambdas as marshalled bytecode
("__lambda__"); such a config is refused with Keras's safe_mode message, and with
safe_mode=False with an error saying grebe never executes stored bytecode.
"""
from __future__ import annotations

import importlib
import inspect

from grebe.layers.layer import Layer

_UNSAFE = ("Requested the deserialization of a Lambda layer with a Python `lambda` inside it. "
           "This carries a potential risk of arbitrary code execution and thus it is disallowed "
           "by default. If you trust the source of the saved model, you can pass "
           "`safe_mode=False` to the loading function in order to allow Lambda layer loading.")


def _function_config(fn) -> dict:
    return {"module": getattr(fn, "__module__", None), "class_name": "function",
            "config": getattr(fn, "__name__", repr(fn)),
            "registered_name": getattr(fn, "_registered_name", None)}


def _resolve(config, custom_objects, safe_mode: bool, what: str):
    """The function a stored config names, or a ValueError saying how to provide it."""
    if config is None or callable(config):
        return config
    if isinstance(config, dict) and config.get("class_name") == "__lambda__":
        if safe_mode:
            raise ValueError(_UNSAFE)
        raise ValueError(f"Lambda: the {what} was saved as Python bytecode (a Keras "
                         f"`lambda`); grebe never executes bytecode stored in a file. Rebuild "
                         f"the layer in code, or save a named function and pass it in "
                         f"custom_objects")
    name = config.get("config") if isinstance(config, dict) else config
    registered = config.get("registered_name") if isinstance(config, dict) else None
    module = config.get("module") if isinstance(config, dict) else None
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    from grebe.serialization import _registry

    for key in (registered, name):
        if key and key in _registry:
            return _registry[key]
    if module and (module == "grebe" or module.startswith("grebe.")) and name and \
            name.isidentifier():
        fn = getattr(importlib.import_module(module), name, None)
        if callable(fn):
            return fn
    raise ValueError(f"Lambda: cannot rebuild the {what} {name!r} (module {module!r}): grebe "
                     f"stores Lambda functions by name, never as code. Pass "
                     f"custom_objects={{{name!r}: fn}}, or decorate the function with "
                     f"@grebe.layers.register_serializable() (a `lambda` cannot be registered: "
                     f"give it a name with def)")


class Lambda(Layer):
    """y = function(x, **arguments); `mask`/`training` are passed when the function takes them.
    output_shape: a shape (without the batch axis), a function of the input shape, or None
    (inferred by running the function on zeros)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: `function` must be callable, received {function!r}")
        self.function = function
        self.output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._fn_takes_mask = "mask" in params
        self._fn_takes_training = "training" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_takes_mask:
            kwargs["mask"] = mask
        if self._fn_takes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape):
            return tuple(self.output_shape(tuple(input_shape)))
        return (tuple(input_shape)[0],) + tuple(self.output_shape)

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self):
        out = self.output_shape
        return {**super().get_config(), "function": _function_config(self.function),
                "output_shape": _function_config(out) if callable(out) else
                (None if out is None else list(out)),
                "arguments": self.arguments,
                "mask": _function_config(self.mask) if callable(self.mask) else None}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode: bool = True):
        config = dict(config)
        config["function"] = _resolve(config["function"], custom_objects, safe_mode,
                                      "function")
        out = config.get("output_shape")
        if isinstance(out, dict):
            config["output_shape"] = _resolve(out, custom_objects, safe_mode, "output_shape")
        if isinstance(config.get("mask"), dict):
            config["mask"] = _resolve(config["mask"], custom_objects, safe_mode, "mask")
        return cls(**config)
