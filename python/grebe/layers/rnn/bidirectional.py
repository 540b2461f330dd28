"""Bidirectional: runs a recurrent layer forward and a copy backward and merges them."""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.layers.layer import Layer
from grebe.layers.rnn.base import _RNN
from grebe.layers.rnn.conv_lstm import ConvLSTM
from grebe.tensor import Tensor

_RECURRENT = (_RNN, ConvLSTM)  # layers with go_backwards, return_sequences/state, _n_states


def _zero_masked(y, mask):
    """y (B, T, ...) with the steps where mask (B, T) is False set to 0."""
    m = np.asarray(mask.data if hasattr(mask, "data") else mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    keep = (m != 0).reshape(m.shape + (1,) * (y.ndim - 2))
    return ops.where(Tensor(keep), y, Tensor(np.zeros((1,) * y.ndim, np.float32)))


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
        if not isinstance(layer, _RECURRENT):
            raise ValueError(f"Bidirectional: expected a recurrent layer (LSTM, GRU, SimpleRNN, "
                             f"ConvLSTM1D/2D), received {layer!r}")
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
        elif not isinstance(backward_layer, _RECURRENT):
            raise ValueError(f"Bidirectional: backward_layer must be a recurrent layer, received "
                             f"{backward_layer!r}")
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError("Bidirectional: backward_layer.go_backwards must be the opposite of "
                             "layer.go_backwards")
        self.backward_layer = backward_layer
        for la in (self.forward_layer, self.backward_layer):
            if getattr(la, "zero_output_for_mask", None) is not None:  # Keras: masked steps of
                la.zero_output_for_mask = la.return_sequences          # a sequence output 0
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
            if mask is not None:  # Keras: masked steps of both sequences output zeros
                f, b = _zero_masked(f, mask), _zero_masked(b, mask)
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
        from grebe.serialization import serialize

        config = super().get_config()
        config["layer"] = serialize(self.forward_layer)
        config["layer"]["config"]["name"] = self.forward_layer.name[len("forward_"):]
        config["merge_mode"] = self.merge_mode
        config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        from grebe.serialization import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)
