"""Embedding (lookup, scatter-added gradient, mask_zero, errors) and Masking."""
from __future__ import annotations

import numpy as np
import pytest

import grebe
from grebe import layers
from helpers import torch_or_none

torch = torch_or_none()


def test_lookup_and_weights():
    emb = layers.Embedding(7, 3)
    ids = np.array([[1, 6, 1], [0, 2, 5]])
    y = emb(grebe.tensor(ids))
    (W,) = emb.get_weights()
    assert W.shape == (7, 3) and np.abs(W).max() <= 0.05  # Keras's 'uniform': U(-0.05, 0.05)
    np.testing.assert_array_equal(y.numpy(), W[ids])
    assert y._keras_mask is None


def test_gradient_scatter_adds_repeated_indices():
    emb = layers.Embedding(5, 2)
    ids = np.array([[1, 3, 1], [1, 0, 4]])
    g = np.random.default_rng(0).standard_normal((2, 3, 2)).astype(np.float32)
    (emb(grebe.tensor(ids)) * grebe.tensor(g)).sum().backward()
    want = np.zeros((5, 2), np.float32)
    for idx, row in zip(ids.ravel(), g.reshape(-1, 2)):
        want[idx] += row
    np.testing.assert_allclose(emb.embeddings.grad, want, rtol=1e-6)
    if torch is not None:
        t = torch.nn.Embedding(5, 2)
        with torch.no_grad():
            t.weight.copy_(torch.tensor(emb.get_weights()[0]))
        (t(torch.tensor(ids)) * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(emb.embeddings.grad, t.weight.grad.numpy(), rtol=1e-6)


def test_mask_zero_and_errors():
    emb = layers.Embedding(4, 2, mask_zero=True)
    y = emb(np.array([[2, 0, 3]]))
    np.testing.assert_array_equal(y._keras_mask, [[True, False, True]])
    with pytest.raises(ValueError, match=r"index 4 is out of range \[0, 4\)"):
        emb(np.array([[4]]))
    with pytest.raises(TypeError, match="integer indices"):
        emb(np.array([[0.5]], np.float32))
    with pytest.raises(ValueError, match="input_dim=0"):
        layers.Embedding(0, 3)


def test_masking_layer():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]], np.float32)
    xt = grebe.tensor(x, requires_grad=True)
    y = layers.Masking(mask_value=0.0)(xt)
    np.testing.assert_array_equal(y._keras_mask, [[True, False, True]])
    np.testing.assert_array_equal(y.numpy(), x)
    y.sum().backward()
    np.testing.assert_array_equal(xt.grad, [[[1, 1], [0, 0], [1, 1]]])
    y2 = layers.Masking(mask_value=1.0)(np.ones((1, 2, 3), np.float32))
    assert not y2._keras_mask.any() and not y2.numpy().any()
