"""Core layers: Dense, Activation, Identity (Keras 3 names, arguments and weight shapes).

>>> import grebe, numpy as np
>>> layer = grebe.layers.Dense(4, activation="relu")
>>> layer(np.ones((2, 3), np.float32)).shape
(2, 4)
>>> [w.shape for w in layer.get_weights()]
[(3, 4), (4,)]
"""
from __future__ import annotations

import numpy as np

from grebe import activations, initializers, ops, regularizers
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize


def _serialize_activation(fn):
    try:
        return activations.serialize(fn)
    except ValueError:
        return getattr(fn, "__name__", repr(fn))


class Dense(Layer):
    """A densely connected layer: `activation(inputs @ kernel + bias)` over the last axis.

    kernel (input_dim, units), bias (units,). Inputs of rank > 2 keep their leading axes:
    (batch, steps, d) -> (batch, steps, units). The matrix product, bias and activation run as
    one fused op (`grebe.ops.dense`) forward and backward when the activation is a built-in.

    >>> import grebe, numpy as np
    >>> grebe.layers.Dense(8)(np.zeros((2, 5, 3), np.float32)).shape
    (2, 5, 8)
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: expected a positive integer for units. "
                             f"Received: units={units!r}")
        if lora_rank is not None:
            raise ValueError("Dense: lora_rank is not supported by grebe; received "
                             f"lora_rank={lora_rank!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self._fused = activations.fused_spec(self.activation)  # (name, alpha) or None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.kernel = None
        self.bias = None
        self.supports_masking = True  # Keras 3: a time mask passes through a Dense

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: "
                             f"expected min_ndim=2, found ndim={len(input_shape)}. Full shape "
                             f"received: {input_shape}")
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense {self.name!r}: the last dimension of the inputs should be "
                             f"defined. Found None. Full input shape received: {input_shape}")
        self.kernel = self.add_weight("kernel", (int(in_dim), self.units),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        in_dim = self.kernel.shape[0]
        if inputs.ndim < 2 or inputs.shape[-1] != in_dim:
            raise ValueError(f"Dense {self.name!r}: expected inputs of shape (..., {in_dim}), "
                             f"received {tuple(inputs.shape)}")
        cd = self.compute_dtype
        if self._fused is not None:
            y = ops.dense(inputs, self.kernel, self.bias, self._fused[0], self._fused[1],
                          compute_dtype=cd)
        else:
            y = self.activation(ops.dense(inputs, self.kernel, self.bias, compute_dtype=cd))
        if self.activity_regularizer is not None:
            # Keras 3 adds the penalty of each call's output (no division by the batch size).
            self.add_loss(self.activity_regularizer(y))
        return y

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"Dense {self.name!r}: expected an input shape of rank >= 2, "
                             f"received {input_shape}")
        return input_shape[:-1] + (self.units,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": _serialize_activation(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _serialize(self.kernel_initializer),
            "bias_initializer": _serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(self.kernel_regularizer),
            "bias_regularizer": _serialize(self.bias_regularizer),
            "activity_regularizer": _serialize(self.activity_regularizer),
            "kernel_constraint": _serialize(self.kernel_constraint),
            "bias_constraint": _serialize(self.bias_constraint),
        })
        return config


class Activation(Layer):
    """Applies an activation function: `Activation('relu')`, `Activation(grebe.ops.tanh)`.

    >>> import grebe
    >>> grebe.layers.Activation("relu")(grebe.tensor([[-1.0, 2.0]]))
    tensor([[0., 2.]])
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    @property
    def _plain_relu(self) -> bool:  # grebe.layers.fusion: a relu it may fuse into a conv
        return self.activation is activations.relu

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = _serialize_activation(self.activation)
        return config


class Identity(Layer):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


__all__ = ["Dense", "Activation", "Identity"]
