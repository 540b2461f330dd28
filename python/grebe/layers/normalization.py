"""Normalization layers (Keras 3 names, arguments, defaults and weight order):
BatchNormalization and LayerNormalization.

>>> import grebe, numpy as np
>>> bn = grebe.layers.BatchNormalization()
>>> y = bn(np.random.rand(8, 4).astype(np.float32), training=True)
>>> [w.name.split("/")[-1] for w in bn.weights]
['gamma', 'beta', 'moving_mean', 'moving_variance']
>>> [w.name.split("/")[-1] for w in bn.trainable_weights]
['gamma', 'beta']
"""
from __future__ import annotations

import numpy as np

from grebe import initializers, ops
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize

__all__ = ["BatchNormalization", "LayerNormalization"]


def _float(value, arg: str, who: str, lo: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or (lo is not None and not value >= lo):
        bound = "" if lo is None else f" >= {lo}"
        raise ValueError(f"{who}: {arg} must be a number{bound}. Received: {arg}={value!r}")
    return float(value)


class BatchNormalization(Layer):
    """Normalizes each channel (axis) with batch statistics in training and moving statistics
    in inference: y = gamma * (x - mean) / sqrt(var + epsilon) + beta.

    training=True updates moving = moving * momentum + batch * (1 - momentum) (the batch
    variance is the biased one, as Keras). A layer with `trainable = False` always runs in
    inference mode and never updates its statistics (Keras 3).

    >>> import grebe, numpy as np
    >>> bn = grebe.layers.BatchNormalization(momentum=0.0)
    >>> _ = bn(np.array([[0.0], [2.0]], np.float32), training=True)
    >>> bn.moving_mean.numpy(), bn.moving_variance.numpy()
    (array([1.], dtype=float32), array([1.], dtype=float32))
    """

    _folds_into_conv = True  # grebe.layers.fusion.can_fold: a conv before it folds it in

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        who = "BatchNormalization"
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{who}: axis must be an integer. Received: axis={axis!r}")
        if synchronized:
            raise ValueError(f"{who}: synchronized=True is only supported with the TensorFlow "
                             f"backend of Keras")
        self.axis = int(axis)
        self.momentum = _float(momentum, "momentum", who)
        self.epsilon = _float(epsilon, "epsilon", who, lo=0.0)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.synchronized = False
        self.supports_masking = True
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _axis(self, rank: int, input_shape) -> int:
        if not -rank <= self.axis < rank:
            raise ValueError(f"BatchNormalization: axis {self.axis} is out of range for an "
                             f"input of rank {rank} (input_shape={tuple(input_shape)})")
        return self.axis % rank

    def build(self, input_shape):
        shape = tuple(input_shape)
        axis = self._axis(len(shape), shape)
        c = shape[axis]
        if c is None:
            raise ValueError(f"BatchNormalization: axis {self.axis} of the input must have a "
                             f"known size, received input_shape={shape}")
        if self.scale:
            self.gamma = self.add_weight("gamma", (c,), self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", (c,), self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", (c,), self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (c,),
                                               self.moving_variance_initializer,
                                               trainable=False)
        self._channels = c
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=None):
        axis = self._axis(inputs.ndim, inputs.shape)
        if inputs.shape[axis] != self._channels:
            raise ValueError(f"BatchNormalization: expected axis {self.axis} of size "
                             f"{self._channels}, received an input of shape {inputs.shape}")
        if training and self.trainable:  # batch statistics; the moving ones move in place
            return ops.batch_norm(inputs, self.gamma, self.beta, self.epsilon, axis,
                                  moving_mean=self.moving_mean,
                                  moving_variance=self.moving_variance, momentum=self.momentum)
        return ops.batch_normalization(inputs, self.moving_mean.data, self.moving_variance.data,
                                       axis, self.beta, self.gamma, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": _serialize(self.beta_initializer),
                "gamma_initializer": _serialize(self.gamma_initializer),
                "moving_mean_initializer": _serialize(self.moving_mean_initializer),
                "moving_variance_initializer": _serialize(self.moving_variance_initializer),
                "beta_regularizer": _serialize(self.beta_regularizer),
                "gamma_regularizer": _serialize(self.gamma_regularizer),
                "beta_constraint": _serialize(self.beta_constraint),
                "gamma_constraint": _serialize(self.gamma_constraint),
                "synchronized": self.synchronized}


class LayerNormalization(Layer):
    """Normalizes each sample over `axis` (the last by default; an int or a list of trailing
    axes): y = gamma * (x - mean) / sqrt(var + epsilon) + beta, gamma/beta of those axes'
    shape. Behaves the same in training and inference.

    >>> import grebe, numpy as np
    >>> ln = grebe.layers.LayerNormalization(epsilon=0.0)
    >>> ln(np.array([[1.0, 3.0]], np.float32)).numpy()
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        who = "LayerNormalization"
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                               for a in axes):
            raise ValueError(f"{who}: axis must be an int or a list of ints. Received: "
                             f"axis={axis!r}")
        if rms_scaling:
            raise ValueError(f"{who}: rms_scaling=True is not supported")
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else [int(a) for a in axes]
        self.epsilon = _float(epsilon, "epsilon", who, lo=0.0)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.supports_masking = True
        self.gamma = self.beta = None

    def _axes(self, rank: int, input_shape) -> list:
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        if not all(-rank <= a < rank for a in axes):
            raise ValueError(f"LayerNormalization: axis {self.axis} is out of range for an "
                             f"input of rank {rank} (input_shape={tuple(input_shape)})")
        axes = sorted(a % rank for a in axes)
        if axes != list(range(rank - len(axes), rank)):
            raise ValueError(f"LayerNormalization: only the trailing axes can be normalized, "
                             f"received axis={self.axis} for input_shape="
                             f"{tuple(input_shape)}")
        return axes

    def build(self, input_shape):
        shape = tuple(input_shape)
        axes = self._axes(len(shape), shape)
        param = tuple(shape[a] for a in axes)
        if any(d is None for d in param):
            raise ValueError(f"LayerNormalization: the normalized axes must have known sizes, "
                             f"received input_shape={shape}")
        if self.scale:
            self.gamma = self.add_weight("gamma", param, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", param, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        axes = self._axes(inputs.ndim, inputs.shape)
        return ops.layer_norm(inputs, self.gamma, self.beta, self.epsilon, tuple(axes))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": _serialize(self.beta_initializer),
                "gamma_initializer": _serialize(self.gamma_initializer),
                "beta_regularizer": _serialize(self.beta_regularizer),
                "gamma_regularizer": _serialize(self.gamma_regularizer),
                "beta_constraint": _serialize(self.beta_constraint),
                "gamma_constraint": _serialize(self.gamma_constraint)}
