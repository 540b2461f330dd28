"""Recurrent layers with Keras 3's names, arguments, defaults and weight layouts: LSTM, GRU,
SimpleRNN, the cells LSTMCell, GRUCell, SimpleRNNCell and StackedRNNCells with the generic
RNN(cell) layer, the wrappers Bidirectional and TimeDistributed, and ConvLSTM1D/ConvLSTM2D
(conv_lstm.py).

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
from grebe.layers.rnn.bidirectional import Bidirectional
from grebe.layers.rnn.conv_lstm import ConvLSTM1D, ConvLSTM2D
from grebe.layers.rnn.cells import GRUCell, LSTMCell, SimpleRNNCell
from grebe.layers.rnn.gru import GRU
from grebe.layers.rnn.lstm import LSTM
from grebe.layers.rnn.rnn import RNN
from grebe.layers.rnn.simple_rnn import SimpleRNN
from grebe.layers.rnn.stacked_rnn_cells import StackedRNNCells
from grebe.layers.rnn.time_distributed import TimeDistributed

__all__ = ["LSTM", "GRU", "SimpleRNN", "Bidirectional", "TimeDistributed", "LSTMCell",
           "GRUCell", "SimpleRNNCell", "StackedRNNCells", "RNN",
           "ConvLSTM1D", "ConvLSTM2D"]
