"""LSTM: Keras 3's arguments and weight layout (kernel (F, 4U), recurrent_kernel (U, 4U),
bias (4U,), gates i, f, c, o)."""
from __future__ import annotations

import numpy as np

from grebe.layers.rnn.base import _RNN
from grebe.ops import rnn as rnn_ops


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
                           recurrent_dropout_mask=rdrop, compute_dtype=self.compute_dtype)
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config
