"""Transposed convolution layers (Keras 3): Conv1DTranspose and Conv2DTranspose.

>>> import grebe, numpy as np
>>> layer = grebe.layers.Conv2DTranspose(8, 3, strides=2, padding="same")
>>> layer(np.zeros((2, 7, 7, 16), np.float32)).shape
(2, 14, 14, 8)
>>> [w.shape for w in layer.get_weights()]
[(3, 3, 8, 16), (8,)]

Weights are Keras's: kernel (*kernel_size, filters, in_channels), bias (filters,). Output sizes
and padding follow Keras 3 (ops/conv_transpose.py). The three passes run on the native conv
kernels: the forward is the conv's input gradient (conv2d_backward_data), the input gradient a
conv forward, the kernel gradient conv2d_backward_weights.
"""
from __future__ import annotations

import numpy as np

from grebe import activations, initializers, ops, regularizers
from grebe.layers.conv import _activation_name
from grebe.ops._util import normalize_tuple
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize
from grebe.ops.conv_transpose import conv_transpose_padding


class BaseConvTranspose(Layer):
    """Rank-generic transposed convolution over channels-last data (rank 1 or 2)."""

    def __init__(self, rank: int, filters: int, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.rank = rank
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or \
                filters <= 0:
            raise ValueError(f"{who}: invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters!r}.")
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", who)
        self.strides = normalize_tuple(strides, rank, "strides", who)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", who)
        if output_padding is None:
            self.output_padding = None
        else:
            if isinstance(output_padding, (int, np.integer)):
                output_padding = (int(output_padding),) * rank
            self.output_padding = tuple(int(v) for v in output_padding)
            if len(self.output_padding) != rank or min(self.output_padding) < 0:
                raise ValueError(f"{who}: `output_padding` must be None or {rank} non-negative "
                                 f"integers, received output_padding={output_padding!r}")
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(f"{who}: `output_padding` must be strictly less than "
                                     f"`strides` for all dimensions. At dimension {i}, "
                                     f"`output_padding` is {op} but `strides` is {s}. "
                                     f"Received: output_padding={self.output_padding}, "
                                     f"strides={self.strides}")
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
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.kernel = None
        self.bias = None

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected ndim={self.rank + 2}, found ndim={len(input_shape)}. "
                             f"Full shape received: {input_shape}")
        pads = self.output_padding or (None,) * self.rank
        out = tuple(None if d is None else
                    conv_transpose_padding(d, k, s, r, self.padding, p)[0]
                    for d, k, s, r, p in zip(input_shape[1:-1], self.kernel_size, self.strides,
                                             self.dilation_rate, pads))
        return (input_shape[0],) + out + (self.filters,)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel dimension of the inputs should be "
                             f"defined, received input shape {tuple(input_shape)}")
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (self.filters, int(input_shape[-1])),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        op = ops.conv2d_transpose if self.rank == 2 else ops.conv1d_transpose
        pad = self.output_padding
        if pad is not None and self.rank == 1:
            pad = pad[0]
        y = op(inputs, self.kernel, self.bias, self.strides if self.rank == 2 else
               self.strides[0], self.padding, pad,
               self.dilation_rate if self.rank == 2 else self.dilation_rate[0])
        y = y if self._post_activation is None else self._post_activation(y)
        if self.activity_regularizer is not None:  # Keras 3: the penalty of each call's output
            self.add_loss(self.activity_regularizer(y))
        return y

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": _activation_name(self.activation_id),
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


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1-D convolution: x (batch, steps, channels) -> (batch, new_steps, filters).

    >>> import grebe, numpy as np
    >>> grebe.layers.Conv1DTranspose(4, 3, strides=2)(np.zeros((2, 10, 3), np.float32)).shape
    (2, 21, 4)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv2DTranspose(BaseConvTranspose):
    """Transposed 2-D convolution: x (batch, h, w, channels) -> (batch, new_h, new_w, filters).

    >>> import grebe, numpy as np
    >>> grebe.layers.Conv2DTranspose(4, 3, strides=2)(np.zeros((1, 5, 5, 3))).shape
    (1, 11, 11, 4)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
