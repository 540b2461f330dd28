"""Recurrent layers with Keras 3's names, arguments, defaults and weight layouts: LSTM, GRU,
SimpleRNN, and the wrappers Bidirectional and TimeDistributed.

Each direction of a sequence is one native call forward and one backward (grebe.ops.rnn), so
`get_weights()` / `set_weights()` exchange Keras's arrays unchanged: kernel (F, G*U),
recurrent_kernel (U, G*U), bias (LSTM (4U,), GRU (2, 3U) with reset_after, SimpleRNN (U,)).

>>> import numpy as np, grebe
>>> layer = grebe.layers.LSTM(8, return_sequences=True)
>>> layer(np.zeros((2, 5, 3), np.float32)).shape
(2, 5, 8)
>>> [w.shape for w in layer.get_weights()]
[(3, 32), (8, 32), (32,)]

Differences from Keras: recurrent_dropout runs a slower (portable, per-step GEMM) path; masked
steps output the carried state (Keras's JAX/NumPy behaviour; TensorFlow outputs zeros at
masked steps before the first unmasked one).
"""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.layers.layer import Layer
from grebe.ops import rnn as rnn_ops
from grebe.tensor import Tensor

__all__ = ["LSTM", "GRU", "SimpleRNN", "Bidirectional", "TimeDistributed"]


def _rate(value, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{who}: {name} must be a float in [0, 1]. Received: {name}={value!r}")
    return float(value)


def _keep_mask(shape, rate: float, seed) -> np.ndarray:
    from grebe import random as _random

    rng = _random.make_generator(seed)
    keep = rng.random(shape, dtype=np.float32) >= np.float32(rate)
    return keep.astype(np.float32) / np.float32(1.0 - rate)


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
        from grebe import activations

        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self._act = rnn_ops.activation_code(activation, who)
        self._ract = rnn_ops.activation_code(recurrent_activation, who)
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


class LSTM(_RNN):
    """Long Short-Term Memory (Hochreiter 1997), Keras 3's LSTM: gates i, f, c, o.

    >>> import numpy as np, grebe
    >>> out, h, c = grebe.layers.LSTM(4, return_state=True)(np.ones((2, 3, 5), np.float32))
    >>> out.shape, h.shape, c.shape
    ((2, 4), (2, 4), (2, 4))
    """

    _cell, _gates, _n_states = "lstm", 4, 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        from grebe import initializers

        init, U = initializers.get(self.bias_initializer), self.units

        def forget_ones(shape, dtype=None):  # Keras: ones for the forget gate's slice
            return np.concatenate([np.asarray(init((U,)), np.float32), np.ones(U, np.float32),
                                   np.asarray(init((2 * U,)), np.float32)])
        return forget_ones

    def _run(self, x, states, mask, rdrop):
        out = rnn_ops.lstm(x, self.kernel, self.recurrent_kernel, self.bias, states, mask=mask,
                           go_backwards=self.go_backwards, return_sequences=self.return_sequences,
                           activation=self._act, recurrent_activation=self._ract,
                           recurrent_dropout_mask=rdrop)
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRU(_RNN):
    """Gated Recurrent Unit (Cho 2014), Keras 3's GRU: gates z, r, h; reset_after=True (the
    default) keeps a (2, 3U) bias, input and recurrent rows.

    >>> import numpy as np, grebe
    >>> grebe.layers.GRU(4)(np.ones((2, 3, 5), np.float32)).shape
    (2, 4)
    """

    _cell, _gates, _n_states = "gru", 3, 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, x, states, mask, rdrop):
        return rnn_ops.gru(x, self.kernel, self.recurrent_kernel, self.bias, states, mask=mask,
                           go_backwards=self.go_backwards, return_sequences=self.return_sequences,
                           activation=self._act, recurrent_activation=self._ract,
                           reset_after=self.reset_after, recurrent_dropout_mask=rdrop)

    def get_config(self) -> dict:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


class SimpleRNN(_RNN):
    """Fully connected RNN: h_t = activation(x_t W + b + h_{t-1} R).

    >>> import numpy as np, grebe
    >>> grebe.layers.SimpleRNN(4, return_sequences=True)(np.ones((2, 3, 5), np.float32)).shape
    (2, 3, 4)
    """

    _cell, _gates, _n_states = "simple_rnn", 1, 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", **kwargs):
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)

    def _run(self, x, states, mask, rdrop):
        return rnn_ops.simple_rnn(x, self.kernel, self.recurrent_kernel, self.bias, states,
                                  mask=mask, go_backwards=self.go_backwards,
                                  return_sequences=self.return_sequences, activation=self._act,
                                  recurrent_dropout_mask=rdrop)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("recurrent_activation")
        return config


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and merges
    the two outputs ('concat', 'sum', 'mul', 'ave', or None for a list), as Keras 3.

    >>> import numpy as np, grebe
    >>> bi = grebe.layers.Bidirectional(grebe.layers.GRU(4, return_sequences=True))
    >>> bi(np.ones((2, 3, 5), np.float32)).shape
    (2, 3, 8)
    """

    _MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional: expected a recurrent layer (LSTM, GRU, SimpleRNN), "
                             f"received {layer!r}")
        if merge_mode not in self._MODES:
            raise ValueError(f"Bidirectional: invalid merge_mode {merge_mode!r}; expected one of "
                             f"{list(self._MODES)}")
        config = layer.get_config()
        config["name"] = "forward_" + layer.name
        self.forward_layer = type(layer).from_config(config)
        if backward_layer is None:
            config = layer.get_config()
            config["name"] = "backward_" + layer.name
            config["go_backwards"] = not layer.go_backwards
            backward_layer = type(layer).from_config(config)
        elif not isinstance(backward_layer, _RNN):
            raise ValueError(f"Bidirectional: backward_layer must be a recurrent layer, received "
                             f"{backward_layer!r}")
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError("Bidirectional: backward_layer.go_backwards must be the opposite of "
                             "layer.go_backwards")
        self.backward_layer = backward_layer
        for attr in ("return_sequences", "return_state"):
            if getattr(backward_layer, attr) != getattr(layer, attr):
                raise ValueError(f"Bidirectional: layer and backward_layer must agree on {attr}")
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self._initial_weights = weights

    def build(self, input_shape) -> None:
        self.forward_layer._build_once(input_shape)
        self.backward_layer._build_once(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) * 0.5
        return [y, y_rev]

    def call(self, inputs, initial_state=None, mask=None, training=None):
        fwd_state = bwd_state = None
        if initial_state is not None:
            states = list(initial_state)
            if len(states) % 2:
                raise ValueError(f"Bidirectional: initial_state must hold the forward layer's "
                                 f"states then the backward layer's, an even number; received "
                                 f"{len(states)}")
            half = len(states) // 2
            fwd_state, bwd_state = states[:half], states[half:]
        f = self.forward_layer.call(inputs, initial_state=fwd_state, mask=mask, training=training)
        b = self.backward_layer.call(inputs, initial_state=bwd_state, mask=mask,
                                     training=training)
        f_states, b_states = [], []
        if self.return_state:
            f, f_states = f[0], f[1:]
            b, b_states = b[0], b[1:]
        if self.return_sequences:
            b = ops.getitem(b, (slice(None), slice(None, None, -1)))  # back to time order
        out = self._merge(f, b)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + list(f_states) + list(b_states)
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.merge_mode is None:
            out = [out, out]
        if self.return_state:
            n = self.forward_layer._n_states * 2
            return (out if isinstance(out, list) else [out]) + [None] * n
        return out

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        out, states = (f[0], f[1:]) if self.return_state else (f, [])
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (out[-1] * 2,)
        elif self.merge_mode is None:
            out = [out, out]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + list(states) * 2
        return out

    def get_config(self) -> dict:
        from grebe.layers.serialization import serialize

        config = super().get_config()
        config["layer"] = serialize(self.forward_layer)
        config["layer"]["config"]["name"] = self.forward_layer.name[len("forward_"):]
        config["merge_mode"] = self.merge_mode
        config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        from grebe.layers.serialization import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)


class TimeDistributed(Layer):
    """Applies `layer` to every timestep: (B, T, ...) -> layer on (B*T, ...) -> (B, T, ...).

    >>> import numpy as np, grebe
    >>> td = grebe.layers.TimeDistributed(grebe.layers.Dense(3))
    >>> td(np.ones((2, 4, 5), np.float32)).shape
    (2, 4, 3)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: expected a Layer, received {layer!r}")
        self.layer = layer
        self.supports_masking = True

    def build(self, input_shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed: expected input of rank >= 3 (batch, timesteps, "
                             f"...), received shape {tuple(input_shape)}")
        self.layer._build_once((None,) + tuple(input_shape[2:]))
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        if x.ndim < 3:
            raise ValueError(f"TimeDistributed: expected input of rank >= 3 (batch, timesteps, "
                             f"...), received shape {tuple(x.shape)}")
        B, T = x.shape[:2]
        kwargs = {"training": training} if self.layer._call_flags()[0] else {}
        y = self.layer(ops.reshape(x, (B * T,) + tuple(x.shape[2:])), **kwargs)
        return ops.reshape(y, (B, T) + tuple(y.shape[1:]))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def get_config(self) -> dict:
        from grebe.layers.serialization import serialize

        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        from grebe.layers.serialization import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
