"""Depthwise and separable convolution layers (Keras 3): DepthwiseConv1D/2D, SeparableConv1D/2D.

>>> import grebe, numpy as np
>>> layer = grebe.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
>>> layer(np.zeros((2, 8, 8, 4), np.float32)).shape
(2, 8, 8, 8)
>>> [w.shape for w in layer.get_weights()]
[(3, 3, 4, 2), (8,)]
>>> sep = grebe.layers.SeparableConv2D(16, 3)
>>> [w.shape for w in (sep.build((None, 8, 8, 4)) or sep.get_weights())]
[(3, 3, 4, 1), (1, 1, 4, 16), (16,)]

Weights are Keras's: DepthwiseConv kernel (*kernel_size, in_channels, depth_multiplier), bias
(in_channels * depth_multiplier); SeparableConv depthwise_kernel (same shape), pointwise_kernel
(1[, 1], in_channels * depth_multiplier, filters), bias (filters). The depthwise step runs the
native depthwise kernels (channels as the vector axis); the pointwise 1x1 step is one GEMM
(ops.conv2d with a 1x1 kernel).
"""
from __future__ import annotations

import numpy as np

from grebe import activations, initializers, ops, regularizers
from grebe.layers.conv import _activation_name
from grebe.ops._util import normalize_tuple
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize
from grebe.ops.conv import output_size


class _DepthwiseBase(Layer):
    """What the depthwise and separable layers share: config checks, output shape, weights of
    the depthwise step, and the activation."""

    def _init_common(self, rank, kernel_size, strides, padding, depth_multiplier, data_format,
                     dilation_rate, activation, use_bias):
        who = type(self).__name__
        self.rank = rank
        if isinstance(depth_multiplier, bool) or \
                not isinstance(depth_multiplier, (int, np.integer)) or depth_multiplier <= 0:
            raise ValueError(f"{who}: invalid value for argument `depth_multiplier`. Expected a "
                             f"strictly positive value. Received "
                             f"depth_multiplier={depth_multiplier!r}.")
        self.depth_multiplier = int(depth_multiplier)
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", who)
        self.strides = normalize_tuple(strides, rank, "strides", who)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", who)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{who}: `strides > 1` not supported in conjunction with "
                             f"`dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: the `padding` argument must be one of 'valid', 'same', "
                             f"received padding={padding!r}")
        self.padding = padding.lower()
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{who}: only data_format='channels_last' is supported (grebe "
                             f"keeps data channels-last), received data_format="
                             f"{data_format!r}")
        self.data_format = "channels_last"
        self.activation_id = "linear" if activation is None else activation
        fn = activations.get(activation)
        self._post_activation = None if fn is activations.linear else fn
        self.use_bias = bool(use_bias)

    def _spatial_out(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected ndim={self.rank + 2}, found ndim={len(input_shape)}. "
                             f"Full shape received: {input_shape}")
        out = tuple(output_size(d, k, s, r, self.padding) for d, k, s, r in
                    zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(f"{self.name}: kernel_size {self.kernel_size} with dilation_rate "
                             f"{self.dilation_rate} is larger than the input "
                             f"{input_shape[1:-1]} with padding='{self.padding}'. Received "
                             f"input shape {input_shape}")
        return out

    def _in_channels(self, input_shape) -> int:
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel dimension of the inputs should be "
                             f"defined, received input shape {tuple(input_shape)}")
        return int(input_shape[-1])

    def _depthwise(self, inputs, kernel, bias):
        if self.rank == 2:
            return ops.depthwise_conv2d(inputs, kernel, bias, self.strides, self.padding,
                                        self.dilation_rate)
        return ops.depthwise_conv1d(inputs, kernel, bias, self.strides[0], self.padding,
                                    self.dilation_rate[0])

    def _activate(self, y):
        return y if self._post_activation is None else self._post_activation(y)

    def _common_config(self) -> dict:
        return {"kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "depth_multiplier": self.depth_multiplier,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": _activation_name(self.activation_id), "use_bias": self.use_bias}


class BaseDepthwiseConv(_DepthwiseBase):
    """Depthwise convolution: x (batch, *spatial, C) -> (batch, *out_spatial, C * multiplier)."""

    def __init__(self, rank, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_common(rank, kernel_size, strides, padding, depth_multiplier, data_format,
                          dilation_rate, activation, use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer, self.bias_regularizer = depthwise_regularizer, \
            bias_regularizer
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.depthwise_constraint, self.bias_constraint = depthwise_constraint, bias_constraint
        self.kernel = self.bias = None

    def compute_output_shape(self, input_shape):
        out = self._spatial_out(input_shape)
        c = input_shape[-1]
        return (tuple(input_shape)[0],) + out + (None if c is None else
                                                 c * self.depth_multiplier,)

    def build(self, input_shape) -> None:
        self._spatial_out(input_shape)
        c = self._in_channels(input_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (c, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(c * self.depth_multiplier,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        y = self._activate(self._depthwise(inputs, self.kernel, self.bias))
        if self.activity_regularizer is not None:  # Keras 3: the penalty of each call's output
            self.add_loss(self.activity_regularizer(y))
        return y

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self._common_config())
        config.update({
            "depthwise_initializer": _serialize(self.depthwise_initializer),
            "bias_initializer": _serialize(self.bias_initializer),
            "depthwise_regularizer": _serialize(self.depthwise_regularizer),
            "bias_regularizer": _serialize(self.bias_regularizer),
            "activity_regularizer": _serialize(self.activity_regularizer),
            "depthwise_constraint": _serialize(self.depthwise_constraint),
            "bias_constraint": _serialize(self.bias_constraint),
        })
        return config


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution: x (batch, steps, C) -> (batch, new_steps, C * multiplier)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution: x (batch, h, w, C) -> (batch, new_h, new_w, C * multiplier)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
