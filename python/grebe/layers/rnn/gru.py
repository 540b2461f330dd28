"""GRU: Keras 3's arguments and weight layout (gates z, r, h; bias (2, 3U) with
reset_after)."""
from __future__ import annotations

from grebe.layers.rnn.base import _RNN
from grebe.ops import rnn as rnn_ops


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
                           reset_after=self.reset_after, recurrent_dropout_mask=rdrop,
                           compute_dtype=self.compute_dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config
