"""ConvLSTM1D and ConvLSTM2D: Keras 3's convolutional LSTM layers (arguments, defaults, weights).

Weights (Keras's, so set_weights/get_weights exchange them unchanged): kernel
(*kernel_size, in_channels, 4*filters), recurrent_kernel (*kernel_size, filters, 4*filters), bias
(4*filters,), gates i, f, c, o; unit_forget_bias puts ones in the forget gate's bias. The input
conv uses the layer's strides/padding/dilation_rate, the recurrent conv stride 1 and 'same'
padding (as Keras). Runs on grebe.ops.conv_lstm: the input conv for all steps as one conv.

>>> import numpy as np, grebe
>>> layer = grebe.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)
>>> layer(np.zeros((2, 5, 8, 8, 3), np.float32)).shape
(2, 5, 8, 8, 4)
>>> [w.shape for w in layer.get_weights()]
[(3, 3, 3, 16), (3, 3, 4, 16), (16,)]

data_format='channels_first' ((batch, time, channels, *spatial)) is transposed to channels-last
on the way in and back on the way out. Not built: ConvLSTM3D (grebe has no 3-D convolution).
"""
from __future__ import annotations

import numpy as np

from grebe import activations, initializers, ops, regularizers
from grebe.layers.layer import Layer
from grebe.layers.layer import serialize_arg as _serialize
from grebe.layers.rnn.base import _act_name, _keep_mask, _rate
from grebe.ops.conv_lstm import conv_lstm as conv_lstm_op
from grebe.ops._util import normalize_tuple
from grebe.ops.conv import check_span, output_size
from grebe.tensor import Tensor

__all__ = ["ConvLSTM1D", "ConvLSTM2D"]


class ConvLSTM(Layer):
    """Shared by ConvLSTM1D and ConvLSTM2D (rank 1 or 2)."""

    rank = 2
    _n_states = 2  # h, c (Bidirectional counts them)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        kwargs.pop("unroll", None)  # Keras's RNN argument; the loop is never unrolled here
        # Keras's RNN argument: masked steps output zeros instead of the previous output
        # (Bidirectional sets it to return_sequences, as Keras's does).
        self.zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
        super().__init__(**kwargs)
        who, r = type(self).__name__, self.rank
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or \
                filters <= 0:
            raise ValueError(f"{who}: invalid value for argument `filters`: expected a "
                             f"strictly positive integer, received filters={filters!r}")
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, r, "kernel_size", who)
        self.strides = normalize_tuple(strides, r, "strides", who)
        self.dilation_rate = normalize_tuple(dilation_rate, r, "dilation_rate", who)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{who}: specifying `strides > 1` is not compatible with "
                             f"`dilation_rate > 1`, received strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: the `padding` argument must be one of 'valid', 'same', "
                             f"received padding={padding!r}")
        self.padding = padding.lower()
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{who}: the `data_format` argument must be one of "
                             f"'channels_last', 'channels_first', received "
                             f"data_format={data_format!r}")
        self.data_format = data_format or "channels_last"
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint, self.recurrent_constraint, self.bias_constraint = \
            kernel_constraint, recurrent_constraint, bias_constraint
        self.dropout = _rate(dropout, "dropout", who)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", who)
        self.seed = seed
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful = bool(go_backwards), bool(stateful)
        self.states = None
        self.supports_masking = True
        self.kernel = self.recurrent_kernel = self.bias = None

    # ---- shapes ------------------------------------------------------------------------------
    def _last(self, shape) -> tuple:
        """A (batch, time, ...) shape in channels-last order."""
        shape = tuple(shape)
        if self.data_format == "channels_first":
            return shape[:2] + shape[3:] + shape[2:3]
        return shape

    def _state_shape(self, input_shape) -> tuple:
        """(batch, *out_spatial, filters) (channels-last) after checking the input shape."""
        who, n = type(self).__name__, self.rank + 3
        shape = tuple(input_shape)
        if len(shape) != n:
            raise ValueError(f"{who} '{self.name}': expected input of rank {n} (batch, "
                             f"timesteps, {'*spatial' if self.rank > 1 else 'length'}, channels)"
                             f", received shape {shape}")
        shape = self._last(shape)
        spatial = shape[2:-1]
        if shape[-1] is None or None in spatial:
            raise ValueError(f"{who} '{self.name}': ConvLSTM layers need static spatial and "
                             f"channel sizes, received input shape {tuple(input_shape)}")
        check_span(who, self.padding, spatial, self.kernel_size, self.dilation_rate)
        out = tuple(output_size(d, k, s, r, self.padding) for d, k, s, r in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if any(o <= 0 for o in out):
            raise ValueError(f"{who} '{self.name}': kernel_size {self.kernel_size} is larger "
                             f"than the input {spatial} with padding='{self.padding}' (output "
                             f"size {out}); received input shape {tuple(input_shape)}")
        return (shape[0],) + out + (self.filters,)

    def _to_format(self, shape) -> tuple:
        """A channels-last (batch, [time,] *spatial, filters) shape in the layer's format."""
        if self.data_format == "channels_first":
            return shape[:-1 - self.rank] + shape[-1:] + shape[-1 - self.rank:-1]
        return shape

    def compute_output_shape(self, input_shape):
        state = self._state_shape(input_shape)
        out = self._to_format((state[0], tuple(input_shape)[1]) + state[1:]
                              if self.return_sequences else state)
        if self.return_state:
            return [out, self._to_format(state), self._to_format(state)]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out, None, None] if self.return_state else out

    # ---- weights -----------------------------------------------------------------------------
    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, F = self.bias_initializer, self.filters

        def forget_ones(shape, dtype=None):  # Keras: ones for the forget gate's slice
            return np.concatenate([np.asarray(init((F,)), np.float32), np.ones(F, np.float32),
                                   np.asarray(init((2 * F,)), np.float32)])
        return forget_ones

    def build(self, input_shape) -> None:
        self._state_shape(input_shape)
        C, F4 = int(self._last(input_shape)[-1]), 4 * self.filters
        self.kernel = self.add_weight("kernel", self.kernel_size + (C, F4),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel",
                                                self.kernel_size + (self.filters, F4),
                                                self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (F4,), self._bias_init(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    # ---- call --------------------------------------------------------------------------------
    def _channels_last(self, t):
        """(batch, [time,] C, *spatial) -> (batch, [time,] *spatial, C) for channels_first."""
        if self.data_format != "channels_first":
            return t
        lead = t.ndim - self.rank - 1
        axes = tuple(range(lead)) + tuple(range(lead + 1, t.ndim)) + (lead,)
        return ops.transpose(t, axes)

    def _channels_back(self, t):
        if self.data_format != "channels_first":
            return t
        lead = t.ndim - self.rank - 1
        axes = tuple(range(lead)) + (t.ndim - 1,) + tuple(range(lead, t.ndim - 1))
        return ops.transpose(t, axes)

    def _initial(self, initial_state, state_shape):
        who = f"{type(self).__name__} '{self.name}'"
        if initial_state is None:
            if self.stateful and self.states is not None:
                if tuple(self.states[0].shape) != state_shape:
                    raise ValueError(f"{who}: a stateful layer keeps states of shape "
                                     f"{tuple(self.states[0].shape)}, the input needs "
                                     f"{state_shape}; call reset_states() to change it")
                return self.states
            return None
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else \
            [initial_state]
        if len(states) != 2:
            raise ValueError(f"{who}: initial_state must be 2 tensors [h, c], received "
                             f"{len(states)}")
        states = [self._channels_last(s if isinstance(s, Tensor) else
                                      Tensor(np.asarray(s, np.float32))) for s in states]
        for s in states:
            if tuple(s.shape) != state_shape:
                raise ValueError(f"{who}: initial states must have shape "
                                 f"{self._to_format(state_shape)}, received "
                                 f"{tuple(self._channels_back(s).shape)}")
        return states

    def call(self, inputs, initial_state=None, mask=None, training=None):
        who = f"{type(self).__name__} '{self.name}'"
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs, np.float32))
        if x.dtype != np.float32:
            raise TypeError(f"{who}: expected a float32 input, received dtype {x.dtype}")
        state_shape = self._state_shape(x.shape)
        C = self.kernel.shape[-2]
        if self._last(x.shape)[-1] != C:
            raise ValueError(f"{who}: expected input with {C} channels, received shape "
                             f"{tuple(x.shape)}")
        x = self._channels_last(x)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        states = self._initial(initial_state, state_shape)
        drop = rdrop = None
        if training and self.dropout > 0:
            drop = list(_keep_mask((4, x.shape[0]) + tuple(x.shape[2:]), self.dropout,
                                   self.seed))  # one mask per gate, as Keras
        if training and self.recurrent_dropout > 0:
            rdrop = list(_keep_mask((4,) + state_shape, self.recurrent_dropout, self.seed))
        act, ract = _act_name(self.activation), _act_name(self.recurrent_activation)
        y, h, c = conv_lstm_op(
            x, self.kernel, self.recurrent_kernel, self.bias, states, rank=self.rank,
            strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
            activation="tanh" if act == "tanh" else self.activation,
            recurrent_activation="sigmoid" if ract == "sigmoid" else self.recurrent_activation,
            mask=mask, go_backwards=self.go_backwards, return_sequences=self.return_sequences,
            dropout_masks=drop, recurrent_dropout_masks=rdrop,
            zero_output_for_mask=self.zero_output_for_mask)
        if self.stateful:
            self.states = [Tensor(np.array(s.data)) for s in (h, c)]
        y = self._channels_back(y)
        if self.activity_regularizer is not None:
            self.add_loss(self.activity_regularizer(y))
        if self.return_state:
            return [y, self._channels_back(h), self._channels_back(c)]
        return y

    def reset_states(self, states=None) -> None:
        """Stateful layers: forget the carried states (or set them to `states`, [h, c])."""
        self.states = None if states is None else [
            self._channels_last(Tensor(np.asarray(s, np.float32))) for s in states]

    reset_state = reset_states

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": _serialize(self.kernel_regularizer),
                "recurrent_regularizer": _serialize(self.recurrent_regularizer),
                "bias_regularizer": _serialize(self.bias_regularizer),
                "activity_regularizer": _serialize(self.activity_regularizer),
                "kernel_constraint": _serialize(self.kernel_constraint),
                "recurrent_constraint": _serialize(self.recurrent_constraint),
                "bias_constraint": _serialize(self.bias_constraint),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed, "zero_output_for_mask": self.zero_output_for_mask,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful}


class ConvLSTM1D(ConvLSTM):
    """1-D convolutional LSTM: (batch, time, length, channels) -> (batch, [time,] length',
    filters)."""

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """2-D convolutional LSTM: (batch, time, rows, cols, channels) -> (batch, [time,] rows',
    cols', filters)."""

    rank = 2
