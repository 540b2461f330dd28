"""A softmax/sigmoid output carries its logits (Keras's _keras_logits): crossentropy losses take
them, so a training step runs each GEMM once, and loss values and gradients equal those of the
same model with a linear output and from_logits=True."""
import importlib

import numpy as np
import pytest

import grebe
from grebe import layers

# The module (grebe.ops.dense is also the name of the function the package re-exports).
dense_module = importlib.import_module("grebe.ops.dense")


def _mlp(activation, units, seed=0):
    grebe.utils.set_random_seed(seed)
    return grebe.Sequential([layers.Dense(16, activation="relu", input_shape=(20,)),
                             layers.Dense(units, activation=activation)])


@pytest.fixture
def gemm_calls(monkeypatch):
    calls = []
    native = dense_module._sgemm

    def counting(*args):
        calls.append(args[0].shape)
        return native(*args)
    monkeypatch.setattr(dense_module, "_sgemm", counting)
    return calls


def test_training_step_runs_each_gemm_once(gemm_calls):
    model = _mlp("softmax", 5)
    x = np.random.default_rng(0).standard_normal((8, 20)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[np.arange(8) % 5]
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.train_on_batch(x, y)
    gemm_calls.clear()
    model.train_on_batch(x, y)
    # forward: 2 (one per Dense); backward: dx and dW of the last Dense, dW of the first (its
    # input needs no gradient). Recomputing the logits for the loss would make it 6.
    assert len(gemm_calls) == 5


@pytest.mark.parametrize("activation,units,loss_cls", [
    ("softmax", 5, grebe.losses.CategoricalCrossentropy),
    ("softmax", 5, grebe.losses.SparseCategoricalCrossentropy),
    ("sigmoid", 1, grebe.losses.BinaryCrossentropy),
])
def test_loss_and_gradients_equal_the_from_logits_model(activation, units, loss_cls):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 20)).astype(np.float32)
    labels = rng.integers(0, units if units > 1 else 2, 8)
    if loss_cls is grebe.losses.CategoricalCrossentropy:
        y = np.eye(units, dtype=np.float32)[labels]
    elif loss_cls is grebe.losses.BinaryCrossentropy:
        y = labels.reshape(-1, 1).astype(np.float32)
    else:
        y = labels
    results = []
    for act, from_logits in ((activation, False), (None, True)):
        model = _mlp(act, units)
        out = model(grebe.tensor(x))
        if act is not None:  # the output carries the tensor it was computed from
            assert out._keras_logits is not None and out._logits_kind == activation
        loss = loss_cls(from_logits=from_logits)(y, out)
        loss.backward()
        results.append((loss.item(), [w.grad.copy() for w in model.trainable_weights]))
    (l_act, g_act), (l_lin, g_lin) = results
    assert l_act == pytest.approx(l_lin, rel=1e-6)
    for a, b in zip(g_act, g_lin):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # And the value is the plain crossentropy of the probabilities (to rounding).
    probs = _mlp(activation, units)(grebe.tensor(x)).numpy().astype(np.float64)
    if activation == "sigmoid":
        want = -np.mean(y * np.log(probs) + (1 - y) * np.log(1 - probs))
    else:
        want = -np.mean(np.log(probs[np.arange(8), labels]))
    assert l_act == pytest.approx(want, rel=1e-4)


def test_activation_layer_and_ops_carry_logits():
    z = grebe.tensor(np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32))
    for y, kind in ((grebe.ops.softmax(z), "softmax"), (grebe.ops.sigmoid(z), "sigmoid"),
                    (layers.Activation("softmax")(z), "softmax")):
        assert y._keras_logits is z and y._logits_kind == kind
    # log_softmax and softmax over another axis carry none: their outputs are not probabilities
    # over the last axis.
    assert getattr(grebe.ops.log_softmax(z), "_keras_logits", None) is None
    assert getattr(grebe.ops.softmax(z, axis=0), "_keras_logits", None) is None
