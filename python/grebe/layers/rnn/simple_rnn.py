"""SimpleRNN: Keras 3's arguments and weight layout."""
from __future__ import annotations

from grebe.layers.rnn.base import _RNN
from grebe.ops import rnn as rnn_ops


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
                                  recurrent_dropout_mask=rdrop,
                                  compute_dtype=self.compute_dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("recurrent_activation")
        return config
