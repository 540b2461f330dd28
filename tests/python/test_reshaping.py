"""Reshaping layers: Flatten, Reshape, ZeroPadding1D/2D, Cropping1D/2D — shapes, values,
gradients, Keras argument forms and errors."""
import os

import numpy as np
import pytest

import grebe
from grebe import layers
from helpers import run_layer_test


@pytest.mark.parametrize("cls,kwargs,in_shape,out_shape", [
    (layers.Flatten, {}, (2, 3, 4, 5), (2, 60)),
    (layers.Flatten, {}, (3, 7), (3, 7)),
    (layers.Reshape, {"target_shape": (4, 15)}, (2, 3, 4, 5), (2, 4, 15)),
    (layers.Reshape, {"target_shape": (-1, 3)}, (2, 3, 4), (2, 4, 3)),
    (layers.Reshape, {"target_shape": (6,)}, (2, 2, 3), (2, 6)),
    (layers.ZeroPadding1D, {}, (2, 5, 3), (2, 7, 3)),
    (layers.ZeroPadding1D, {"padding": (0, 3)}, (2, 5, 3), (2, 8, 3)),
    (layers.ZeroPadding2D, {}, (2, 4, 5, 3), (2, 6, 7, 3)),
    (layers.ZeroPadding2D, {"padding": 2}, (1, 4, 5, 1), (1, 8, 9, 1)),
    (layers.ZeroPadding2D, {"padding": (1, 0)}, (1, 4, 5, 1), (1, 6, 5, 1)),
    (layers.ZeroPadding2D, {"padding": ((1, 0), (2, 3))}, (1, 4, 5, 2), (1, 5, 10, 2)),
    (layers.Cropping1D, {}, (2, 5, 3), (2, 3, 3)),
    (layers.Cropping2D, {"cropping": ((1, 0), (0, 2))}, (2, 4, 5, 3), (2, 3, 3, 3)),
])
def test_reshaping_layers(cls, kwargs, in_shape, out_shape):
    run_layer_test(cls, kwargs, in_shape, out_shape, expected_num_trainable_weights=0,
                   expected_weight_shapes=[])


def test_flatten_values_and_gradient():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    xg = grebe.tensor(x, requires_grad=True)
    y = layers.Flatten()(xg)
    np.testing.assert_array_equal(y.numpy(), x.reshape(2, 12))
    g = np.random.default_rng(0).standard_normal((2, 12)).astype(np.float32)
    y.backward(g)
    np.testing.assert_array_equal(xg.grad, g.reshape(2, 3, 4))
    assert layers.Flatten().compute_output_shape((None, 3, None)) == (None, None)
    assert layers.Flatten()(np.zeros((5,), np.float32)).shape == (5, 1)


def test_reshape_values_gradient_and_errors():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    xg = grebe.tensor(x, requires_grad=True)
    y = layers.Reshape((3, -1))(xg)
    np.testing.assert_array_equal(y.numpy(), x.reshape(2, 3, 4))
    y.backward(np.ones((2, 3, 4), np.float32))
    np.testing.assert_array_equal(xg.grad, np.ones((2, 12)))
    assert layers.Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    with pytest.raises(ValueError, match=r"Reshape: cannot reshape an input of shape \(4, 5\) "
                                         r"\(20 values per sample\) to target_shape \(3, 7\)"):
        layers.Reshape((3, 7))(np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"target_shape \(3, -1\)"):
        layers.Reshape((3, -1))(np.zeros((2, 4, 5), np.float32))
    for bad in [(2, -1, -1), (0, 3), "abc", 3]:
        with pytest.raises(ValueError, match="target_shape"):
            layers.Reshape(bad)


def test_zero_padding_values_and_gradient():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 2)).astype(np.float32)
    xg = grebe.tensor(x, requires_grad=True)
    y = layers.ZeroPadding2D(((1, 2), (0, 1)))(xg)
    want = np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)))
    np.testing.assert_array_equal(y.numpy(), want)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    np.testing.assert_array_equal(xg.grad, g[:, 1:4, 0:4, :])

    x1 = grebe.tensor(np.ones((1, 2, 3), np.float32), requires_grad=True)
    y1 = layers.ZeroPadding1D((2, 1))(x1)
    np.testing.assert_array_equal(y1.numpy()[0, :, 0], [0, 0, 1, 1, 0])
    y1.sum().backward()
    np.testing.assert_array_equal(x1.grad, np.ones((1, 2, 3)))


def test_padding_and_cropping_argument_errors():
    for bad in [-1, (1, 2, 3), "a", ((1, 2), (3,)), (1.5, 1)]:
        with pytest.raises(ValueError, match="padding"):
            layers.ZeroPadding2D(bad)
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding1D((1, -1))
    with pytest.raises(ValueError, match=r"ZeroPadding2D: expected an input of rank 4"):
        layers.ZeroPadding2D()(np.zeros((1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="channels_last"):
        layers.ZeroPadding2D(data_format="channels_first")
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping1D((2, 2))(np.zeros((1, 4, 1), np.float32))


def test_cropping_gradient():
    x = grebe.tensor(np.ones((1, 4, 5, 1), np.float32), requires_grad=True)
    y = layers.Cropping2D(((1, 1), (2, 0)))(x)
    assert y.shape == (1, 2, 3, 1)
    y.sum().backward()
    want = np.zeros((1, 4, 5, 1), np.float32)
    want[:, 1:3, 2:5] = 1
    np.testing.assert_array_equal(x.grad, want)


@pytest.mark.parametrize("factor,fill_mode,interpolation", [
    ((0.1, 0.1), "constant", "bilinear"), ((-0.07, -0.07), "reflect", "bilinear"),
    ((0.25, 0.25), "nearest", "nearest"), ((0.13, 0.13), "wrap", "bilinear")])
def test_random_rotation_matches_keras(factor, fill_mode, interpolation):
    """A fixed angle (lower = upper) in every fill mode: the same pixels as Keras 3's layer;
    inference is the identity."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    x = np.random.default_rng(0).random((2, 9, 7, 3)).astype(np.float32)
    kwargs = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=0.3)
    ours = grebe.layers.RandomRotation(factor, **kwargs)
    theirs = keras.layers.RandomRotation(factor, **kwargs)
    np.testing.assert_allclose(ours(x, training=True).numpy(),
                               np.asarray(theirs(x, training=True)), atol=2e-6)
    np.testing.assert_array_equal(ours(x, training=False).numpy(), x)
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        grebe.layers.RandomRotation(0.1, fill_mode="mirror")
