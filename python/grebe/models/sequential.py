"""Sequential: a plain stack of layers, each with one input and one output.

When the input shape is known (`input_shape=` on the first layer, a `grebe.Input` first, or
after the first call/fit/build) the model traces its layers symbolically, as Keras does: the
weights exist at once, summary() shows output shapes, and `model.input` / `layer.output` are
there to build functional models from it (`grebe.Model(base.input, base.layers[-2].output)`).

>>> import grebe
>>> from grebe import layers
>>> model = grebe.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
...                           layers.Dense(1)])
>>> model.output.shape, model.count_params()
((None, 1), 161)
"""
from __future__ import annotations

from grebe import serialization
from grebe.layers import fusion
from grebe.layers.layer import Layer
from grebe.models.functional import InputLayer, KerasTensor, check_input
from grebe.models.model import Model, _is_shape

_INT_CONSUMERS = ("Embedding", "CategoryEncoding", "IntegerLookup", "Hashing")


class Sequential(Model):
    """`grebe.Sequential(layers=None, name=None)`; add(layer), pop(), and the Model API."""

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._seq = []  # the layers, an InputLayer first when the input shape is known
        self._trace = []  # (layer, node) recorded by the last symbolic trace
        self._inputs = None
        self._outputs = None
        self._call_layers = []
        self._steps = []  # what call() runs: layers and fused pairs (grebe.layers.fusion)
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer, rebuild=False)
        self._rebuild()

    # ---- building the stack --------------------------------------------------------------------
    def add(self, layer, rebuild: bool = True) -> None:
        """Appends a layer (or a grebe.Input) on top of the stack."""
        if isinstance(layer, KerasTensor):
            if not layer._node.is_input:
                raise TypeError("Sequential.add: a symbolic tensor can only be added when it "
                                "comes from grebe.Input")
            layer = layer._node.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, received {layer!r} of type "
                            f"{type(layer).__name__}")
        if isinstance(layer, InputLayer) and self._seq:
            raise ValueError(f"Sequential '{self.name}': an Input/InputLayer can only be the "
                             f"first layer")
        if any(la.name == layer.name for la in self._seq):
            raise ValueError(f"Sequential '{self.name}': all layers need unique names; "
                             f"{layer.name!r} is already the name of a layer in this model")
        if not self._seq and not isinstance(layer, InputLayer):
            if getattr(layer, "_input_shape_arg", None) is not None:
                self._seq.append(self._make_input(layer._input_shape_arg, layer,
                                                  getattr(layer, "_batch_size_arg", None)))
            elif isinstance(layer, Model) and layer.built and \
                    getattr(layer, "_inputs", None) and len(layer._inputs) == 1:
                # A built model first (transfer learning): its input is ours.
                spec = layer._inputs[0]
                inp = InputLayer(batch_shape=(None,) + spec.shape[1:], dtype=spec.dtype)
                self._seq.append(inp)
        n = len(self._seq)
        self._seq.append(layer)
        if rebuild:
            try:
                self._rebuild()
            except Exception:
                del self._seq[n:]  # leave the model as it was before add()
                self._rebuild()
                raise

    def pop(self, rebuild: bool = True) -> Layer:
        """Removes and returns the top layer."""
        if not self.layers:
            raise TypeError(f"Sequential '{self.name}': there are no layers to pop")
        layer = self._seq.pop()
        if rebuild:
            self._rebuild()
        return layer

    def _make_input(self, shape, first_layer, batch_size=None) -> InputLayer:
        inp = InputLayer(shape=tuple(shape), batch_size=batch_size)
        inp._cast_ints = type(first_layer).__name__ not in _INT_CONSUMERS
        return inp

    def _rebuild(self) -> None:
        """Re-traces the stack on its input (if known); drops the nodes of the previous trace."""
        for layer, node in self._trace:
            nodes = getattr(layer, "_inbound_nodes", [])
            if node in nodes:
                nodes.remove(node)
        self._trace = []
        self._layers = list(self._seq)
        object.__setattr__(self, "_call_layers",
                           [la for la in self._seq if not isinstance(la, InputLayer)])
        object.__setattr__(self, "_steps", fusion.plan_chain(self._call_layers))
        self._inputs = self._outputs = None
        self.built = False
        if not self._seq or not isinstance(self._seq[0], InputLayer):
            return
        x = self._seq[0]._output_tensor
        if len(self._seq) == 1:
            return
        for layer in self._call_layers:
            y = layer(x)
            self._trace.append((layer, layer._inbound_nodes[-1]))
            if not isinstance(y, KerasTensor):
                raise ValueError(f"Sequential '{self.name}': every layer must have one output "
                                 f"tensor; layer '{layer.name}' ({type(layer).__name__}) "
                                 f"returns {type(y).__name__}. Use the functional API.")
            x = y
        self._inputs = [self._seq[0]._output_tensor]
        self._outputs = [x]
        self._build_input_shape = self._seq[0].batch_shape
        self.built = True

    def build(self, input_shape=None) -> None:
        if input_shape is None:
            if self.built:
                return
            raise ValueError(f"Sequential '{self.name}': build() needs an input_shape, e.g. "
                             f"build((None, 784)), or give the first layer input_shape=")
        if not _is_shape(input_shape):
            raise ValueError(f"Sequential '{self.name}' takes one input; build() received "
                             f"input_shape={input_shape}")
        if not self._call_layers:
            raise ValueError(f"Sequential '{self.name}' has no layers to build: add layers "
                             f"first")
        shape = (None,) + tuple(input_shape)[1:]
        if self._seq and isinstance(self._seq[0], InputLayer):
            have = self._seq[0].batch_shape
            if len(have) != len(shape) or any(a is not None and b is not None and a != b
                                               for a, b in zip(have[1:], shape[1:])):
                raise ValueError(f"Sequential '{self.name}': its input has shape {have}, "
                                 f"build() received input_shape={tuple(input_shape)}")
        else:
            self._seq.insert(0, self._make_input(shape[1:], self._call_layers[0]))
        self._rebuild()

    # ---- structure -------------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        return list(self._call_layers)

    def _require_built(self, what):
        if self._inputs is None:
            raise AttributeError(
                f"Sequential model '{self.name}' has no {what} yet: it is not built. Give the "
                f"first layer input_shape=..., start with grebe.Input(shape), call "
                f"build(input_shape), or call the model on data first.")

    @property
    def inputs(self) -> list:
        self._require_built("inputs")
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        self._require_built("outputs")
        return list(self._outputs)

    @property
    def input(self):
        self._require_built("input")
        return self._inputs[0]

    @property
    def output(self):
        self._require_built("output")
        return self._outputs[0]

    @property
    def input_shape(self):
        self._require_built("input shape")
        return self._inputs[0].shape

    @property
    def output_shape(self):
        self._require_built("output shape")
        return self._outputs[0].shape

    @property
    def output_names(self) -> list:
        return [self._call_layers[-1].name] if self._call_layers else ["output"]

    # ---- running ---------------------------------------------------------------------------------
    def call(self, inputs, training=None, mask=None):
        if self._inputs is not None:
            inp = self._seq[0]
            inputs = check_input("Sequential", self.name, self._inputs[0], inputs,
                                 inp._cast_ints)
        if mask is not None:
            inputs._keras_mask = mask
        x = inputs
        for step in self._steps:
            if len(step) == 1:
                x = step[0](x, training=training)
            else:  # a fused run (grebe.layers.fusion)
                x = fusion.run_fused(step, x, training)
        return x

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return (tuple(input_shape)[0],) + self._outputs[0].shape[1:]

    # ---- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable,
                  "layers": [serialization.serialize(la) for la in self._seq]}
        if self.built:
            config["build_input_shape"] = list(self._seq[0].batch_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        layers = [serialization.deserialize(c, custom_objects) for c in config["layers"]]
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer in layers:
            model.add(layer, rebuild=False)
        model._rebuild()
        shape = config.get("build_input_shape")
        if not model.built and shape is not None and model._call_layers:
            model.build(tuple(shape))
        return model
