"""Separable convolution layers (Keras 3): SeparableConv1D and SeparableConv2D, a depthwise
convolution (native depthwise kernels) followed by a pointwise 1x1 convolution (one GEMM).

>>> import grebe, numpy as np
>>> layer = grebe.layers.SeparableConv2D(16, 3, padding="same", depth_multiplier=2)
>>> layer(np.zeros((2, 8, 8, 4), np.float32)).shape
(2, 8, 8, 16)
>>> [w.shape for w in layer.get_weights()]
[(3, 3, 4, 2), (1, 1, 8, 16), (16,)]
"""
from __future__ import annotations

from grebe import initializers, ops, regularizers
from grebe.layers.depthwise_conv import _DepthwiseBase
from grebe.layers.layer import serialize_arg as _serialize

import numpy as np


class BaseSeparableConv(_DepthwiseBase):
    """y = activation(pointwise(depthwise(x)) + bias): x (batch, *spatial, C) ->
    (batch, *out_spatial, filters); depthwise_kernel (*k, C, M), pointwise_kernel
    (1[, 1], C*M, filters)."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or \
                filters <= 0:
            raise ValueError(f"{who}: invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters!r}.")
        self.filters = int(filters)
        self._init_common(rank, kernel_size, strides, padding, depth_multiplier, data_format,
                          dilation_rate, activation, use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = depthwise_regularizer
        self.pointwise_regularizer = pointwise_regularizer
        self.bias_regularizer = bias_regularizer
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.depthwise_constraint = depthwise_constraint
        self.pointwise_constraint = pointwise_constraint
        self.bias_constraint = bias_constraint
        self.depthwise_kernel = self.pointwise_kernel = self.bias = None

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape)[0],) + self._spatial_out(input_shape) + (self.filters,)

    def build(self, input_shape) -> None:
        self._spatial_out(input_shape)
        c = self._in_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (c, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel",
            shape=(1,) * self.rank + (c * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        y = self._depthwise(inputs, self.depthwise_kernel, None)
        conv = ops.conv2d if self.rank == 2 else ops.conv1d
        y = self._activate(conv(y, self.pointwise_kernel, self.bias))
        if self.activity_regularizer is not None:  # Keras 3: the penalty of each call's output
            self.add_loss(self.activity_regularizer(y))
        return y

    def get_config(self) -> dict:
        config = super().get_config()
        config["filters"] = self.filters
        config.update(self._common_config())
        config.update({
            "depthwise_initializer": _serialize(self.depthwise_initializer),
            "pointwise_initializer": _serialize(self.pointwise_initializer),
            "bias_initializer": _serialize(self.bias_initializer),
            "depthwise_regularizer": _serialize(self.depthwise_regularizer),
            "pointwise_regularizer": _serialize(self.pointwise_regularizer),
            "bias_regularizer": _serialize(self.bias_regularizer),
            "activity_regularizer": _serialize(self.activity_regularizer),
            "depthwise_constraint": _serialize(self.depthwise_constraint),
            "pointwise_constraint": _serialize(self.pointwise_constraint),
            "bias_constraint": _serialize(self.bias_constraint),
        })
        return config


class SeparableConv1D(BaseSeparableConv):
    """Separable 1-D convolution: x (batch, steps, C) -> (batch, new_steps, filters)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         depth_multiplier, activation, use_bias, depthwise_initializer,
                         pointwise_initializer, bias_initializer, depthwise_regularizer,
                         pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


class SeparableConv2D(BaseSeparableConv):
    """Separable 2-D convolution: x (batch, h, w, C) -> (batch, new_h, new_w, filters)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         depth_multiplier, activation, use_bias, depthwise_initializer,
                         pointwise_initializer, bias_initializer, depthwise_regularizer,
                         pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
