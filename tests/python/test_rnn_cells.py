"""Recurrent cells and the generic RNN layer against real Keras 3 (torch backend): one step of
each cell, RNN(cell) over sequences (return_sequences/state, go_backwards, masks, stacks) with
the same weights; the fused dispatch of built-in cells against the Python time loop (outputs and
gradients), user-defined cells, stateful carry-over, config and saving."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe
from grebe import layers as L
from grebe.layers.rnn import rnn as rnn_layer


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 6, 5)).astype(np.float32)
MASK = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 1, 1]], bool)
CELLS = [("LSTMCell", {}), ("GRUCell", {}), ("GRUCell", {"reset_after": False}),
         ("SimpleRNNCell", {}), ("LSTMCell", {"activation": "relu", "use_bias": False})]


def np_(t):
    return np.asarray(t.detach().cpu()) if hasattr(t, "detach") else np.asarray(t)


def pair(keras, name, kwargs, units=4, features=X.shape[-1]):
    """A grebe cell and a Keras cell with the same (Keras's) weights."""
    kc = getattr(keras.layers, name)(units, **kwargs)
    kc.build((None, features))
    gc = getattr(L, name)(units, **kwargs)
    gc.build((None, features))
    gc.set_weights([np_(w) for w in kc.weights])
    return gc, kc


@pytest.mark.parametrize("name,kwargs", CELLS)
def test_one_step_matches_keras(keras, name, kwargs):
    gc, kc = pair(keras, name, kwargs)
    assert [w.name.split("/")[-1] for w in gc.weights] == [w.name for w in kc.weights]
    states = [RNG.normal(size=(3, 4)).astype(np.float32) for _ in gc.state_size] \
        if isinstance(gc.state_size, list) else [RNG.normal(size=(3, 4)).astype(np.float32)]
    g_out, g_states = gc(X[:, 0], states)
    k_out, k_states = kc(X[:, 0], [keras.ops.convert_to_tensor(s) for s in states])
    np.testing.assert_allclose(np.asarray(g_out), np_(k_out), rtol=1e-5, atol=1e-6)
    for a, b in zip(g_states, k_states):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-5, atol=1e-6)


RNN_CASES = [{}, {"return_sequences": True}, {"return_state": True},
             {"return_sequences": True, "go_backwards": True},
             {"return_sequences": True, "return_state": True, "mask": True},
             {"go_backwards": True, "mask": True}]


@pytest.mark.parametrize("name,kwargs", CELLS[:4])
@pytest.mark.parametrize("rnn_kwargs", RNN_CASES)
def test_rnn_of_builtin_cell_matches_keras(keras, name, kwargs, rnn_kwargs):
    rnn_kwargs = dict(rnn_kwargs)
    mask = MASK if rnn_kwargs.pop("mask", False) else None
    gc, kc = pair(keras, name, kwargs)
    g_rnn, k_rnn = L.RNN(gc, **rnn_kwargs), keras.layers.RNN(kc, **rnn_kwargs)
    assert rnn_layer._fused_kind(gc) is not None
    g = g_rnn(X, mask=mask)
    k = k_rnn(X, mask=None if mask is None else keras.ops.convert_to_tensor(mask))
    g, k = (g, k) if isinstance(g, list) else ([g], [k])
    assert len(g) == len(k)
    for a, b in zip(g, k):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-5, atol=1e-5)


class LoopLSTMCell(L.LSTMCell):
    """The built-in math through the Python loop (a subclass that overrides call)."""

    def call(self, inputs, states, training=None):
        return super().call(inputs, states, training=training)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_dispatch_equals_the_python_loop_with_gradients(go_backwards):
    fused, loop = L.LSTMCell(4), LoopLSTMCell(4)
    assert rnn_layer._fused_kind(fused) == "lstm" and rnn_layer._fused_kind(loop) is None
    results = []
    for cell in (fused, loop):
        grebe.utils.set_random_seed(3)
        rnn = L.RNN(cell, return_sequences=True, return_state=True, go_backwards=go_backwards)
        x = grebe.tensor(X, requires_grad=True)
        out, h, c = rnn(x, mask=MASK)
        ((out * out).sum() + (c * h).sum()).backward()
        results.append([np.asarray(out), np.asarray(x.grad)] +
                       [np.asarray(w.grad) for w in rnn.trainable_weights])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_rnn_of_lstm_cell_equals_the_lstm_layer():
    lstm = L.LSTM(4, return_sequences=True)
    y = lstm(X)
    rnn = L.RNN(L.LSTMCell(4), return_sequences=True)
    rnn.build(X.shape)
    rnn.set_weights(lstm.get_weights())
    np.testing.assert_allclose(np.asarray(rnn(X)), np.asarray(y), rtol=1e-6, atol=1e-6)
    assert [w.name for w in rnn.weights] == [f"{rnn.cell.name}/{n}" for n in
                                            ("kernel", "recurrent_kernel", "bias")]


def test_stacked_cells_match_keras(keras):
    g1, k1 = pair(keras, "LSTMCell", {}, units=4)
    g2, k2 = pair(keras, "GRUCell", {}, units=3, features=4)
    g = L.RNN([g1, g2], return_sequences=True, return_state=True, go_backwards=True)(X, mask=MASK)
    k = keras.layers.RNN([k1, k2], return_sequences=True, return_state=True, go_backwards=True)(
        X, mask=keras.ops.convert_to_tensor(MASK))
    (g_out, (g_h, g_c), (g_h2,)), (k_out, (k_h, k_c), (k_h2,)) = g, k  # states nested per cell
    for a, b in ((g_out, k_out), (g_h, k_h), (g_c, k_c), (g_h2, k_h2)):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-5, atol=1e-5)


def make_minimal_cell(base, ops_matmul, tanh):
    """Keras's documented example of a user-defined cell, for either library."""

    class MinimalRNNCell(base):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                          initializer="glorot_uniform")
            self.recurrent_kernel = self.add_weight(name="recurrent_kernel",
                                                    shape=(self.units, self.units),
                                                    initializer="orthogonal")

        def call(self, inputs, states):
            prev = states[0]
            output = tanh(ops_matmul(inputs, self.kernel) + ops_matmul(prev, self.recurrent_kernel))
            return output, [output]

    return MinimalRNNCell


@pytest.mark.parametrize("rnn_kwargs", [{"return_sequences": True}, {"return_state": True},
                                        {"go_backwards": True, "return_sequences": True}])
def test_user_defined_cell_matches_keras_and_trains(keras, rnn_kwargs):
    GCell = make_minimal_cell(L.Layer, grebe.ops.matmul, grebe.ops.tanh)
    KCell = make_minimal_cell(keras.layers.Layer, keras.ops.matmul, keras.ops.tanh)
    k_rnn = keras.layers.RNN(KCell(4), **rnn_kwargs)
    k = k_rnn(X, mask=keras.ops.convert_to_tensor(MASK))
    g_rnn = L.RNN(GCell(4), **rnn_kwargs)
    g_rnn.build(X.shape)
    g_rnn.set_weights([np_(w) for w in k_rnn.weights])
    g = g_rnn(X, mask=MASK)
    g, k = (g, k) if isinstance(g, list) else ([g], [k])
    for a, b in zip(g, k):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-5, atol=1e-5)
    grebe.utils.set_random_seed(0)
    model = grebe.Sequential([grebe.Input((6, 5)), L.RNN(GCell(8)), L.Dense(1)])
    model.compile(optimizer=grebe.optimizers.Adam(0.02), loss="mse")
    y = X.sum(axis=(1, 2))[:, None] / 10
    first = model.evaluate(X, y, verbose=0)
    model.fit(X, y, epochs=50, verbose=0)
    assert model.evaluate(X, y, verbose=0) < 0.5 * first


def test_user_cell_gradient_matches_finite_differences():
    GCell = make_minimal_cell(L.Layer, grebe.ops.matmul, grebe.ops.tanh)
    rnn = L.RNN(GCell(3), return_sequences=True)
    x = X[:2, :4, :3].astype(np.float64)
    rnn.build((2, 4, 3))
    kernel = rnn.cell.kernel

    def loss():
        return float((np.asarray(rnn(x.astype(np.float32))) ** 2).sum())

    out = rnn(grebe.tensor(x.astype(np.float32)))
    (out * out).sum().backward()
    analytic = np.asarray(kernel.grad).copy()
    numeric = np.zeros_like(analytic)
    base = np.asarray(kernel.data).copy()
    for idx in np.ndindex(*base.shape):
        for sign in (1, -1):
            w = base.copy()
            w[idx] += sign * 1e-3
            kernel.data[...] = w
            numeric[idx] += sign * loss() / 2e-3
    kernel.data[...] = base
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("cell", [lambda: L.GRUCell(4), lambda: make_minimal_cell(
    L.Layer, grebe.ops.matmul, grebe.ops.tanh)(4)])
def test_stateful_carries_states_between_calls(cell):
    c = cell()
    whole = L.RNN(c, return_sequences=True)
    y = np.asarray(whole(X))
    parts = L.RNN(c, return_sequences=True, stateful=True)
    y1, y2 = np.asarray(parts(X[:, :3])), np.asarray(parts(X[:, 3:]))
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, rtol=1e-5, atol=1e-6)
    parts.reset_states()
    np.testing.assert_allclose(np.asarray(parts(X[:, :3])), y1, rtol=1e-6)
    with pytest.raises(ValueError, match="batch size"):
        parts(X[:2, :3])


def test_errors_config_and_saving(tmp_path):
    with pytest.raises(ValueError, match="`state_size`"):
        L.RNN(L.Dense(3))
    with pytest.raises(ValueError, match="positive integer"):
        L.LSTMCell(0)
    rnn = L.RNN([L.LSTMCell(4), L.SimpleRNNCell(2)], return_sequences=True, go_backwards=True)
    model = grebe.Sequential([grebe.Input((6, 5)), rnn, L.Dense(1)])
    again = L.RNN.from_config(rnn.get_config())
    assert isinstance(again.cell, L.StackedRNNCells) and again.go_backwards
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = grebe.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="initial_state"):
        L.RNN(L.LSTMCell(4))(X, initial_state=[np.zeros((3, 4), np.float32)])
