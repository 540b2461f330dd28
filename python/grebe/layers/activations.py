"""Activation layers (Keras 3): ReLU, LeakyReLU, PReLU, ELU, Softmax.

>>> import grebe, numpy as np
>>> x = np.array([[-2.0, -0.5, 0.5, 3.0]], np.float32)
>>> grebe.layers.ReLU(max_value=1.0, negative_slope=0.1)(x).numpy().round(2).tolist()
[[-0.2, -0.05, 0.5, 1.0]]
>>> grebe.layers.LeakyReLU()(x).numpy().round(2).tolist()
[[-0.6, -0.15, 0.5, 3.0]]
>>> grebe.layers.Softmax()(x, mask=np.array([[1, 1, 0, 0]])).numpy().round(3).tolist()
[[0.182, 0.818, 0.0, 0.0]]

Each layer is a few ops: the ReLU family and ELU run grebe's native elementwise kernels (through
grebe.activations), PReLU is relu(x) - alpha * relu(-x) with a learned alpha (shape
input_shape[1:], 1 along `shared_axes`), Softmax takes an optional mask (positions where the
mask is False / <= 0.5 get -1e9 before the softmax and 0 after, as Keras does).
"""
from __future__ import annotations

import warnings

import numpy as np

from grebe import activations, initializers, ops
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize
from grebe.tensor import Tensor


def _nonnegative(value, arg: str, message: str):
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float,
                                                                          np.floating)) \
            or value < 0:
        raise ValueError(f"{message}. Received: {arg}={value!r}")
    return float(value)


class _Elementwise(Layer):
    """Shape-preserving, mask-preserving layers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class ReLU(_Elementwise):
    """max(x, 0) with Keras's options: f(x) = max_value for x >= max_value, x for
    threshold <= x < max_value, negative_slope * (x - threshold) otherwise."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            max_value = _nonnegative(max_value, "max_value", "max_value of a ReLU layer cannot "
                                                             "be a negative value")
        self.max_value = max_value
        self.negative_slope = _nonnegative(negative_slope, "negative_slope",
                                           "negative_slope of a ReLU layer cannot be None or "
                                           "a negative value")
        self.threshold = _nonnegative(threshold, "threshold", "threshold of a ReLU layer "
                                                              "cannot be None or a negative "
                                                              "value")

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    @property
    def _plain_relu(self) -> bool:  # grebe.layers.fusion: max(x, 0), fusable into a conv
        return self.max_value is None and self.negative_slope == 0 and self.threshold == 0

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """x for x >= 0, negative_slope * x otherwise (Keras's default slope is 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.",
                          stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _nonnegative(
            negative_slope, "negative_slope", "The negative_slope value of a Leaky ReLU layer "
                                              "cannot be None or negative value. Expected a "
                                              "float")

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(_Elementwise):
    """x for x >= 0, alpha * x otherwise, alpha learned: shape input_shape[1:] with 1 on each
    (1-based) axis of `shared_axes`."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer, self.alpha_constraint = alpha_regularizer, alpha_constraint
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else shared_axes
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or ():
            if not 1 <= a < len(input_shape):
                raise ValueError(f"{self.name}: shared_axes must be axes of the input (1 to "
                                 f"{len(input_shape) - 1}), received shared_axes="
                                 f"{self.shared_axes} for input shape {tuple(input_shape)}")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: every non-shared axis must be known to build "
                             f"alpha, received input shape {tuple(input_shape)}")
        self.alpha = self.add_weight(name="alpha", shape=tuple(shape),
                                     initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs):
        # relu(x) - alpha * relu(-x): alpha scales only the negative part.
        return ops.subtract(ops.relu(inputs), ops.multiply(self.alpha, ops.relu(-inputs)))

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": _serialize(self.alpha_initializer),
                "alpha_regularizer": _serialize(self.alpha_regularizer),
                "alpha_constraint": _serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """softmax over `axis` (an int or a tuple of ints); with a mask (broadcastable to the
    input), masked positions take no probability."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = np.asarray(mask.numpy() if isinstance(mask, Tensor) else mask)
            if keep.ndim > inputs.ndim or any(
                    m != 1 and m != i for m, i in zip(keep.shape[::-1], inputs.shape[::-1])):
                raise ValueError(f"The `mask` must be broadcastable to `inputs`. Received: "
                                 f"inputs.shape={tuple(inputs.shape)}, mask.shape={keep.shape}")
            keep = keep if keep.dtype == bool else keep > 0.5
            keep = np.broadcast_to(keep, inputs.shape)
            inputs = ops.where(keep, inputs, np.float32(-1e9))
        if isinstance(self.axis, list) and len(self.axis) > 1:
            axes = tuple(self.axis)
            shifted = ops.subtract(inputs, ops.max(inputs, axis=axes, keepdims=True).data)
            e = ops.exp(shifted)
            out = ops.divide(e, ops.sum(e, axis=axes, keepdims=True))
        else:
            axis = self.axis[0] if isinstance(self.axis, list) else self.axis
            out = ops.softmax(inputs, axis=axis)
        if mask is not None:
            out = ops.where(keep, out, np.float32(0.0))
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
