"""Model: a Layer that trains. Three ways to make one, as in Keras:

    grebe.Sequential([...])                       # a stack of layers (sequential.py)
    grebe.Model(inputs, outputs)                  # the functional API (functional.py)
    class Net(grebe.Model):                       # subclassing: layers as attributes,
        def __init__(self): ...                   # the forward pass in call()
        def call(self, x, training=None): ...

>>> import grebe
>>> from grebe import layers
>>> class Net(grebe.Model):
...     def __init__(self):
...         super().__init__()
...         self.hidden = layers.Dense(8, activation="relu")
...         self.out = layers.Dense(1)
...     def call(self, x, training=None):
...         return self.out(self.hidden(x))
>>> Net()(grebe.tensor([[1.0, 2.0]])).shape
(1, 1)
"""
from __future__ import annotations

import inspect

import numpy as np

from grebe import autograd, replica, tree
from grebe.graph import symbolic_call
from grebe.layers import layer as layer_module
from grebe.layers.layer import Layer
from grebe.models.trainer import Trainer
from grebe.tensor import Tensor

_functional_subclasses: dict = {}


def _is_functional_call(args, kwargs) -> bool:
    return len(args) >= 2 or "outputs" in kwargs


class Model(Trainer, Layer):
    """A trainable stack or graph of layers with compile/fit/evaluate/predict."""

    # How code below models (saving, export) tells a model from a layer without importing this.
    _is_model = True

    def __new__(cls, *args, **kwargs):
        if cls is Model and _is_functional_call(args, kwargs):
            from grebe.models.functional import Functional

            return object.__new__(Functional)
        instance = object.__new__(cls)
        object.__setattr__(instance, "_auto_config", _capture_init_args(cls, args, kwargs))
        return instance

    def __init__(self, *args, **kwargs):
        from grebe.models.functional import Functional

        if _is_functional_call(args, kwargs):
            if not isinstance(self, Functional):
                # A subclass calling super().__init__(inputs, outputs): make it Functional.
                cls = type(self)
                sub = _functional_subclasses.get(cls)
                if sub is None:
                    sub = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__})
                    _functional_subclasses[cls] = sub
                object.__setattr__(self, "__class__", sub)
            Functional.__init__(self, *args, **kwargs)
            return
        if args:
            raise TypeError(f"{type(self).__name__}: unexpected positional arguments {args}; "
                            f"the functional API is Model(inputs, outputs)")
        Layer.__init__(self, **kwargs)
        self._init_trainer()
        self._build_input_shape = None

    # ---- structure ---------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        return list(self._layers)

    @layers.setter
    def layers(self, _):
        raise AttributeError("`Model.layers` is reserved and cannot be assigned; give your "
                             "list of layers another attribute name")

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in model.layers."""
        if name is not None and index is not None:
            raise ValueError(f"get_layer: give a name or an index, not both (received "
                             f"name={name!r}, index={index!r})")
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range; model "
                                 f"'{self.name}' has {len(layers)} layers")
            return layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name!r}. Model '{self.name}' has layers "
                             f"{[la.name for la in self.layers]}")
        raise ValueError("get_layer: give a layer name or an index")

    @property
    def output_names(self) -> list:
        return ["output"]

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None) -> None:
        """Prints the layers with their output shapes and parameter counts."""
        from grebe.models.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def fusion_plan(self) -> list:
        """The layer runs this model executes as one fused kernel, as tuples of layer names:
        (conv, pool) pairs and (conv, batch_norm[, relu]) runs folded at inference (the rule
        is grebe.layers.fusion; summary() lists them too)."""
        return [tuple(getattr(s, "layer", s).name for s in step)
                for step in getattr(self, "_steps", ()) if len(step) > 1]

    # ---- calling -----------------------------------------------------------------------------
    def __call__(self, inputs, *args, training=None, mask=None, **kwargs):
        flat = tree.flatten(inputs) if tree.is_nested(inputs) else None
        first = flat[0] if flat else inputs
        if layer_module.is_symbolic(first):
            return symbolic_call(self, inputs, args, dict(kwargs, training=training, mask=mask))
        if flat is None:
            if not isinstance(inputs, Tensor):
                inputs = Tensor(inputs)
        elif not all(isinstance(v, Tensor) or v is None for v in flat):
            inputs = tree.map_structure(
                lambda v: v if isinstance(v, Tensor) or v is None else Tensor(v), inputs)
        if not self.built:
            self._build_once(tree.map_structure(
                lambda t: None if t is None else (None,) + tuple(t.shape[1:]), inputs)
                if flat is not None else (None,) + tuple(inputs.shape[1:]))
        takes_training, takes_mask = self._call_flags()
        if takes_training:
            kwargs["training"] = training
        if takes_mask and mask is not None:
            kwargs["mask"] = mask
        with layer_module.CallContext(self):
            out = self.call(inputs, *args, **kwargs)
        layer_module.check_outputs(self, out)
        return out

    def call(self, inputs, training=None, mask=None):
        raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define "
                                  f"call(self, inputs, training=None)")

    def _build_once(self, input_shape) -> None:
        if self.built:
            return
        if type(self).build is Model.build:
            # A subclassed model's layers build themselves on the call that follows.
            self.built = True
        else:
            self.build(input_shape)
            self.built = True
        if self._build_input_shape is None:
            self._build_input_shape = input_shape

    def build(self, input_shape=None) -> None:
        """Creates the weights by running the model once on zeros of `input_shape` (the batch
        axis may be None)."""
        if input_shape is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': build() needs an "
                             f"input_shape, e.g. build((None, 28, 28, 1))")
        self._build_input_shape = input_shape
        self.built = True

        def zeros(shape):
            return Tensor(np.zeros(tuple(1 if d is None else d for d in shape), np.float32))

        sample = _map_shapes(zeros, input_shape)
        with autograd.no_grad():
            self(sample, training=False)

    def get_build_config(self) -> dict | None:
        if self._build_input_shape is None:
            return None
        return {"input_shape": _jsonable_shape(self._build_input_shape)}

    def build_from_config(self, config: dict) -> None:
        shape = config.get("input_shape") if config else None
        if shape is not None and not self.built:
            self.build(_tuple_shape(shape))

    # ---- weights -----------------------------------------------------------------------------
    def set_weights(self, weights) -> None:
        if not self.weights and not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built yet, so it "
                             f"has no weights to set: call build(input_shape) or call it on "
                             f"data first")
        Layer.set_weights(self, weights)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built yet: give "
                             f"the first layer input_shape=..., start with grebe.Input, call "
                             f"build(input_shape), or call the model on data first")
        return int(sum(w.size for w in self.weights))

    # ---- saving (grebe.saving does the work) -------------------------------------------------
    def save(self, filepath, overwrite: bool = True, **kwargs) -> None:
        """Architecture, weights, compile config and optimizer state in one file (in a
        data-parallel job, written by rank 0 only: every rank holds the same model)."""
        from grebe import saving

        if not replica.is_chief():
            return
        saving.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite: bool = True, **kwargs) -> None:
        from grebe import saving

        if not replica.is_chief():  # a data-parallel job: rank 0 writes
            return
        saving.save_weights(self, filepath, overwrite=overwrite, **kwargs)

    def load_weights(self, filepath, skip_mismatch: bool = False, **kwargs):
        from grebe import saving

        return saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs) -> str:
        """The architecture as a JSON string (grebe.models.model_from_json reads it back)."""
        from grebe.models.cloning import model_to_json

        return model_to_json(self, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """Keras 3's export: `format="onnx"` writes an ONNX model (grebe.export.onnx; needs
        `pip install "grebe[onnx]"`), with a dynamic batch dimension. grebe has no TensorFlow,
        so the other formats raise. kwargs: `opset` (default 17)."""
        if format != "onnx":
            raise ValueError(f"Model.export: format={format!r} is not available in grebe "
                             f"(it needs TensorFlow); use format='onnx'")
        if input_signature is not None:
            raise ValueError("Model.export: input_signature is not supported; the model's "
                             "Input shapes are exported with a dynamic batch dimension")
        from grebe.export.onnx import export_onnx

        return export_onnx(self, filepath, verbose=bool(verbose), **kwargs)

    # ---- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """For a subclassed model that defines no get_config: its constructor arguments when
        they are plain values (Keras's auto-config), with name/trainable when __init__ takes
        them."""
        config = {"name": self.name, "trainable": self.trainable}
        auto = self.__dict__.get("_auto_config")
        if auto is None:
            return config
        try:
            params = inspect.signature(type(self).__init__).parameters
        except (TypeError, ValueError):
            params = {}
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        config = {k: v for k, v in config.items() if takes_kwargs or k in params}
        config.update(auto)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        if "layers" in config and "input_layers" in config and "output_layers" in config:
            from grebe.models.functional import Functional

            return Functional.from_config(config, custom_objects=custom_objects)
        try:
            return cls(**config)
        except TypeError as e:
            raise TypeError(f"{cls.__name__}.from_config: {e}. A subclassed model whose "
                            f"__init__ takes arguments must define get_config() returning "
                            f"them (and from_config if they need rebuilding)") from e

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _plain(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(u) for u in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(u) for k, u in v.items())
    return False


def _capture_init_args(cls, args, kwargs):
    """The constructor arguments by name, if all are plain JSON values; else None."""
    if cls.__init__ is Model.__init__:
        return None
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    out = {}
    for name, value in list(bound.arguments.items())[1:]:
        param = bound.signature.parameters[name]
        if param.kind == param.VAR_KEYWORD:
            out.update(value)
        elif param.kind == param.VAR_POSITIONAL:
            if value:
                return None
        else:
            out[name] = value
    return out if _plain(out) else None


def _is_shape(s) -> bool:
    return isinstance(s, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s)


def _map_shapes(fn, s):
    if _is_shape(s):
        return fn(s)
    if isinstance(s, dict):
        return {k: _map_shapes(fn, v) for k, v in s.items()}
    return [_map_shapes(fn, v) for v in s]


def _jsonable_shape(s):
    if _is_shape(s):
        return [None if d is None else int(d) for d in s]
    if isinstance(s, dict):
        return {k: _jsonable_shape(v) for k, v in s.items()}
    return [_jsonable_shape(v) for v in s]


def _tuple_shape(s):
    if _is_shape(s):
        return tuple(s)
    if isinstance(s, dict):
        return {k: _tuple_shape(v) for k, v in s.items()}
    return [_tuple_shape(v) for v in s]
