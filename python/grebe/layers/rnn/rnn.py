"""RNN(cell): Keras 3's generic recurrent layer. It runs any cell — a built-in LSTMCell, GRUCell
or SimpleRNNCell, a StackedRNNCells, a list of cells, or a user-defined cell (a Layer with
``call(inputs, states)`` and ``state_size``) — over the time axis.

Built-in cells (not subclassed, with activations the fused kernels know) run through the same
whole-sequence native kernels as the LSTM/GRU/SimpleRNN layers (grebe.ops.rnn), so
``RNN(LSTMCell(u))`` costs what ``LSTM(u)`` costs; a stack of them runs one fused pass per
cell. Any other cell runs a Python loop over the time steps with autograd.

>>> import numpy as np, grebe
>>> L = grebe.layers
>>> L.RNN(L.LSTMCell(4), return_sequences=True)(np.ones((2, 5, 3), np.float32)).shape
(2, 5, 4)
"""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.layers.layer import Layer
from grebe.layers.rnn import cells as cells_mod
from grebe.layers.rnn.stacked_rnn_cells import StackedRNNCells
from grebe.ops import rnn as rnn_ops
from grebe.tensor import Tensor

__all__ = ["RNN"]

_FUSED = {cells_mod.LSTMCell: "lstm", cells_mod.GRUCell: "gru",
          cells_mod.SimpleRNNCell: "simple_rnn"}


def _sizes(size) -> list:
    """state_size flattened (a stack's is nested: one entry per cell)."""
    if not isinstance(size, (list, tuple)):
        return [size]
    return [s for entry in size for s in _sizes(entry)]


def _nest(flat: list, size):
    """Flat states back into state_size's structure (Keras's return_state/states layout)."""
    if not isinstance(size, (list, tuple)):
        return flat[0]
    out, k = [], 0
    for entry in size:
        n = len(_sizes(entry))
        out.append(_nest(flat[k:k + n], entry) if isinstance(entry, (list, tuple)) else flat[k])
        k += n
    return out


def _flatten(states) -> list:
    if not isinstance(states, (list, tuple)):
        return [states]
    return [s for entry in states for s in _flatten(entry)]


def _fused_kind(cell):
    """'lstm'/'gru'/'simple_rnn' when the cell can run through the fused kernel, else None."""
    for cls, kind in _FUSED.items():
        if type(cell).call is cls.call and isinstance(cell, cls):
            try:
                rnn_ops.activation_code(cell.activation)
                rnn_ops.activation_code(cell.recurrent_activation)
            except ValueError:
                return None
            return kind
    return None


class RNN(Layer):
    """Runs `cell` over (batch, timesteps, features) inputs. Keras 3's arguments:
    return_sequences, return_state, go_backwards (outputs come in the reversed order, as
    Keras), stateful (the final states carry to the next call; reset_states() forgets them),
    unroll (accepted; grebe never needs to unroll), zero_output_for_mask (masked steps output
    zeros instead of the carried output)."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise ValueError(f"RNN: Argument `cell` should have a `call` method and a "
                             f"`state_size` attribute. Received: cell={cell!r}")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None
        self.supports_masking = True

    # ---- shapes and weights --------------------------------------------------------------------
    @property
    def _state_sizes(self) -> list:
        return _sizes(self.cell.state_size)

    @property
    def _output_size(self) -> int:
        return getattr(self.cell, "output_size", None) or self._state_sizes[0]

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(f"RNN: expected input of rank 3 (batch, timesteps, features), "
                             f"received shape {shape}")
        if not self.cell.built:
            self.cell.build((shape[0], shape[2]))
            self.cell.built = True
        self.built = True

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        out = (B, T, self._output_size) if self.return_sequences else (B, self._output_size)
        if self.return_state:
            return [out] + [(B, s) for s in self._state_sizes]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * len(self._state_sizes)
        return out

    # ---- states --------------------------------------------------------------------------------
    def get_initial_state(self, batch_size):
        get = getattr(self.cell, "get_initial_state", None)
        if get is not None:
            return [s if isinstance(s, Tensor) else Tensor(np.asarray(s, np.float32))
                    for s in _sizes(get(batch_size=batch_size))]
        return [Tensor(np.zeros((batch_size, s), np.float32)) for s in self._state_sizes]

    def _initial_states(self, initial_state, batch):
        if initial_state is None:
            if self.stateful and self.states is not None:
                if tuple(self.states[0].shape)[0] != batch:
                    raise ValueError(f"RNN '{self.name}': a stateful layer keeps batch size "
                                     f"{self.states[0].shape[0]}, received a batch of {batch}; "
                                     f"call reset_states() to change it")
                return list(self.states)
            return self.get_initial_state(batch)
        states = _flatten(initial_state)
        expected = [(batch, s) for s in self._state_sizes]
        states = [s if isinstance(s, Tensor) else Tensor(np.asarray(s, np.float32))
                  for s in states]
        if [tuple(s.shape) for s in states] != expected:
            raise ValueError(f"RNN '{self.name}': initial_state must be {len(expected)} "
                             f"tensor(s) of shapes {expected}, received "
                             f"{[tuple(s.shape) for s in states]}")
        return states

    def reset_states(self, states=None):
        """Stateful layers: forget the carried states (or set them to `states`)."""
        self.states = None if states is None else [Tensor(np.asarray(s, np.float32))
                                                   for s in states]

    reset_state = reset_states

    # ---- call ----------------------------------------------------------------------------------
    def call(self, inputs, initial_state=None, mask=None, training=None):
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs, np.float32))
        if x.ndim != 3:
            raise ValueError(f"RNN '{self.name}': expected input of rank 3 (batch, timesteps, "
                             f"features), received shape {tuple(x.shape)}")
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        states = self._initial_states(initial_state, x.shape[0])
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else \
            [self.cell]
        if all(_fused_kind(c) for c in cells) and not self.zero_output_for_mask:
            output, final = self._run_fused(x, cells, states, mask, training)
        else:
            output, final = self._run_loop(x, states, mask, training)
        if self.stateful:
            self.states = [Tensor(np.array(s.data)) for s in final]
        if not self.return_state:
            return output
        if isinstance(self.cell, StackedRNNCells):  # Keras: a list of states per cell
            per_cell = _nest(list(final), self.cell.state_size)
            return [output] + [s if isinstance(s, list) else [s] for s in per_cell]
        return [output] + list(final)

    def _run_fused(self, x, cells, states, mask, training):
        """Each cell over the whole sequence in one native call (a stack: one after the other,
        which equals running them step by step). go_backwards reverses the sequence (and mask)
        once, up front: the outputs then come in Keras's reversed order."""
        if self.go_backwards:
            x = x[:, ::-1]
            if mask is not None:
                mask = rnn_ops._mask_array(mask, x.shape, f"RNN '{self.name}'")[:, ::-1]
        final, k = [], 0
        for i, cell in enumerate(cells):
            n = len(_sizes(cell.state_size))
            last = i == len(cells) - 1
            out = self._fused_cell(cell, x, states[k:k + n], mask, training,
                                   self.return_sequences or not last)
            k += n
            x, cell_final = out[0], list(out[1:])
            final += cell_final
        return x, final

    def _fused_cell(self, cell, x, states, mask, training, return_sequences):
        kind = _fused_kind(cell)
        B = x.shape[0]
        rdrop = None
        if training and cell.dropout > 0:
            keep = cell.get_dropout_mask(Tensor(x.data[:, 0])).data  # one mask per sequence
            x = x * Tensor(keep[:, None, :])
        if training and cell.recurrent_dropout > 0:
            m = cell.get_recurrent_dropout_mask(states[0]).data
            rdrop = np.broadcast_to(m, (cell._gates, B, cell.units))
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()
        common = dict(mask=mask, go_backwards=False,
                      return_sequences=return_sequences, activation=cell.activation,
                      recurrent_dropout_mask=rdrop, compute_dtype=cell.compute_dtype)
        if kind == "lstm":
            return rnn_ops.lstm(x, cell.kernel, cell.recurrent_kernel, cell.bias, states,
                                recurrent_activation=cell.recurrent_activation, **common)
        if kind == "gru":
            return rnn_ops.gru(x, cell.kernel, cell.recurrent_kernel, cell.bias, states,
                               recurrent_activation=cell.recurrent_activation,
                               reset_after=cell.reset_after, **common)
        return rnn_ops.simple_rnn(x, cell.kernel, cell.recurrent_kernel, cell.bias, states,
                                  **common)

    def _run_loop(self, x, states, mask, training):
        """The cell step by step in Python, with autograd through every step."""
        T = x.shape[1]
        m = None if mask is None else rnn_ops._mask_array(mask, x.shape, f"RNN '{self.name}'")
        size = self.cell.state_size
        outputs, prev = [], None
        for t in (range(T - 1, -1, -1) if self.go_backwards else range(T)):
            arg = _nest(list(states), size) if isinstance(size, (list, tuple)) else list(states)
            out, new = self.cell(x[:, t], arg, training=training)
            new = _flatten(new)
            if m is not None:
                keep = Tensor(m[:, t:t + 1])
                new = [ops.where(keep, a, b) for a, b in zip(new, states)]
                carried = prev if prev is not None and not self.zero_output_for_mask else \
                    Tensor(np.zeros(tuple(out.shape), np.float32))
                out = ops.where(keep, out, carried)
            states, prev = new, out
            outputs.append(out)
        for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            for c in getattr(self.cell, "cells", [self.cell]):
                if hasattr(c, reset):
                    getattr(c, reset)()
        output = ops.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return output, states

    def get_config(self):
        from grebe.serialization import serialize

        return {**super().get_config(), "cell": serialize(self.cell),
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from grebe.serialization import deserialize

        config = dict(config)
        cell = deserialize(config.pop("cell"), custom_objects)
        return cls(cell, **config)
