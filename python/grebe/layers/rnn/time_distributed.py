"""TimeDistributed: applies a layer to every time step."""
from __future__ import annotations

from grebe import ops
from grebe.layers.layer import Layer
from grebe.tensor import Tensor


class TimeDistributed(Layer):
    """Applies `layer` to every timestep: (B, T, ...) -> layer on (B*T, ...) -> (B, T, ...).

    >>> import numpy as np, grebe
    >>> td = grebe.layers.TimeDistributed(grebe.layers.Dense(3))
    >>> td(np.ones((2, 4, 5), np.float32)).shape
    (2, 4, 3)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: expected a Layer, received {layer!r}")
        self.layer = layer
        self.supports_masking = True

    def build(self, input_shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed: expected input of rank >= 3 (batch, timesteps, "
                             f"...), received shape {tuple(input_shape)}")
        self.layer._build_once((None,) + tuple(input_shape[2:]))
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        if x.ndim < 3:
            raise ValueError(f"TimeDistributed: expected input of rank >= 3 (batch, timesteps, "
                             f"...), received shape {tuple(x.shape)}")
        B, T = x.shape[:2]
        kwargs = {"training": training} if self.layer._call_flags()[0] else {}
        y = self.layer(ops.reshape(x, (B * T,) + tuple(x.shape[2:])), **kwargs)
        return ops.reshape(y, (B, T) + tuple(y.shape[1:]))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def get_config(self) -> dict:
        from grebe.serialization import serialize

        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        from grebe.serialization import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
