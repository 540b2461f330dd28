"""What LSTM, GRU and SimpleRNN share: argument checks, weights, masks, dropout and the
native forward/backward call per direction (the _RNN base class)."""
from __future__ import annotations

import numpy as np

from grebe import activations
from grebe.layers.layer import Layer
from grebe.ops import rnn as rnn_ops
from grebe.tensor import Tensor


def _rate(value, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{who}: {name} must be a float in [0, 1]. Received: {name}={value!r}")
    return float(value)


def _keep_mask(shape, rate: float, seed) -> np.ndarray:
    from grebe import random as _random

    rng = _random.make_generator(seed)
    keep = rng.random(shape, dtype=np.float32) >= np.float32(rate)
    return keep.astype(np.float32) / np.float32(1.0 - rate)


def _act_name(fn):
    try:
        return activations.serialize(fn)
    except ValueError:
        return getattr(fn, "__name__", repr(fn))


class _RNN(Layer):
    """Shared by LSTM, GRU and SimpleRNN: config checks, weights, the call."""

    _cell = "lstm"
    _gates = 4
    _n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        kwargs.pop("implementation", None)  # Keras's kernel choice: one fused kernel here
        kwargs.pop("use_cudnn", None)
        super().__init__(**kwargs)
        who = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{who}: received an invalid value for argument `units`, expected "
                             f"a positive integer. Received: units={units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        # The kernels take activations by name (ops sit below grebe.activations).
        self._act = rnn_ops.activation_code(_act_name(self.activation), who)
        self._ract = rnn_ops.activation_code(_act_name(self.recurrent_activation), who)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        if activity_regularizer is not None:
            raise NotImplementedError(f"{who}: activity_regularizer is not supported yet")
        self.activity_regularizer = None
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = _rate(dropout, "dropout", who)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", who)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted; the fused kernel never unrolls
        self.states = None
        self.supports_masking = True

    # ---- weights -------------------------------------------------------------------------------
    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape) -> None:
        who = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{who}: expected input of rank 3 (batch, timesteps, features), "
                             f"received shape {input_shape}")
        if input_shape[-1] is None:
            raise ValueError(f"{who}: the last axis (features) of the input must be known, "
                             f"received shape {input_shape}")
        F, GU = int(input_shape[-1]), self._gates * self.units
        self.kernel = self.add_weight("kernel", (F, GU), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, GU),
                                                self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    # ---- call ----------------------------------------------------------------------------------
    def _check_input(self, x) -> None:
        who = type(self).__name__
        if x.ndim != 3:
            raise ValueError(f"{who}: expected input of rank 3 (batch, timesteps, features), "
                             f"received shape {tuple(x.shape)}")
        F = self.kernel.shape[0]
        if x.shape[-1] != F:
            raise ValueError(f"{who}: expected input with {F} features (last axis), received "
                             f"shape {tuple(x.shape)}")
        if x.dtype != np.float32:
            raise TypeError(f"{who}: expected a float input, received dtype {x.dtype}")

    def _initial_state(self, initial_state, batch):
        who = type(self).__name__
        if initial_state is None:
            return self.states if self.stateful and self.states is not None else None
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else \
            [initial_state]
        if len(states) != self._n_states:
            raise ValueError(f"{who}: expected {self._n_states} initial state tensor(s) of "
                             f"shape {(batch, self.units)}, received {len(states)}")
        out = []
        for s in states:
            s = s if isinstance(s, Tensor) else Tensor(s)
            if tuple(s.shape) != (batch, self.units):
                raise ValueError(f"{who}: initial state must have shape (batch, units) = "
                                 f"{(batch, self.units)}, received {tuple(s.shape)}")
            out.append(s)
        return out

    def _run(self, x, states, mask, rdrop):
        raise NotImplementedError

    def call(self, inputs, initial_state=None, mask=None, training=None):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        self._check_input(x)
        B = x.shape[0]
        states = self._initial_state(initial_state, B)
        if self.stateful and states is not None and tuple(states[0].shape) != (B, self.units):
            raise ValueError(f"{type(self).__name__}: a stateful layer keeps batch size "
                             f"{states[0].shape[0]}, received input of shape {tuple(x.shape)}; "
                             f"call reset_states() to change it")
        if mask is not None and isinstance(mask, (list, tuple)):
            mask = mask[0]
        rdrop = None
        if training:
            if self.dropout > 0:
                x = x * Tensor(_keep_mask((B, 1, x.shape[2]), self.dropout, self.seed))
            if self.recurrent_dropout > 0:
                rdrop = _keep_mask((self._gates, B, self.units), self.recurrent_dropout,
                                   self.seed)
        out = self._run(x, states, mask, rdrop)
        output, final = out[0], list(out[1:])
        if self.stateful:
            self.states = [Tensor(s.data.copy()) for s in final]
        if self.return_state:
            return [output] + final
        return output

    def reset_states(self, states=None) -> None:
        """Stateful layers: forget the carried states (or set them to `states`)."""
        self.states = None if states is None else [Tensor(np.asarray(s, np.float32))
                                                   for s in states]

    reset_state = reset_states

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._n_states
        return out

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        out = (B, T, self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return [out] + [(B, self.units)] * self._n_states
        return out

    def get_config(self) -> dict:
        from grebe import activations, initializers

        def ser(v):
            if v is None or isinstance(v, (str, int, float, dict)):
                return v
            try:
                return initializers.serialize(v)
            except Exception:  # a regularizer/constraint object: keep its class name
                return type(v).__name__

        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": ser(self.kernel_initializer),
            "recurrent_initializer": ser(self.recurrent_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
        })
        return config
