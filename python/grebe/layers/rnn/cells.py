"""Recurrent cells with Keras 3's names, arguments, defaults and weights: LSTMCell, GRUCell,
SimpleRNNCell; each owns kernel (F, G*U), recurrent_kernel (U, G*U) and bias, the fused layers'
layouts. A cell computes one time step:
``output, new_states = cell(x_t, states, training=...)``; the RNN layer runs it over a sequence.

>>> import numpy as np, grebe
>>> cell = grebe.layers.LSTMCell(4)
>>> h, (h2, c) = cell(np.ones((2, 3), np.float32), [np.zeros((2, 4), np.float32)] * 2)
>>> h.shape, c.shape, [w.shape for w in cell.get_weights()]
((2, 4), (2, 4), [(3, 16), (4, 16), (16,)])
"""
from __future__ import annotations

import numpy as np

from grebe import activations, initializers, ops
from grebe.ops.matmul import matmul  # the native one: it takes compute_dtype
from grebe.layers.layer import Layer
from grebe.tensor import Tensor

__all__ = ["LSTMCell", "GRUCell", "SimpleRNNCell", "DropoutRNNCell"]


def _units(units, who):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(f"{who}: Received an invalid value for argument `units`, expected a "
                         f"positive integer, got {units!r}.")
    return int(units)


def _rate(value, name, who) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{who}: {name} must be a float in [0, 1]. Received: {name}={value!r}")
    return float(value)


def _keep(shape, rate, seed) -> np.ndarray:
    from grebe import random as _random

    keep = _random.make_generator(seed).random(shape, dtype=np.float32) >= np.float32(rate)
    return keep.astype(np.float32) / np.float32(1.0 - rate)


class DropoutRNNCell:
    """Keras's mixin: one dropout mask per sequence (drawn at the first step, reused after),
    for the inputs (`dropout`) and the carried state (`recurrent_dropout`)."""

    def get_dropout_mask(self, step_input):
        if getattr(self, "_dropout_mask", None) is None and self.dropout > 0:
            self._dropout_mask = Tensor(_keep(tuple(step_input.shape), self.dropout, self.seed))
        return getattr(self, "_dropout_mask", None)

    def get_recurrent_dropout_mask(self, step_state):
        if getattr(self, "_recurrent_dropout_mask", None) is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = Tensor(_keep(tuple(step_state.shape),
                                                        self.recurrent_dropout, self.seed))
        return getattr(self, "_recurrent_dropout_mask", None)

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None


class _GatedCell(DropoutRNNCell, Layer):
    """What the three built-in cells share: config, weights, dropout, get_config."""

    _gates = 1
    _keras_name = "cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(**kwargs)
        who = type(self).__name__
        self.units = _units(units, who)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.recurrent_regularizer = kernel_regularizer, \
            recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint, self.recurrent_constraint = kernel_constraint, \
            recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = _rate(dropout, "dropout", who)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", who)
        self.seed = seed
        self.kernel = self.recurrent_kernel = self.bias = None

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__}: the last axis (features) of the input "
                             f"must be known, received shape {input_shape}")
        F, GU = int(input_shape[-1]), self._gates * self.units
        self.kernel = self.add_weight("kernel", (F, GU), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, GU),
                                                self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def _matmul(self, a, b):
        """a @ b as the cell's policy computes it (bfloat16 operands under mixed_bfloat16)."""
        return matmul(a, b, compute_dtype=self.compute_dtype)

    def _inputs(self, inputs, h_tm1, training):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        h = h_tm1 if isinstance(h_tm1, Tensor) else Tensor(h_tm1)
        if x.ndim != 2 or x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{type(self).__name__}: expected a step input of shape (batch, "
                             f"{self.kernel.shape[0]}), received {tuple(x.shape)}")
        if training and self.dropout > 0:
            x = x * self.get_dropout_mask(x)
        if training and self.recurrent_dropout > 0:
            h = h * self.get_recurrent_dropout_mask(h)
        return x, h

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else \
            [self.state_size]
        return [Tensor(np.zeros((batch_size, s), np.float32)) for s in sizes]

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed}


class LSTMCell(_GatedCell):
    """One LSTM step (gates i, f, c, o): c' = f*c + i*act(z_c), h' = o*act(c').
    ``cell(x_t, [h, c]) -> (h', [h', c'])``."""

    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, U = self.bias_initializer, self.units

        def forget_ones(shape, dtype=None):  # Keras: ones for the forget gate's slice
            return np.concatenate([np.asarray(init((U,)), np.float32), np.ones(U, np.float32),
                                   np.asarray(init((2 * U,)), np.float32)])
        return forget_ones

    def call(self, inputs, states, training=None):
        h_tm1, c_tm1 = states[0], states[1]
        x, h = self._inputs(inputs, h_tm1, training)
        z = self._matmul(x, self.kernel) + self._matmul(h, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        i, f = self.recurrent_activation(zi), self.recurrent_activation(zf)
        c = f * c_tm1 + i * self.activation(zc)
        h_new = self.recurrent_activation(zo) * self.activation(c)
        return h_new, [h_new, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_GatedCell):
    """One GRU step (gates z, r, h), reset_after=True by default (bias (2, 3U)):
    h' = z*h + (1-z)*act(x W_h + b_h + r*(h R_h + b'_h)). ``cell(x_t, [h]) -> (h', [h'])``."""

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        x, h = self._inputs(inputs, h_tm1, training)
        U = self.units
        bx = bh = None
        if self.use_bias:
            bx, bh = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        mx = self._matmul(x, self.kernel)
        if bx is not None:
            mx = mx + bx
        x_z, x_r, x_h = ops.split(mx, 3, axis=-1)
        if self.reset_after:
            mh = self._matmul(h, self.recurrent_kernel)
            if bh is not None:
                mh = mh + bh
            h_z, h_r, h_h = ops.split(mh, 3, axis=-1)
            z, r = self.recurrent_activation(x_z + h_z), self.recurrent_activation(x_r + h_r)
            hh = self.activation(x_h + r * h_h)
        else:
            mh = self._matmul(h, self.recurrent_kernel[:, :2 * U])
            h_z, h_r = ops.split(mh, 2, axis=-1)
            z, r = self.recurrent_activation(x_z + h_z), self.recurrent_activation(x_r + h_r)
            hh = self.activation(x_h + self._matmul(r * h, self.recurrent_kernel[:, 2 * U:]))
        h_new = z * h_tm1 + (1.0 - z) * hh
        return h_new, ([h_new] if nested else h_new)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


class SimpleRNNCell(_GatedCell):
    """One fully connected step: h' = act(x W + b + h R). ``cell(x_t, [h]) -> (h', [h'])``."""

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", **kwargs):
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)

    def call(self, inputs, states, training=None):
        nested = isinstance(states, (list, tuple))
        x, h = self._inputs(inputs, states[0] if nested else states, training)
        z = self._matmul(x, self.kernel) + self._matmul(h, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        h_new = self.activation(z)
        return h_new, ([h_new] if nested else h_new)

    def get_config(self):
        config = super().get_config()
        config.pop("recurrent_activation")
        return config
