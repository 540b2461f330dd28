# The model is keras-io's "Timeseries classification from scratch" (hfawaz; Copyright the Keras
# authors, Apache License 2.0, http://www.apache.org/licenses/LICENSE-2.0), with fewer filters,
# on MNIST-1D instead of FordA.
"""BatchNormalization trained step by step against real Keras 3 (torch backend): the same
initial weights and the same batches, then the moving statistics, the inference outputs
(predict, evaluate) and every weight must agree after N steps — the check that separates a
training-mode difference from an inference-path one."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = grebe.datasets.mnist1d.load_data(num_samples=600, as_sequence=True)
    return x, y, xt, yt


def build(lib, bn_kwargs, filters=16):
    L = lib.layers
    inp = lib.Input((40, 1))
    h = inp
    for _ in range(3):
        h = L.Conv1D(filters, 3, padding="same")(h)
        h = L.BatchNormalization(**bn_kwargs)(h)
        h = L.Activation("relu")(h)
    h = L.GlobalAveragePooling1D()(h)
    return lib.Model(inp, L.Dense(10, activation="softmax")(h))


@pytest.mark.parametrize("bn_kwargs", [{}, {"momentum": 0.9, "epsilon": 1e-2},
                                       {"center": False, "scale": False}])
def test_moving_statistics_and_inference_match_keras_after_n_steps(keras, data, bn_kwargs):
    x, y, xt, yt = data
    km, gm = build(keras, bn_kwargs), build(grebe, bn_kwargs)
    gm.set_weights(km.get_weights())
    for m, lib in ((km, keras), (gm, grebe)):
        m.compile(optimizer=lib.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    for _ in range(25):
        idx = rng.choice(len(x), 32, replace=False)
        k_loss = km.train_on_batch(x[idx], y[idx])
        g_loss = gm.train_on_batch(x[idx], y[idx])
        np.testing.assert_allclose(g_loss, k_loss, rtol=2e-3)
    names = [w.name for w in gm.weights]
    kws, gws = dict(zip(names, km.get_weights())), dict(zip(names, gm.get_weights()))
    for name in names:
        kw, gw = kws[name], gws[name]
        if "moving_mean" in name:  # in units of the channel's spread, what inference divides by
            spread = np.sqrt(kws[name.replace("moving_mean", "moving_variance")])
            assert np.abs(gw - kw).max() / spread.min() < 5e-3, name
        elif "moving_variance" in name:
            np.testing.assert_allclose(gw, kw, rtol=5e-3, err_msg=name)
        elif not (name.endswith("/bias") and "conv1d" in name):
            # (a bias before BatchNormalization gets only rounding noise as its gradient).
            # Adam moves each weight by up to lr = 1e-3 a step; 25 steps agree to 2% of that.
            np.testing.assert_allclose(gw, kw, atol=5e-4, err_msg=name)
    np.testing.assert_allclose(gm.predict(xt, verbose=0), km.predict(xt, verbose=0),
                               atol=2e-3)
    np.testing.assert_allclose(gm.evaluate(xt, yt, verbose=0), km.evaluate(xt, yt, verbose=0),
                               rtol=5e-3, atol=5e-3)


def test_one_update_follows_keras_formula(data):
    """moving = moving * momentum + batch * (1 - momentum), with the biased batch variance."""
    x = data[0][:32]
    bn = grebe.layers.BatchNormalization(momentum=0.8, epsilon=1e-3)
    bn.build(x.shape)
    bn.moving_mean.data[...] = 0.5
    bn.moving_variance.data[...] = 2.0
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * 0.8 + x.mean(axis=(0, 1)) * 0.2,
                               rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               2.0 * 0.8 + x.var(axis=(0, 1)) * 0.2, rtol=1e-5)
    out = bn(x, training=False).numpy()
    ref = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_conv_bias_gradient_before_batchnorm_is_rounding_noise_below_torchs(keras, data):
    """The bias of a Conv1D in front of a BatchNormalization has a true gradient of 0 (the
    normalization removes any shift); what it gets is rounding noise, which Adam (eps 1e-7)
    turns into a real drift of the bias that the moving mean must chase. grebe sums the conv
    bias gradient in double and evaluates BatchNorm's dx in double (its column sums cancel), so
    its noise must stay well below Keras-on-torch's on the same weights and batch. Before that,
    grebe's was 1.8x torch's (float running sums in the conv's bias reduction, and BatchNorm's
    float-rounded mean and dbeta / M), and its conv biases drifted 1.8x as far per epoch."""
    import torch

    x, y = data[0], data[1]
    rms = lambda a: float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))  # noqa: E731
    ratios = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        km, gm = build(keras, {}, filters=32), build(grebe, {}, filters=32)
        gm.set_weights(km.get_weights())
        idx = np.random.default_rng(seed).choice(len(x), 32, replace=False)
        out = km(torch.tensor(x[idx]), training=True)
        keras.losses.sparse_categorical_crossentropy(torch.tensor(y[idx]), out).mean().backward()
        out = gm(grebe.tensor(x[idx]), training=True)
        grebe.losses.sparse_categorical_crossentropy(grebe.tensor(y[idx]), out).mean().backward()
        convs = lambda m: [la for la in m.layers if type(la).__name__ == "Conv1D"]  # noqa: E731
        k_noise = [rms(la.bias.value.grad.numpy()) for la in convs(km)]
        g_noise = [rms(la.bias.grad) for la in convs(gm)]
        g_kernel = [rms(la.kernel.grad) for la in convs(gm)]
        assert all(k > 0 for k in g_kernel)  # the conv layers do get real gradients
        ratios.append(np.array(g_noise) / np.array(k_noise))
    ratio = np.mean(ratios, axis=0)
    assert np.all(ratio < 0.5), f"grebe / torch conv-bias gradient noise per layer: {ratio}"
