"""StackedRNNCells: cells stacked into one (Keras 3's), for RNN(cells)."""
from __future__ import annotations

import numpy as np

from grebe.layers.layer import Layer
from grebe.tensor import Tensor

__all__ = ["StackedRNNCells"]


def _flat_sizes(size) -> list:
    return list(size) if isinstance(size, (list, tuple)) else [size]


class StackedRNNCells(Layer):
    """Cells stacked into one: each step runs them in order, each one's output the next one's
    input. As Keras, state_size and the states are nested: one entry per cell, and RNN's
    return_state gives a list of states per cell (LSTMCell's [h, c], GRUCell's [h]).

    >>> import numpy as np, grebe
    >>> L = grebe.layers
    >>> rnn = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), return_state=True)
    >>> out, (h, c), (h2,) = rnn(np.ones((2, 5, 6), np.float32))
    >>> out.shape, h.shape, c.shape, h2.shape
    ((2, 3), (2, 4), (2, 4), (2, 3))
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        for c in cells:
            if not hasattr(c, "call") or not hasattr(c, "state_size"):
                raise ValueError(f"StackedRNNCells: all cells must have a `call` method and a "
                                 f"`state_size` attribute. Received: {c!r}")
        if not cells:
            raise ValueError("StackedRNNCells: expected a non-empty list of cells")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", _flat_sizes(last.state_size)[0])

    def get_initial_state(self, batch_size=None):
        return [[Tensor(np.zeros((batch_size, s), np.float32)) for s in c.state_size]
                if isinstance(c.state_size, (list, tuple)) else
                Tensor(np.zeros((batch_size, c.state_size), np.float32)) for c in self.cells]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if not c.built:
                c.build(shape)
                c.built = True
            out = getattr(c, "output_size", _flat_sizes(c.state_size)[0])
            shape = shape[:-1] + (out,)
        self.built = True

    def call(self, inputs, states, training=None):
        """states: one entry per cell (nested, as state_size) -> (output, new nested states)."""
        new_states, x = [], inputs
        for c, own in zip(self.cells, states):
            x, s = c(x, own, training=training)
            if isinstance(c.state_size, (list, tuple)):
                s = list(s) if isinstance(s, (list, tuple)) else [s]
            elif isinstance(s, (list, tuple)):
                s = s[0]
            new_states.append(s)
        return x, new_states

    def get_config(self):
        from grebe.serialization import serialize

        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from grebe.serialization import deserialize

        config = dict(config)
        cells = [deserialize(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)
