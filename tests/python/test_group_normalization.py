"""GroupNormalization and UnitNormalization: the Keras layer contract (run_layer_test), values
against Keras 3 (torch backend) with the same weights, values and gradients against PyTorch's
group_norm / normalize, and Keras's error wording."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import grebe
from grebe import layers
from helpers import run_layer_test

os.environ.setdefault("KERAS_BACKEND", "torch")
X = np.random.default_rng(0).standard_normal((3, 5, 6, 8)).astype(np.float32)


@pytest.mark.parametrize("groups", [1, 2, 4, 8, -1])
def test_group_norm_matches_keras(groups):
    import keras

    ours, theirs = layers.GroupNormalization(groups=groups), \
        keras.layers.GroupNormalization(groups=groups)
    ours(X)
    theirs.build(X.shape)
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours(X).numpy(), keras.ops.convert_to_numpy(theirs(X)),
                               rtol=1e-4, atol=1e-5)


def test_group_norm_gradients_match_torch():
    layer = layers.GroupNormalization(groups=4, epsilon=1e-5)
    layer.build(X.shape)
    rng = np.random.default_rng(2)
    layer.set_weights([rng.standard_normal(8).astype(np.float32) for _ in range(2)])
    xg = grebe.tensor(X, requires_grad=True)
    y = layer(xg)
    xt = torch.tensor(X, requires_grad=True)
    g, b = (torch.tensor(w, requires_grad=True) for w in layer.get_weights())
    yt = torch.nn.functional.group_norm(xt.permute(0, 3, 1, 2), 4, g, b, 1e-5).permute(0, 2, 3, 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(up)
    yt.backward(torch.from_numpy(up))
    np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(layer.gamma.grad, g.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(layer.beta.grad, b.grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_unit_norm_matches_keras_and_torch_gradient(axis):
    import keras

    np.testing.assert_allclose(layers.UnitNormalization(axis)(X).numpy(),
                               keras.ops.convert_to_numpy(keras.layers.UnitNormalization(axis)(X)),
                               rtol=1e-5, atol=1e-6)
    xg = grebe.tensor(X, requires_grad=True)
    layers.UnitNormalization(axis)(xg).sum().backward()
    xt = torch.tensor(X, requires_grad=True)
    dims = tuple(axis) if isinstance(axis, list) else axis
    (xt / xt.square().sum(dim=dims, keepdim=True).sqrt()).sum().backward()
    np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_unit_norm_of_zeros_is_zero():
    assert not np.isnan(layers.UnitNormalization()(np.zeros((2, 3), np.float32)).numpy()).any()


@pytest.mark.parametrize("cls,kwargs,weights", [
    (layers.GroupNormalization, {"groups": 2}, [(8,), (8,)]),
    (layers.GroupNormalization, {"groups": 4, "center": False}, [(8,)]),
    (layers.UnitNormalization, {"axis": [1, 2]}, []),
])
def test_layer_contract(cls, kwargs, weights):
    run_layer_test(cls, kwargs, X.shape, X.shape, expected_weight_shapes=weights, rtol=1e-4,
                   atol=1e-5)


def test_errors_use_keras_wording():
    with pytest.raises(ValueError, match=r"Number of groups \(16\) cannot be more than the "
                                         r"number of channels \(8\)"):
        layers.GroupNormalization(groups=16)(X)
    with pytest.raises(ValueError, match=r"Number of groups \(3\) must be a multiple"):
        layers.GroupNormalization(groups=3)(X)
    with pytest.raises(TypeError, match=r"Invalid value for `axis`"):
        layers.UnitNormalization(axis="x")
