"""Dropout (op and layers): inverted scaling, statistics of the mask, identity in inference,
noise_shape, seeds and reproducibility, gradients, argument errors."""
import numpy as np
import pytest

import grebe
from grebe import layers, ops
from helpers import run_layer_test


def test_dropout_statistics_and_scaling():
    grebe.random.seed(0)
    x = np.ones((200, 500), np.float32)
    for rate in (0.1, 0.5, 0.8):
        y = ops.dropout(x, rate).numpy()
        kept = y != 0
        np.testing.assert_allclose(y[kept], 1.0 / (1.0 - rate), rtol=1e-6)
        # 100k Bernoulli draws: the kept fraction is within 5 sigma of 1 - rate
        sigma = np.sqrt(rate * (1 - rate) / x.size)
        assert abs(kept.mean() - (1 - rate)) < 5 * sigma
        assert abs(y.mean() - 1.0) < 5 * sigma / (1 - rate)


def test_dropout_gradient_is_the_mask():
    x = grebe.tensor(np.random.default_rng(0).standard_normal((4, 50)).astype(np.float32),
                     requires_grad=True)
    y = ops.dropout(x, 0.3, seed=3)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    mask = y.numpy() / x.numpy()
    np.testing.assert_allclose(x.grad, g * mask, rtol=1e-6)
    np.testing.assert_allclose(mask[mask != 0], 1 / 0.7, rtol=1e-5)


def test_seeds_reproduce():
    x = np.ones((8, 8), np.float32)
    a, b = ops.dropout(x, 0.5, seed=7).numpy(), ops.dropout(x, 0.5, seed=7).numpy()
    np.testing.assert_array_equal(a, b)  # an int seed: the same mask at every call
    grebe.random.seed(11)
    c = ops.dropout(x, 0.5).numpy()
    grebe.random.seed(11)
    np.testing.assert_array_equal(c, ops.dropout(x, 0.5).numpy())

    # A seeded layer draws a new mask at each call, the same sequence for the same seed.
    l1, l2 = layers.Dropout(0.5, seed=5), layers.Dropout(0.5, seed=5)
    m1 = [l1(x, training=True).numpy() for _ in range(2)]
    m2 = [l2(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(m1[0], m2[0])
    np.testing.assert_array_equal(m1[1], m2[1])
    assert not np.array_equal(m1[0], m1[1])


@pytest.mark.parametrize("training", [None, False, 0])
def test_dropout_layer_is_identity_in_inference(training):
    x = grebe.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    for layer in (layers.Dropout(0.5), layers.SpatialDropout1D(0.5),
                  layers.GaussianNoise(1.0), layers.GaussianDropout(0.5)):
        xi = x if not isinstance(layer, layers.SpatialDropout1D) else \
            grebe.tensor(np.ones((2, 3, 4), np.float32))
        assert layer(xi, training=training) is xi


def test_noise_shape_and_spatial_dropout_share_draws():
    grebe.random.seed(2)
    x = np.ones((4, 6, 6, 8), np.float32)
    y = layers.SpatialDropout2D(0.5)(x, training=True).numpy()
    per_map = y.reshape(4, 36, 8)
    assert (per_map == per_map[:, :1, :]).all()  # one draw per (sample, channel)
    assert 0 < (per_map[:, 0] == 0).sum() < 32
    y1 = layers.SpatialDropout1D(0.5)(x[:, :, 0, :], training=True).numpy()
    assert (y1 == y1[:, :1, :]).all()
    y2 = layers.Dropout(0.5, noise_shape=(None, 1, 6, 1))(x, training=True).numpy()
    assert (y2 == y2[:, :1, :, :1]).all()
    with pytest.raises(ValueError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(4, 2, 6, 8))(x, training=True)


def test_rate_validation():
    for bad in (-0.1, 1.0, 1.5, "0.5", None, True):
        with pytest.raises(ValueError, match="rate"):
            layers.Dropout(bad)
        with pytest.raises(ValueError, match="rate"):
            ops.dropout(np.ones(3, np.float32), bad)
    assert layers.Dropout(0)(np.ones(3, np.float32), training=True).numpy().tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="seed"):
        layers.Dropout(0.5, seed="x")
    with pytest.raises(ValueError, match=r"SpatialDropout2D: expected an input of rank 4"):
        layers.SpatialDropout2D(0.5)(np.ones((2, 3, 4), np.float32), training=True)


def test_gaussian_layers_statistics():
    grebe.random.seed(3)
    x = np.ones((400, 250), np.float32)
    y = layers.GaussianNoise(0.5)(x, training=True).numpy()
    assert abs(y.mean() - 1) < 0.01 and abs(y.std() - 0.5) < 0.01
    y = layers.GaussianDropout(0.2)(x, training=True).numpy()
    assert abs(y.mean() - 1) < 0.01 and abs(y.std() - 0.5) < 0.01  # sqrt(0.2 / 0.8) = 0.5


@pytest.mark.parametrize("cls,kwargs,shape", [
    (layers.Dropout, {"rate": 0.5, "seed": 1}, (2, 5)),
    (layers.Dropout, {"rate": 0.2, "noise_shape": (None, 1, 3)}, (2, 4, 3)),
    (layers.SpatialDropout1D, {"rate": 0.5}, (2, 4, 3)),
    (layers.SpatialDropout2D, {"rate": 0.5}, (2, 4, 4, 3)),
    (layers.GaussianNoise, {"stddev": 0.1, "seed": 2}, (2, 5)),
    (layers.GaussianDropout, {"rate": 0.1}, (2, 5)),
])
def test_regularization_layers(cls, kwargs, shape):
    run_layer_test(cls, kwargs, shape, shape, expected_num_trainable_weights=0)
    config = cls(**kwargs).get_config()
    assert all(config[k] == (tuple(v) if isinstance(v, tuple) else v) for k, v in kwargs.items())


def test_dropout_in_training_gets_gradient_through_mask():
    layer = layers.Dropout(0.5, seed=0)
    x = grebe.tensor(np.ones((3, 10), np.float32), requires_grad=True)
    y = layer(x, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.numpy())  # d(sum x*m)/dx = m = y for x = 1
