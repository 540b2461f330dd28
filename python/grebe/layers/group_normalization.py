"""GroupNormalization and UnitNormalization (Keras 3 names, arguments and defaults).

>>> import grebe, numpy as np
>>> gn = grebe.layers.GroupNormalization(groups=2)
>>> gn(np.random.rand(4, 5, 6).astype(np.float32)).shape
(4, 5, 6)
>>> [w.name.split("/")[-1] for w in gn.weights]
['gamma', 'beta']
>>> y = grebe.layers.UnitNormalization()(np.array([[3.0, 4.0]], np.float32))
>>> y.numpy().tolist()
[[0.6000000238418579, 0.800000011920929]]

GroupNormalization (Wu & He 2018): the channels (last axis) split into `groups` groups; each
sample's group is normalized over its channels and all non-batch axes, then scaled by gamma and
shifted by beta (per channel). UnitNormalization: x / ||x||_2 over `axis`, the norm floored at
1e-12 (Keras's ops.normalize). Both are compositions of differentiable ops.
"""
from __future__ import annotations

import numpy as np

from grebe import initializers, ops
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize


class GroupNormalization(Layer):
    """x (batch, ..., C) -> same shape; groups must divide C. groups=-1 means one group per
    channel (instance normalization), groups=1 one group (layer normalization over all
    non-batch axes)."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or \
                (groups < 1 and groups != -1):
            raise ValueError(f"GroupNormalization: groups must be a positive integer or -1, "
                             f"received groups={groups!r}")
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.gamma = self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        if self.axis not in (-1, rank - 1):
            raise ValueError(f"GroupNormalization: grebe normalizes groups of the last "
                             f"(channels) axis only; received axis={self.axis} for an input "
                             f"of rank {rank}")
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension "
                             f"but the layer received an input with shape {tuple(input_shape)}.")
        if self.groups == -1:
            self.groups = int(dim)
        if dim < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number "
                             f"of channels ({dim}).")
        if dim % self.groups:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the "
                             f"number of channels ({dim}).")
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=(dim,),
                                         initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=(dim,),
                                        initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.built = True

    def call(self, inputs):
        shape = tuple(inputs.shape)
        c = shape[-1]
        grouped = ops.reshape(inputs, shape[:-1] + (self.groups, c // self.groups))
        axes = tuple(range(1, len(shape) - 1)) + (len(shape),)  # all but batch and group
        mean = ops.mean(grouped, axis=axes, keepdims=True)
        centered = ops.subtract(grouped, mean)
        var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
        y = ops.reshape(ops.divide(centered, ops.sqrt(ops.add(var, self.epsilon))), shape)
        if self.gamma is not None:
            y = ops.multiply(y, self.gamma)
        if self.beta is not None:
            y = ops.add(y, self.beta)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": _serialize(self.beta_initializer),
                "gamma_initializer": _serialize(self.gamma_initializer),
                "beta_regularizer": _serialize(self.beta_regularizer),
                "gamma_regularizer": _serialize(self.gamma_regularizer),
                "beta_constraint": _serialize(self.beta_constraint),
                "gamma_constraint": _serialize(self.gamma_constraint)}


class UnitNormalization(Layer):
    """x / max(||x||_2, 1e-12) over `axis` (an int or a list of ints)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise TypeError(f"Invalid value for `axis` argument: expected an int or a "
                            f"list/tuple of ints. Received: axis={axis}")
        self.supports_masking = True

    def call(self, inputs):
        axes = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        square_sum = ops.sum(ops.square(inputs), axis=axes, keepdims=True)
        # rsqrt(max(s, eps^2)) = min(rsqrt(s), 1/eps): the norm floored at eps = 1e-12.
        return ops.divide(inputs, ops.sqrt(ops.maximum(square_sum, np.float32(1e-24))))

    def compute_output_shape(self, input_shape):
        for a in self.axis if isinstance(self.axis, list) else [self.axis]:
            if a >= len(input_shape) or a < -len(input_shape):
                raise ValueError(f"Axis {self.axis} is out of bounds for input shape "
                                 f"{tuple(input_shape)}.")
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
