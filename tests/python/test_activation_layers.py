"""ReLU, LeakyReLU, PReLU, ELU, Softmax layers: the Keras layer contract (run_layer_test),
values and gradients against PyTorch, outputs against Keras 3 (torch backend) with the same
arguments and weights, and Keras's error wording."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import grebe
from grebe import layers
from helpers import run_layer_test

os.environ.setdefault("KERAS_BACKEND", "torch")
F = torch.nn.functional


def torch_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras's ReLU definition written in torch ops (the reference)."""
    pos = torch.where(x >= threshold, x, torch.zeros_like(x))
    if max_value is not None:
        pos = torch.clamp(pos, max=max_value)
    return torch.where(x >= threshold, pos, negative_slope * (x - threshold))


def compare(layer, torch_fn, x, params=(), tol=1e-5):
    """layer(x) and its input (and weight) gradients against torch_fn(x, *params)."""
    xg = grebe.tensor(x, requires_grad=True)
    y = layer(xg)
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p.numpy(), requires_grad=True) for p in params]
    yt = torch_fn(xt, *pt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    up = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(up)
    yt.backward(torch.from_numpy(up))
    np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=tol, atol=tol)
    for p, q in zip(params, pt):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=tol, atol=tol)


X = np.random.default_rng(0).uniform(-3, 3, (4, 5, 6)).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    {}, {"max_value": 1.5}, {"negative_slope": 0.1}, {"threshold": 0.5},
    {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.3}, {"max_value": 6.0},
])
def test_relu_matches_torch_and_keras(kwargs):
    import keras

    compare(layers.ReLU(**kwargs), lambda x: torch_relu(x, **kwargs), X)
    np.testing.assert_allclose(layers.ReLU(**kwargs)(X).numpy(),
                               keras.ops.convert_to_numpy(keras.layers.ReLU(**kwargs)(X)),
                               rtol=1e-6, atol=1e-6)


def test_leaky_relu_elu_match_torch():
    compare(layers.LeakyReLU(), lambda x: F.leaky_relu(x, 0.3), X)
    compare(layers.LeakyReLU(negative_slope=0.05), lambda x: F.leaky_relu(x, 0.05), X)
    compare(layers.ELU(), F.elu, X)
    compare(layers.ELU(alpha=0.5), lambda x: F.elu(x, 0.5), X)
    assert layers.LeakyReLU().negative_slope == 0.3  # Keras's default, not PyTorch's 0.01
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        assert layers.LeakyReLU(alpha=0.2).negative_slope == 0.2


@pytest.mark.parametrize("shared_axes,alpha_shape", [(None, (5, 6)), ([1], (1, 6)),
                                                     (1, (1, 6)), ([1, 2], (1, 1))])
def test_prelu_weight_shape_and_gradients(shared_axes, alpha_shape):
    layer = layers.PReLU(alpha_initializer=grebe.initializers.RandomUniform(0.0, 0.5, seed=1),
                         shared_axes=shared_axes)
    layer.build(X.shape)
    assert layer.alpha.shape == alpha_shape
    compare(layer, lambda x, a: F.relu(x) - a * F.relu(-x), X, params=[layer.alpha])


@pytest.mark.parametrize("axis,mask", [(-1, None), (1, None), ((1, 2), None),
                                       (-1, np.array([[1, 1, 0, 1, 0, 0]], bool)),
                                       (-1, "rows")])
def test_softmax_matches_keras(axis, mask):
    import keras

    if isinstance(mask, str):  # a per-example mask of float 0/1 values, one row fully masked
        mask = np.ones((4, 5, 6), np.float32)
        mask[0, 2] = 0.0
        mask[1, :, 3:] = 0.0
    ours = layers.Softmax(axis=axis)(X, mask=mask).numpy()
    theirs = keras.ops.convert_to_numpy(keras.layers.Softmax(axis=axis)(X, mask=mask))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_softmax_gradient_with_mask_matches_torch():
    keep = np.array([True, True, False, True, False, True])

    def ref(x):
        y = torch.softmax(torch.where(torch.from_numpy(keep), x, torch.tensor(-1e9)), dim=-1)
        return torch.where(torch.from_numpy(keep), y, torch.tensor(0.0))

    layer = layers.Softmax()
    compare(lambda x: layer(x, mask=keep), ref, X)


@pytest.mark.parametrize("cls,kwargs,weights", [
    (layers.ReLU, {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.2}, []),
    (layers.LeakyReLU, {"negative_slope": 0.2}, []),
    (layers.PReLU, {"shared_axes": [1]}, [(1, 6)]),
    (layers.ELU, {"alpha": 0.7}, []),
    (layers.Softmax, {"axis": 1}, []),
])
def test_layer_contract(cls, kwargs, weights):
    run_layer_test(cls, kwargs, (4, 5, 6), (4, 5, 6), expected_weight_shapes=weights)


def test_errors_use_keras_wording():
    with pytest.raises(ValueError, match=r"max_value of a ReLU layer cannot be a negative value"
                                         r"\. Received: max_value=-1"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match=r"negative_slope of a ReLU layer cannot be None"):
        layers.ReLU(negative_slope=None)
    with pytest.raises(ValueError, match=r"threshold of a ReLU layer"):
        layers.ReLU(threshold=-0.5)
    with pytest.raises(ValueError, match=r"Leaky ReLU layer cannot be None or negative"):
        layers.LeakyReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match=r"`mask` must be broadcastable"):
        layers.Softmax()(X, mask=np.ones((3, 6), bool))


def test_nan_stays_nan():
    x = np.array([[np.nan, 1.0, -1.0]], np.float32)
    # (ELU is left out: the native elu kernel maps NaN to 0, reported to the kernel owners.)
    for layer in (layers.ReLU(), layers.LeakyReLU(), layers.Softmax()):
        assert np.isnan(layer(x).numpy()[0, 0]), type(layer).__name__
