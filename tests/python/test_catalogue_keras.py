"""grebe.activations, grebe.constraints and grebe.regularizers against Keras 3's (torch
backend): values (and activation gradients) on the same inputs; constraints applied after each
optimizer step to the weights that declare them."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402
import torch  # noqa: E402

rng = np.random.default_rng(0)
X = (rng.uniform(-2.5, 2.5, (4, 6))).astype(np.float32)

ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
               "gelu", "silu", "swish", "softplus", "softsign", "hard_silu", "hard_swish",
               "mish", "log_sigmoid", "exponential", "linear", "softmax", "log_softmax",
               "celu", "glu", "hard_shrink", "hard_tanh", "soft_shrink", "sparse_plus",
               "sparse_sigmoid", "squareplus", "tanh_shrink"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_keras_values_and_gradients(name):
    g = grebe.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    gy = grebe.activations.get(name)(g)
    ky = keras.activations.get(name)(t)
    np.testing.assert_allclose(gy.numpy(), ky.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = rng.standard_normal(tuple(gy.shape)).astype(np.float32)
    (gy * up).sum().backward()
    (ky * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(g.grad, t.grad.numpy(), rtol=1e-3, atol=1e-4)
    assert grebe.activations.serialize(grebe.activations.get(name)) in (name, "silu",
                                                                        "hard_silu")


def test_threshold_activation_matches_keras():
    np.testing.assert_allclose(
        grebe.activations.threshold(grebe.tensor(X), 0.3, -1.0).numpy(),
        keras.activations.threshold(torch.tensor(X), 0.3, -1.0).numpy(), rtol=1e-6)


CONSTRAINTS = [("MaxNorm", {"max_value": 1.5}), ("MaxNorm", {"max_value": 0.5, "axis": 1}),
               ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.2, "rate": 0.7}),
               ("NonNeg", {}), ("UnitNorm", {"axis": 1})]


@pytest.mark.parametrize("name, kwargs", CONSTRAINTS)
def test_constraint_matches_keras(name, kwargs):
    got = getattr(grebe.constraints, name)(**kwargs)(grebe.tensor(X)).numpy()
    want = getattr(keras.constraints, name)(**kwargs)(torch.tensor(X)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    c = grebe.constraints.get(grebe.constraints.serialize(
        getattr(grebe.constraints, name)(**kwargs)))
    assert type(c).__name__ == name and c.get_config() == getattr(
        grebe.constraints, name)(**kwargs).get_config()


def test_constraints_are_applied_after_each_optimizer_step_and_saved():
    model = grebe.Sequential([grebe.layers.Dense(
        4, input_shape=(3,), kernel_constraint=grebe.constraints.MaxNorm(0.5),
        bias_constraint="non_neg")])
    model.compile(optimizer=grebe.optimizers.SGD(0.5), loss="mse")
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.standard_normal((32, 4)).astype(np.float32) * 5 - 3
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    kernel, bias = model.get_weights()
    assert np.sqrt((kernel ** 2).sum(0)).max() <= 0.5 + 1e-5
    assert bias.min() >= 0
    clone = grebe.Sequential.from_config(model.get_config())
    assert isinstance(grebe.constraints.constraint_of(clone.layers[0].kernel),
                      grebe.constraints.MaxNorm)


@pytest.mark.parametrize("name, kwargs", [("L1", {"l1": 0.3}), ("L2", {"l2": 0.2}),
                                          ("L1L2", {"l1": 0.1, "l2": 0.05}),
                                          ("OrthogonalRegularizer", {"factor": 0.3}),
                                          ("OrthogonalRegularizer",
                                           {"factor": 0.2, "mode": "columns"})])
def test_regularizer_matches_keras(name, kwargs):
    got = getattr(grebe.regularizers, name)(**kwargs)(grebe.tensor(X))
    want = getattr(keras.regularizers, name)(**kwargs)(torch.tensor(X))
    np.testing.assert_allclose(float(got.item()), float(want), rtol=1e-5)
    assert grebe.regularizers.l2 is grebe.regularizers.L2
    assert type(grebe.regularizers.get("orthogonal_regularizer")).__name__ == \
        "OrthogonalRegularizer"


def test_orthogonal_regularizer_gradient_matches_torch():
    w = grebe.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    grebe.regularizers.OrthogonalRegularizer(0.5)(w).backward()
    keras.regularizers.OrthogonalRegularizer(0.5)(t).backward()
    np.testing.assert_allclose(w.grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)
