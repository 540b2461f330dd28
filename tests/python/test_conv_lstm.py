"""ConvLSTM1D/ConvLSTM2D against real Keras 3 (torch backend) with the same weights: outputs and
states over strides, dilation, padding, go_backwards, masks, initial states, channels_first and
other activations; gradients of the input and every weight against PyTorch autograd run through
Keras's own layer, and against finite differences on a tiny case; run_layer_test, dropout,
stateful carry-over, saving and bad inputs."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe
from grebe import layers as L
from grebe.ops.conv_lstm import conv_lstm
from helpers import check_op, run_layer_test


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


def np_(t):
    return np.asarray(t.detach().cpu()) if hasattr(t, "detach") else np.asarray(t)


RNG = np.random.default_rng(0)
X2 = RNG.normal(size=(2, 4, 7, 6, 3)).astype(np.float32)   # (B, T, H, W, C)
X1 = RNG.normal(size=(3, 5, 9, 2)).astype(np.float32)      # (B, T, L, C)
MASK = np.array([[1, 1, 0, 1], [0, 1, 1, 0]], bool)

CASES_2D = [
    {"padding": "same"},
    {"padding": "valid", "return_sequences": True},
    {"padding": "same", "strides": 2, "return_state": True},
    {"padding": "valid", "dilation_rate": 2, "return_sequences": True, "return_state": True},
    {"padding": "same", "kernel_size": (2, 3), "go_backwards": True, "return_sequences": True},
    {"padding": "same", "activation": "relu", "recurrent_activation": "hard_sigmoid",
     "use_bias": False, "return_sequences": True},
    {"padding": "same", "data_format": "channels_first", "return_sequences": True,
     "return_state": True},
]


def pair(keras, cls, kwargs, x):
    """A grebe layer and a Keras layer with Keras's (random, bias perturbed) weights."""
    kwargs = dict(kwargs)
    k = kwargs.pop("kernel_size", 3)
    kl = getattr(keras.layers, cls)(4, k, **kwargs)
    kl.build(x.shape)
    ws = [np_(w) for w in kl.weights]
    ws = [w + RNG.normal(scale=0.1, size=w.shape).astype(np.float32) for w in ws]
    kl.set_weights(ws)
    gl = getattr(L, cls)(4, k, **kwargs)
    gl.build(x.shape)
    gl.set_weights(ws)
    return gl, kl


def _as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _channels_first(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 2))


@pytest.mark.parametrize("kwargs", CASES_2D)
def test_conv_lstm2d_matches_keras_outputs_and_gradients(keras, kwargs):
    import torch

    x = _channels_first(X2) if kwargs.get("data_format") == "channels_first" else X2
    gl, kl = pair(keras, "ConvLSTM2D", kwargs, x)
    assert [w.name.split("/")[-1] for w in gl.weights] == [w.name for w in kl.weights]
    assert [tuple(w.shape) for w in gl.weights] == [tuple(w.shape) for w in kl.weights]
    gx = grebe.tensor(x, requires_grad=True)
    g = _as_list(gl(gx))
    tx = torch.tensor(x, requires_grad=True)
    k = _as_list(kl(tx))
    assert len(g) == len(k)
    ups = [RNG.normal(size=a.shape).astype(np.float32) for a in g]
    for a, b in zip(g, k):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-4, atol=1e-5)
    # Gradients: grebe's backward vs PyTorch autograd through Keras's own layer.
    sum((a * grebe.tensor(u)).sum() for a, u in zip(g, ups)).backward()
    sum((b * torch.tensor(u)).sum() for b, u in zip(k, ups)).backward()
    np.testing.assert_allclose(np.asarray(gx.grad), np_(tx.grad), rtol=1e-3, atol=1e-4)
    for gw, kw in zip(gl.trainable_weights, kl.trainable_weights):
        np.testing.assert_allclose(np.asarray(gw.grad), np_(kw.value.grad), rtol=1e-3,
                                   atol=1e-4, err_msg=gw.name)


@pytest.mark.parametrize("kwargs", [{"padding": "same", "return_sequences": True},
                                    {"strides": 2, "return_state": True},
                                    {"padding": "same", "dilation_rate": 2, "go_backwards": True}])
def test_conv_lstm1d_matches_keras(keras, kwargs):
    import torch

    gl, kl = pair(keras, "ConvLSTM1D", kwargs, X1)
    gx, tx = grebe.tensor(X1, requires_grad=True), torch.tensor(X1, requires_grad=True)
    g, k = _as_list(gl(gx)), _as_list(kl(tx))
    for a, b in zip(g, k):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-4, atol=1e-5)
    g[0].sum().backward()
    k[0].sum().backward()
    np.testing.assert_allclose(np.asarray(gx.grad), np_(tx.grad), rtol=1e-3, atol=1e-4)
    for gw, kw in zip(gl.trainable_weights, kl.trainable_weights):
        np.testing.assert_allclose(np.asarray(gw.grad), np_(kw.value.grad), rtol=1e-3,
                                   atol=1e-4)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_mask_and_initial_state_match_keras(keras, go_backwards):
    kwargs = {"padding": "same", "return_sequences": True, "return_state": True,
              "go_backwards": go_backwards}
    gl, kl = pair(keras, "ConvLSTM2D", kwargs, X2)
    h0, c0 = (RNG.normal(size=(2, 7, 6, 4)).astype(np.float32) for _ in range(2))
    g = gl(X2, initial_state=[h0, c0], mask=MASK)
    k = kl(keras.ops.convert_to_tensor(X2), initial_state=[keras.ops.convert_to_tensor(h0),
                                                           keras.ops.convert_to_tensor(c0)],
           mask=keras.ops.convert_to_tensor(MASK))
    for a, b in zip(g, k):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-4, atol=1e-5)


def test_gradients_match_finite_differences():
    """ops.conv_lstm on a tiny case: every input against central differences of a float64
    plain-loop reference (valid input conv, 'same' recurrent conv, gates i, f, c, o)."""

    def conv_same_or_valid(x, k, same):  # x (B, L, C), k (K, C, O) -> (B, L', O)
        K = k.shape[0]
        if same:
            lo = (K - 1) // 2
            x = np.pad(x, ((0, 0), (lo, K - 1 - lo), (0, 0)))
        out = x.shape[1] - K + 1
        return np.stack([np.einsum("bkc,kco->bo", x[:, i:i + K], k) for i in range(out)], 1)

    def ref(x, k, rk, b):
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        F = rk.shape[1]
        h = c = np.zeros((x.shape[0], x.shape[2] - k.shape[0] + 1, F))
        for t in range(x.shape[1]):
            z = conv_same_or_valid(x[:, t], k, False) + b + conv_same_or_valid(h, rk, True)
            i, f, g, o = sig(z[..., :F]), sig(z[..., F:2 * F]), np.tanh(z[..., 2 * F:3 * F]), \
                sig(z[..., 3 * F:])
            c = f * c + i * g
            h = o * np.tanh(c)
        return h

    check_op(lambda x, k, rk, b: conv_lstm(x, k, rk, b, rank=1)[0], ref,
             [(2, 3, 5, 2), (2, 2, 8), (2, 2, 8), (8,)])


def test_run_layer_test_and_weights():
    run_layer_test(L.ConvLSTM2D, {"filters": 5, "kernel_size": 3, "padding": "same",
                                  "return_sequences": True}, (2, 3, 6, 6, 2), (2, 3, 6, 6, 5),
                   expected_weight_shapes=[(3, 3, 2, 20), (3, 3, 5, 20), (20,)])
    run_layer_test(L.ConvLSTM1D, {"filters": 3, "kernel_size": 2, "strides": 2},
                   (2, 4, 9, 2), (2, 4, 3), expected_weight_shapes=[(2, 2, 12), (2, 3, 12), (12,)])
    reg = L.ConvLSTM2D(3, 3, activity_regularizer="l2")
    y = reg(X2)
    assert len(reg.losses) == 1
    np.testing.assert_allclose(float(np.asarray(reg.losses[0])),
                               0.01 * float((np.asarray(y, np.float64) ** 2).sum()), rtol=1e-5)
    layer = L.ConvLSTM2D(3, 2)
    layer.build((None, 2, 5, 5, 1))
    np.testing.assert_array_equal(layer.get_weights()[2], np.r_[np.zeros(3), np.ones(3),
                                                                np.zeros(6)])


def test_dropout_runs_only_in_training_and_keeps_one_mask_per_sequence():
    layer = L.ConvLSTM2D(3, 3, padding="same", dropout=0.5, recurrent_dropout=0.5, seed=1,
                         return_sequences=True)
    x = grebe.tensor(X2, requires_grad=True)
    y_inf = np.asarray(layer(X2))
    plain = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    plain.build(X2.shape)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(y_inf, np.asarray(plain(X2)), rtol=1e-6)
    y = layer(x, training=True)
    assert not np.allclose(np.asarray(y), y_inf)
    y.sum().backward()
    assert np.isfinite(np.asarray(x.grad)).all()


def test_per_gate_dropout_masks_match_keras(keras):
    """Keras draws four input masks and four state masks (one per gate), each fixed over the
    sequence: the same masks, put into Keras's cell, give the same outputs and gradients."""
    import torch

    kwargs = {"padding": "same", "return_sequences": True, "dropout": 0.5,
              "recurrent_dropout": 0.5}
    gl, kl = pair(keras, "ConvLSTM2D", kwargs, X2)
    rng = np.random.default_rng(5)
    drop = [(rng.random((2, 7, 6, 3)) > 0.5).astype(np.float32) * 2 for _ in range(4)]
    rdrop = [(rng.random((2, 7, 6, 4)) > 0.5).astype(np.float32) * 2 for _ in range(4)]
    kl.cell._dropout_mask = [torch.tensor(m) for m in drop]
    kl.cell._recurrent_dropout_mask = [torch.tensor(m) for m in rdrop]
    tx = torch.tensor(X2, requires_grad=True)
    k = kl(tx, training=True)
    gx = grebe.tensor(X2, requires_grad=True)
    g, _, _ = conv_lstm(gx, gl.kernel, gl.recurrent_kernel, gl.bias, padding="same",
                        return_sequences=True, dropout_masks=drop, recurrent_dropout_masks=rdrop)
    np.testing.assert_allclose(np.asarray(g), np_(k), rtol=1e-4, atol=1e-5)
    g.sum().backward()
    k.sum().backward()
    np.testing.assert_allclose(np.asarray(gx.grad), np_(tx.grad), rtol=1e-3, atol=1e-4)
    for gw, kw in zip(gl.trainable_weights, kl.trainable_weights):
        np.testing.assert_allclose(np.asarray(gw.grad), np_(kw.value.grad), rtol=1e-3,
                                   atol=1e-4)


def test_bidirectional_conv_lstm_matches_keras(keras):
    kwargs = {"padding": "same", "return_sequences": True, "return_state": True}
    ours = L.Bidirectional(L.ConvLSTM2D(3, 3, **kwargs), merge_mode="sum")
    theirs = keras.layers.Bidirectional(keras.layers.ConvLSTM2D(3, 3, **kwargs),
                                        merge_mode="sum")
    k = theirs(X2, mask=keras.ops.convert_to_tensor(MASK))
    ours.build(X2.shape)
    ours.set_weights([np_(w) for w in theirs.weights])
    g = ours(X2, mask=MASK)
    assert len(g) == len(k) == 5
    for a, b in zip(g, k):
        np.testing.assert_allclose(np.asarray(a), np_(b), rtol=1e-4, atol=1e-5)


def test_stateful_carries_states():
    layer = L.ConvLSTM2D(3, 3, padding="same", stateful=True, return_state=True)
    _, h1, c1 = layer(X2[:, :2])
    _, h2, _ = layer(X2[:, 2:])
    ref = L.ConvLSTM2D(3, 3, padding="same", return_state=True)
    ref.build(X2.shape)
    ref.set_weights(layer.get_weights())
    _, h_all, _ = ref(X2)
    np.testing.assert_allclose(np.asarray(h2), np.asarray(h_all), rtol=1e-5, atol=1e-6)
    layer.reset_states()
    _, h3, _ = layer(X2[:, :2])
    np.testing.assert_allclose(np.asarray(h3), np.asarray(h1), rtol=1e-6)


def test_save_load_and_keras_weights_file(tmp_path, keras):
    model = grebe.Sequential([grebe.Input((4, 7, 6, 3)),
                              L.ConvLSTM2D(4, 3, padding="same", return_sequences=True),
                              L.ConvLSTM2D(2, 3)])
    y = np.asarray(model.predict(X2, verbose=0))
    model.save(tmp_path / "m.grebe")
    again = grebe.load_model(tmp_path / "m.grebe")
    np.testing.assert_allclose(np.asarray(again.predict(X2, verbose=0)), y, rtol=1e-6)
    # A Keras .weights.h5 of the same model loads into grebe (cell/vars paths).
    km = keras.Sequential([keras.Input((4, 7, 6, 3)),
                           keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True),
                           keras.layers.ConvLSTM2D(2, 3)])
    km.save_weights(tmp_path / "k.weights.h5")
    model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(np.asarray(model.predict(X2, verbose=0)),
                               np_(km.predict(X2, verbose=0)), rtol=1e-4, atol=1e-5)
    # Whole .keras files both ways: the config and cell/vars paths are Keras's.
    model.save(tmp_path / "g.keras")
    np.testing.assert_allclose(np_(keras.saving.load_model(tmp_path / "g.keras").predict(
        X2, verbose=0)), np.asarray(model.predict(X2, verbose=0)), rtol=1e-4, atol=1e-5)
    km.save(tmp_path / "k.keras")
    np.testing.assert_allclose(np.asarray(grebe.load_model(tmp_path / "k.keras").predict(
        X2, verbose=0)), np_(km.predict(X2, verbose=0)), rtol=1e-4, atol=1e-5)


def test_fit_trains_a_stack():
    grebe.utils.set_random_seed(0)
    model = grebe.Sequential([grebe.Input((4, 7, 6, 3)),
                              L.ConvLSTM2D(3, 3, padding="same", return_sequences=True,
                                           dropout=0.1, recurrent_dropout=0.1),
                              L.ConvLSTM2D(2, 3)])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="mse")
    y = np.random.default_rng(1).normal(size=(2, 5, 4, 2)).astype(np.float32)
    hist = model.fit(X2, y, epochs=10, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_bad_inputs_raise_clear_errors():
    layer = L.ConvLSTM2D(3, 3)
    with pytest.raises(ValueError, match=r"ConvLSTM2D.*rank 5"):
        layer(np.zeros((2, 4, 6, 3), np.float32))
    layer(X2)
    with pytest.raises(ValueError, match="expected input with 3 channels"):
        layer(np.zeros((2, 4, 7, 6, 2), np.float32))
    with pytest.raises(ValueError, match="larger than the input"):
        L.ConvLSTM2D(3, 5)(np.zeros((1, 2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="initial states must have shape"):
        L.ConvLSTM2D(3, 3, padding="same")(X2, initial_state=[np.zeros((2, 7, 6, 2))] * 2)
    with pytest.raises(ValueError, match="mask must have shape"):
        L.ConvLSTM2D(3, 3)(X2, mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="padding"):
        L.ConvLSTM2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="strides > 1"):
        L.ConvLSTM2D(3, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="filters"):
        L.ConvLSTM1D(0, 3)


def test_nan_stays_nan():
    x = X2.copy()
    x[0, 1, 2, 3, 0] = np.nan
    y = np.asarray(L.ConvLSTM2D(2, 3, padding="same")(x))
    assert np.isnan(y[0]).any() and np.isfinite(y[1]).all()
