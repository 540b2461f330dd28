"""Layer: the Keras 3 lifecycle.

`__init__` validates and stores config, `build(input_shape)` makes weights with `add_weight`,
`call(inputs, training=None)` is a few lines of ops, `compute_output_shape` and `get_config`
make `summary()` and saving work.

>>> import grebe
>>> layer = grebe.layers.Dense(4)
>>> y = layer(grebe.tensor([[1.0, 2.0, 3.0]]))     # builds on first call
>>> [w.shape for w in layer.get_weights()]
[(3, 4), (4,)]
"""
from __future__ import annotations

import inspect
import re

import numpy as np

from grebe import autograd
from grebe.backend import reset_names, unique_name  # noqa: F401 (the name counters live there)
from grebe.graph import symbolic_call
from grebe.serialization import add_layer_class
from grebe.tensor import Tensor

def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()  # Keras: Conv2D -> conv2d


def serialize_arg(obj):
    """A JSON-safe form of an initializer / regularizer / constraint argument for get_config."""
    if obj is None or isinstance(obj, (str, int, float, bool, dict)):
        return obj
    from grebe import initializers, regularizers

    if isinstance(obj, initializers.Initializer):
        return initializers.serialize(obj)
    if isinstance(obj, regularizers.Regularizer):
        return regularizers.serialize(obj)
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    return getattr(obj, "__name__", repr(obj))


def is_symbolic(x) -> bool:
    return getattr(x, "_grebe_symbolic", False)


def _first_node(layer, what: str):
    nodes = layer.__dict__.get("_inbound_nodes")
    if not nodes:
        raise AttributeError(f"Layer '{layer.name}' has never been called on symbolic inputs "
                             f"(grebe.Input), so it has no defined {what}")
    return nodes[0]


class Layer:
    """Base class of every layer. Subclasses override build/call/compute_output_shape/get_config."""

    _call_flags_cache: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        add_layer_class(cls)  # so that deserialize finds it by name

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None,
                 input_shape=None, batch_size=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unrecognized keyword arguments: "
                            f"{sorted(kwargs)}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only dtype 'float32' is supported, "
                             f"received dtype={dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, received {name!r}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._own_weights: list = []
        self._regularized: list = []  # (weight, regularizer)
        self._activity_losses: list = []  # the activity regularizer's penalty of the last call
        self._layers: list = []  # sublayers, tracked by __setattr__
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = tuple(input_shape)
            if not all(d is None or (isinstance(d, (int, np.integer)) and d > 0)
                       for d in input_shape):
                raise ValueError(f"{type(self).__name__}: input_shape must hold positive "
                                 f"integers or None, received input_shape={input_shape}")
        self._input_shape_arg = input_shape  # without the batch axis, as in Keras
        self._batch_size_arg = batch_size
        self.supports_masking = False
        self.input_spec = None

    # ---- sublayer tracking -----------------------------------------------------------------
    def __setattr__(self, key, value):
        if isinstance(value, Layer) and key != "_layers" and "_layers" in self.__dict__:
            if value not in self._layers:
                self._layers.append(value)
        elif isinstance(value, (list, tuple)) and "_layers" in self.__dict__ and value and \
                all(isinstance(v, Layer) for v in value) and key != "_layers":
            for v in value:
                if v not in self._layers:
                    self._layers.append(v)
        object.__setattr__(self, key, value)

    # ---- weights ---------------------------------------------------------------------------
    def add_weight(self, name: str | None = None, shape=(), initializer="glorot_uniform",
                   dtype=None, trainable: bool = True, regularizer=None,
                   constraint=None) -> Tensor:
        """Creates, tracks and returns a weight Tensor (requires_grad when trainable)."""
        from grebe import initializers

        shape = tuple(int(s) for s in shape)
        init = initializers.get(initializer)
        value = np.ascontiguousarray(init(shape), dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f"{self.name}: initializer {initializer!r} returned shape "
                             f"{value.shape}, expected {shape}")
        w = Tensor(value, requires_grad=bool(trainable and self._trainable))
        w.trainable = bool(trainable)
        w.name = f"{self.name}/{name or 'weight_' + str(len(self._own_weights))}"
        self._own_weights.append(w)
        if regularizer is not None:
            from grebe import regularizers

            self._regularized.append((w, regularizers.get(regularizer)))
        if constraint is not None:  # projected after each optimizer step
            from grebe import constraints

            constraints.attach(w, constraint)
        return w

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for w in self._own_weights:
            w.requires_grad = bool(value and w.trainable)
        for layer in self._layers:
            layer.trainable = value

    def _flat_layers(self):
        seen, out = set(), []
        stack = list(reversed(self._layers))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._layers))
        return out

    @property
    def weights(self) -> list:
        out, seen = [], set()
        for w in self._own_weights + [w for la in self._flat_layers() for w in la._own_weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> list:
        if not self._trainable:
            return []
        own = [w for w in self._own_weights if w.trainable]
        for layer in self._layers:
            own += [w for w in layer.trainable_weights if all(w is not o for o in own)]
        return own

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def variables(self) -> list:
        return self.weights

    @property
    def losses(self) -> list:
        """Regularization losses of this layer and its sublayers, as scalar Tensors: the
        weights' penalties and the activity penalties of the last call."""
        out = [reg(w) for w, reg in self._regularized] + self._activity_losses
        for layer in self._flat_layers():
            out += [reg(w) for w, reg in layer._regularized] + layer._activity_losses
        return out

    def get_weights(self) -> list:
        """Copies of the weights as numpy arrays, in Keras's order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Sets the weights from numpy arrays of the same shapes (Keras's order)."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"Layer {self.name!r} expects {len(own)} weight arrays "
                             f"{[tuple(w.shape) for w in own]}, received {len(weights)}")
        arrays = []
        for w, v in zip(own, weights):
            v = np.asarray(v, dtype=np.float32)
            if v.shape != w.shape:
                raise ValueError(f"Layer {self.name!r} weight {w.name!r}: expected shape "
                                 f"{w.shape}, received {v.shape}")
            arrays.append(v)
        for w, v in zip(own, arrays):
            w.data[...] = v

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built yet: call it on an input or "
                             f"call build(input_shape) to count its parameters")
        return int(sum(w.size for w in self.weights))

    # ---- lifecycle ---------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape (batch axis included, None allowed). The default
        runs the layer on zeros under no_grad; layers override it with the exact rule."""
        shape = tuple(1 if d is None else d for d in input_shape)
        if not self.built:
            self._build_once(input_shape)
        with autograd.no_grad():
            y = self.call(Tensor(np.zeros(shape, np.float32)))
        out = tuple(y.shape)
        return (input_shape[0],) + out[1:]

    compute_output_shape.runs_the_layer = True  # symbolic calls run such layers on zeros

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def _build_once(self, input_shape) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True

    @classmethod
    def _call_flags(cls):
        flags = Layer._call_flags_cache.get(cls)
        if flags is None:
            params = inspect.signature(cls.call).parameters
            var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
            flags = ("training" in params or var_kw, "mask" in params or var_kw)
            Layer._call_flags_cache[cls] = flags
        return flags

    def __call__(self, inputs, *args, training=None, mask=None, **kwargs):
        first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
        if is_symbolic(first):  # record a node of the functional graph (grebe.graph)
            return symbolic_call(self, inputs, args, dict(kwargs, training=training,
                                                          mask=mask))
        if isinstance(inputs, (list, tuple)):
            inputs = type(inputs)(x if isinstance(x, Tensor) or x is None else Tensor(x)
                                  for x in inputs)
            shape = [tuple(x.shape) if x is not None else None for x in inputs]
        else:
            if not isinstance(inputs, Tensor):
                inputs = Tensor(inputs)
            shape = tuple(inputs.shape)
        if not self.built:
            self._build_once(shape)
        if mask is None and isinstance(inputs, Tensor):
            mask = inputs._keras_mask
        takes_training, takes_mask = self._call_flags()
        if takes_training:
            kwargs["training"] = training
        if takes_mask and mask is not None:
            kwargs["mask"] = mask
        out = self.call(inputs, *args, **kwargs)
        if isinstance(out, Tensor) and (self.supports_masking or mask is not None):
            out._keras_mask = self.compute_mask(inputs, mask)
        return out

    # ---- functional API: grebe.graph records each symbolic call as a node -------------------
    @property
    def input(self):
        """The symbolic input of this layer's first symbolic call (as in Keras)."""
        return _first_node(self, "input").call_inputs

    @property
    def output(self):
        """The symbolic output of this layer's first symbolic call (as in Keras)."""
        node = _first_node(self, "output")
        return node.outputs[0] if node.output_structure is None else list(node.outputs)

    # ---- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


add_layer_class(Layer)
