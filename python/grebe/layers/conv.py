"""Convolution layers (Keras 3): Conv1D and Conv2D, thin subclasses of a rank-generic BaseConv.

>>> import grebe, numpy as np
>>> layer = grebe.layers.Conv2D(8, 3, activation="relu", padding="same")
>>> layer(np.zeros((2, 16, 16, 3), np.float32)).shape
(2, 16, 16, 8)
>>> [w.shape for w in layer.get_weights()]
[(3, 3, 3, 8), (8,)]

Weights are Keras's: kernel (*kernel_size, in_channels // groups, filters), bias (filters,), so
get_weights()/set_weights() exchange them with Keras unchanged. Data is channels-last only.
activation='relu' is fused into the convolution kernel (and its gradient into the backward
kernels); other activations run after it. Models may run a relu Conv2D and the MaxPooling2D
after it as one kernel: grebe/layers/fusion.py holds that rule.
"""
from __future__ import annotations

import numpy as np

from grebe import activations, initializers, ops, regularizers
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize
from grebe.ops._util import normalize_tuple
from grebe.ops.conv import check_span, output_size


def _activation_name(identifier):
    """What a config stores for an activation: its name (Keras stores 'linear' for None)."""
    if isinstance(identifier, (str, dict)):
        return identifier
    return activations.serialize(identifier)


class BaseConv(Layer):
    """N-D convolution over channels-last data: y = activation(conv(x, kernel) + bias).

    x (batch, *spatial, channels) -> (batch, *out_spatial, filters); rank is 1 or 2.
    A relu Conv2D may run fused with a following MaxPooling2D: grebe.layers.fusion decides.
    """

    _fuses_into_pool = True  # a candidate first layer for grebe.layers.fusion.can_fuse

    def __init__(self, rank: int, filters: int, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, groups=1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.rank = rank
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or \
                filters <= 0:
            raise ValueError(f"{who}: invalid value for argument `filters`: expected a "
                             f"strictly positive integer, received filters={filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"{who}: `groups` must be a positive integer, received "
                             f"groups={groups!r}")
        if filters % groups:
            raise ValueError(f"{who}: the number of filters must be evenly divisible by the "
                             f"number of groups, received groups={groups}, filters={filters}")
        self.filters, self.groups = int(filters), int(groups)
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", who)
        self.strides = normalize_tuple(strides, rank, "strides", who)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", who)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{who}: `strides > 1` is not supported in conjunction with "
                             f"`dilation_rate > 1` (as in Keras), received "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        if not isinstance(padding, str) or padding.lower() not in allowed:
            raise ValueError(f"{who}: the `padding` argument must be one of "
                             f"{', '.join(repr(p) for p in allowed)}, received "
                             f"padding={padding!r}")
        self.padding = padding.lower()
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{who}: the `data_format` argument must be one of "
                             f"'channels_last', 'channels_first', received "
                             f"data_format={data_format!r}")
        if data_format == "channels_first":
            raise ValueError(f"{who}: only data_format='channels_last' is supported (grebe "
                             f"keeps data channels-last), received data_format="
                             f"'channels_first'; transpose the input to channels-last")
        self.data_format = "channels_last"
        self.activation_id = "linear" if activation is None else activation
        # Kept as given (like Dense); relu runs fused in the conv kernel, linear is no op, any
        # other activation runs after the convolution.
        self.activation = activations.get(activation)
        self._fused_relu = self.activation is activations.relu
        self._post_activation = None if self._fused_relu or \
            self.activation is activations.linear else self.activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.kernel = None
        self.bias = None

    # ---- shapes ------------------------------------------------------------------------------
    def _check_input_shape(self, input_shape) -> tuple:
        who, n = self.name, self.rank + 2
        input_shape = tuple(input_shape)
        if len(input_shape) != n:
            raise ValueError(f'Input 0 of layer "{who}" is incompatible with the layer: '
                             f"expected ndim={n}, found ndim={len(input_shape)}. Full shape "
                             f"received: {input_shape}")
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{who}: the channel dimension of the inputs should be defined, "
                             f"received input shape {input_shape}")
        if channels % self.groups:
            raise ValueError(f"{who}: the number of input channels must be evenly divisible "
                             f"by the number of groups, received groups={self.groups}, but "
                             f"the input has {channels} channels (full input shape is "
                             f"{input_shape})")
        spatial = input_shape[1:-1]
        check_span(f"{type(self).__name__} '{who}'", self.padding, spatial, self.kernel_size,
                   self.dilation_rate)
        out = tuple(output_size(d, k, s, r, self.padding) for d, k, s, r in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(f"{who}: kernel_size {self.kernel_size} with dilation_rate "
                             f"{self.dilation_rate} is larger than the input {spatial} with "
                             f"padding='{self.padding}' (computed output size would be "
                             f"{out}). Received input shape {input_shape}")
        return out

    def compute_output_shape(self, input_shape):
        out = self._check_input_shape(input_shape)
        return (tuple(input_shape)[0],) + out + (self.filters,)

    # ---- lifecycle ---------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self._check_input_shape(input_shape)
        in_channels = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (in_channels // self.groups, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    @property
    def op_compute_dtype(self) -> str:
        """What the conv op computes in: the policy's compute dtype, except that grouped convs
        (no bfloat16 kernel) compute in float32 under mixed_bfloat16."""
        return self.compute_dtype if self.groups == 1 else "float32"

    def call(self, inputs):
        conv = ops.conv2d if self.rank == 2 else ops.conv1d
        y = conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                 "relu" if self._fused_relu else None, self.groups,
                 compute_dtype=self.op_compute_dtype)
        if self._post_activation is not None:
            y = self._post_activation(y)
        if self.activity_regularizer is not None:
            # As Dense: Keras 3 adds the penalty of each call's output.
            self.add_loss(self.activity_regularizer(y))
        return y

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
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


class Conv1D(BaseConv):
    """1-D convolution (temporal): x (batch, steps, channels) -> (batch, new_steps, filters).

    padding 'valid', 'same' or 'causal' (output t sees inputs <= t).

    >>> import grebe, numpy as np
    >>> grebe.layers.Conv1D(4, 3, padding="causal")(np.zeros((2, 10, 3), np.float32)).shape
    (2, 10, 4)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)


class Conv2D(BaseConv):
    """2-D convolution: x (batch, height, width, channels) -> (batch, new_h, new_w, filters).

    >>> import grebe, numpy as np
    >>> grebe.layers.Conv2D(32, (3, 3), activation="relu")(np.zeros((1, 32, 32, 3))).shape
    (1, 30, 30, 32)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)


Convolution1D, Convolution2D = Conv1D, Conv2D
