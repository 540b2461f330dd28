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

import contextlib
import inspect
import math
import re
import threading

import numpy as np

from grebe import autograd
from grebe.dtype_policies import HasDTypePolicy, policy_of
from grebe.backend import reset_names, unique_name  # noqa: F401 (the name counters live there)
from grebe.graph import symbolic_call
from grebe.serialization import add_layer_class
from grebe.tensor import Tensor
from grebe.variables import Variable

def to_float32_weight(value, who: str) -> np.ndarray:
    """A weight value as float32, or a ValueError naming `who` when a finite value does not
    fit float32 (a float64 1e300 would become inf without a word)."""
    a = np.asarray(value)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(a, dtype=np.float32)
    if a.dtype.kind == "f" and a.dtype.itemsize > 4:
        lost = np.isfinite(a) & ~np.isfinite(out)
        if lost.any():
            i = tuple(int(j) for j in np.argwhere(lost)[0])
            raise ValueError(f"{who}: value {float(a[i])!r} at index {i} overflows float32 (largest "
                             f"{np.finfo(np.float32).max:.4g}); grebe keeps weights in float32")
    return out


class _WeightBudget(threading.local):
    left = None  # weight values the layers built now may still create (None: no limit)
    source = ""


_budget = _WeightBudget()


@contextlib.contextmanager
def weight_budget(values: int, source: str):
    """Within this block (in this thread) the layers built may create at most `values` weight
    values in all; one more raises ValueError naming `source` and the layer. load_model builds
    a model from a file's config within what the file's tensors hold, so a 3 KB config cannot
    ask for gigabytes before its shapes are checked against the stored tensors."""
    prev = _budget.left, _budget.source
    _budget.left, _budget.source = int(values), source
    try:
        yield
    finally:
        _budget.left, _budget.source = prev


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


class CallContext:
    """Marks a layer call; the outermost one clears the add_loss values of the last call (Keras:
    `layer.losses` holds the losses of the latest forward pass)."""

    depth = 0
    losses_added = False  # set by the first add_loss in the process

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        if CallContext.depth == 0:
            self.layer._clear_losses()
        CallContext.depth += 1

    def __exit__(self, *exc):
        CallContext.depth -= 1
        return False


_NATIVE = (Tensor, np.ndarray, np.generic, int, float, bool, type(None))


def _check_native(layer, value, what: str) -> None:
    """A value grebe cannot differentiate (a torch/TensorFlow/JAX tensor, ...) would silently
    cut the gradient if it were converted: refuse it, naming the layer and the type."""
    if isinstance(value, _NATIVE) or is_symbolic(value):
        return
    t = type(value)
    raise TypeError(
        f"Layer '{layer.name}' ({type(layer).__name__}): {what} gave a {t.__module__}."
        f"{t.__qualname__}, which grebe cannot differentiate (converting it would cut the "
        f"gradient to the weights before it). Write call() with grebe.ops (the keras.ops "
        f"functions) and grebe Tensors instead of another framework's ops.")


def check_outputs(layer, out) -> None:
    """Raises when call() returned a foreign tensor, or a numpy array computed from inputs or
    weights that need a gradient (numpy functions applied to Tensors drop the graph)."""
    if isinstance(out, Tensor):
        return
    if isinstance(out, (list, tuple)):
        for o in out:
            check_outputs(layer, o)
        return
    if isinstance(out, dict):
        for o in out.values():
            check_outputs(layer, o)
        return
    _check_native(layer, out, "call()")
    if isinstance(out, np.ndarray) and out.dtype.kind == "f" and autograd.is_grad_enabled() \
            and any(w.requires_grad for w in layer.weights):
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): call() returned a numpy array, "
            f"so no gradient reaches its weights (a numpy function applied to a grebe Tensor "
            f"returns a plain array). Use grebe.ops (the keras.ops functions) in call().")


def set_output_masks(out, masks) -> None:
    """Attaches compute_mask's result to the outputs: one mask, or one per output when
    compute_mask returns a list (Keras)."""
    if masks is None:
        return
    if isinstance(out, (list, tuple)):
        if isinstance(masks, (list, tuple)):
            for o, m in zip(out, masks):
                if isinstance(o, Tensor) and m is not None:
                    o._keras_mask = m
        return
    if isinstance(out, Tensor):
        if isinstance(masks, (list, tuple)):
            masks = masks[0] if len(masks) == 1 else None
        out._keras_mask = masks


class Layer(HasDTypePolicy):
    """Base class of every layer. Subclasses override build/call/compute_output_shape/get_config.
    dtype_policy, compute_dtype, variable_dtype and dtype come from HasDTypePolicy."""

    _call_flags_cache: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        add_layer_class(cls)  # so that deserialize finds it by name

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None,
                 input_shape=None, batch_size=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unrecognized keyword arguments: "
                            f"{sorted(kwargs)}")
        self._dtype_policy = policy_of(type(self).__name__, dtype)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, received {name!r}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._own_weights: list = []
        self._regularized: list = []  # (weight, regularizer)
        self._losses: list = []  # add_loss values (activity penalties too) of the last call
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
    _KERAS_ORDER = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer",
                    "constraint", "aggregation", "overwrite_with_gradient", "name")
    _NAME_FIRST_ORDER = ("name", "shape", "initializer", "dtype", "trainable", "regularizer",
                         "constraint")

    def add_weight(self, *args, **kwargs) -> Variable:
        """add_weight(shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
        regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient=False,
        name=None): Keras 3's signature. A first positional string is read as the name, in the
        older order add_weight(name, shape, initializer, ...) that grebe's layers and Keras 2
        code use."""
        order = self._NAME_FIRST_ORDER if args and isinstance(args[0], str) else \
            self._KERAS_ORDER
        if len(args) > len(order):
            raise TypeError(f"{self.name}: add_weight takes at most {len(order)} positional "
                            f"arguments, received {len(args)}")
        clash = [k for k in order[:len(args)] if k in kwargs]
        if clash:
            raise TypeError(f"{self.name}: add_weight got multiple values for {clash}")
        kwargs.update(zip(order, args))
        return self._make_weight(**kwargs)

    def _make_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True,
                     autocast: bool = True, regularizer=None, constraint=None,
                     aggregation="none", overwrite_with_gradient: bool = False,
                     name: str | None = None) -> Variable:
        """Creates, tracks and returns a weight Variable (requires_grad when trainable).
        Keras's defaults: glorot_uniform for float weights, zeros for integer ones."""
        shape = () if shape is None else tuple(int(s) for s in shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"{self.name}: weight {name!r} cannot have a negative dimension, "
                             f"received shape {shape}")
        if _budget.left is not None:
            n = math.prod(shape)
            if n > _budget.left:
                raise ValueError(f"{_budget.source}: layer {self.name!r} asks for weight "
                                 f"{name!r} of shape {shape} ({n} values), more than the "
                                 f"{_budget.left} left of what the file's tensors allow: the "
                                 f"config does not match the stored tensors")
            _budget.left -= n
        if initializer is None:
            kind = np.dtype(dtype).kind if dtype is not None else "f"
            initializer = "zeros" if kind in "iub" else "glorot_uniform"
        name = name or "weight_" + str(len(self._own_weights))
        w = Variable(initializer, shape=shape, dtype=dtype, trainable=trainable, name=name,
                     path=f"{self.name}/{name}")
        if w.shape != shape:
            raise ValueError(f"{self.name}: initializer {initializer!r} returned shape "
                             f"{w.shape}, expected {shape}")
        w.requires_grad = bool(w.trainable and self._trainable)
        self._own_weights.append(w)
        if regularizer is not None:
            from grebe import regularizers

            self._regularized.append((w, regularizers.get(regularizer)))
        if constraint is not None:  # projected after each optimizer step
            from grebe import constraints

            constraints.attach(w, constraint)
        return w

    add_variable = add_weight

    def add_loss(self, loss) -> None:
        """Adds a scalar loss (a Tensor: its gradient flows) computed in call(); it is counted
        in `layer.losses` / `model.losses` until the next top-level call, and added to the
        training loss by fit()."""
        if not isinstance(loss, Tensor):
            _check_native(self, loss, "add_loss")
            loss = Tensor(np.asarray(loss, np.float32))
        CallContext.losses_added = True
        self._losses.append(loss)

    def zero_grad(self) -> None:
        """Clears the gradients of every weight (torch's Module.zero_grad, set to None)."""
        for w in self.weights:
            w.grad = None

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
        """The add_loss values of the last call and the weight-regularization penalties, of this
        layer and its sublayers, as scalar Tensors."""
        layers = [self] + self._flat_layers()
        # Keras's order: every add_loss value (activity penalties included), then the
        # weight-regularization penalties.
        out = [loss for layer in layers for loss in layer._losses]
        return out + [reg(w) for layer in layers for w, reg in layer._regularized]

    def _clear_losses(self) -> None:
        if not CallContext.losses_added:  # nothing was ever added: skip the walk per step
            return
        self._losses = []
        for layer in self._flat_layers():
            layer._losses = []

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
            v = to_float32_weight(v, f"Layer {self.name!r} weight {w.name!r}")
            if v.shape != w.shape:
                raise ValueError(f"Layer {self.name!r} weight {w.name!r}: expected shape "
                                 f"{w.shape}, received {v.shape}")
            arrays.append(v)
        def write():
            for w, v in zip(own, arrays):
                w.data[...] = v
        autograd.write_arrays([w.data for w in own],
                              [f"Layer {self.name!r} weight {w.name!r} (set_weights)" for w in own],
                              write)

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

    compute_mask.passes_mask_through = True  # grebe.graph: no need to run it symbolically

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
        try:
            if isinstance(inputs, (list, tuple)):
                inputs = type(inputs)(x if isinstance(x, Tensor) or x is None else Tensor(x)
                                      for x in inputs)
                shape = [tuple(x.shape) if x is not None else None for x in inputs]
            else:
                if not isinstance(inputs, Tensor):
                    inputs = Tensor(inputs)
                shape = tuple(inputs.shape)
        except TypeError as e:  # None/objects, strings, complex: name the layer
            raise TypeError(f"{type(self).__name__} {self.name!r}: "
                            f"{str(e).removeprefix('grebe.tensor: ')}") from None
        if not self.built:
            self._build_once(shape)
        if mask is None and isinstance(inputs, Tensor):
            mask = inputs._keras_mask
        takes_training, takes_mask = self._call_flags()
        if takes_training:
            kwargs["training"] = training
        if takes_mask and mask is not None:
            kwargs["mask"] = mask
        with CallContext(self):
            out = self.call(inputs, *args, **kwargs)
        check_outputs(self, out)
        if self.supports_masking or mask is not None or \
                type(self).compute_mask is not Layer.compute_mask:
            set_output_masks(out, self.compute_mask(inputs, mask))
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
        config = {"name": self.name, "trainable": self.trainable, "dtype": self._dtype_config()}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


add_layer_class(Layer)
