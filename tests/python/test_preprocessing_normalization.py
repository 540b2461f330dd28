"""layers.Normalization against real Keras 3 (torch backend): adapt over arrays and batches,
kept axes, invert, mean/variance given, Keras's weights (mean, variance, count); its input
gradient by finite differences; saving; bad arguments."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe
from grebe import layers as L
from helpers import check_op, run_layer_test


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


def np_(t):
    return np.asarray(t.detach().cpu()) if hasattr(t, "detach") else np.asarray(t)


X = np.random.default_rng(0).normal(3.0, 2.0, (6, 5, 4, 3)).astype(np.float32)


@pytest.mark.parametrize("kwargs", [{}, {"axis": (1, 3)}, {"axis": None}, {"invert": True},
                                    {"axis": 1}])
@pytest.mark.parametrize("batched", [False, True])
def test_adapt_and_call_match_keras(keras, kwargs, batched):
    ours, theirs = L.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    # grebe adapts over batches (merging running statistics) or the whole array; Keras's adapt
    # over an iterable of batches needs tf.data (TensorFlow), so Keras always sees the whole
    # array: the batched statistics must equal the whole-data ones.
    ours.adapt([X[:2], X[2:5], X[5:]] if batched else X)
    theirs.adapt(X)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a, np_(b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours(X)), np_(theirs(X)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mean,variance,axis", [([1.0, 2.0, 3.0], [4.0, 0.0, 9.0], -1),
                                                (2.0, 3.0, -1),
                                                ([[1.0, 2.0, 3.0]] * 4, [[2.0, 3.0, 4.0]] * 4,
                                                 (2, 3))])
def test_given_mean_and_variance_match_keras(keras, mean, variance, axis):
    ours = L.Normalization(axis=axis, mean=mean, variance=variance)
    theirs = keras.layers.Normalization(axis=axis, mean=mean, variance=variance)
    np.testing.assert_allclose(np.asarray(ours(X)), np_(theirs(X)), rtol=1e-5, atol=1e-5)
    assert ours.get_weights() == [] and theirs.get_weights() == []


def test_input_gradient_by_finite_differences():
    layer = L.Normalization(mean=[1.0, -2.0], variance=[4.0, 0.25])
    check_op(lambda x: layer(x), lambda x: (x - np.array([1.0, -2.0])) / np.array([2.0, 0.5]),
             [(3, 2)])


def test_run_layer_test_config_and_saving(tmp_path, keras):
    run_layer_test(L.Normalization, {"mean": [0.5, 1.0, 2.0], "variance": [1.0, 2.0, 4.0]},
                   (2, 4, 3), (2, 4, 3), expected_weight_shapes=[])
    run_layer_test(L.Normalization, {"axis": (1, 2)}, (2, 4, 3), (2, 4, 3),
                   expected_weight_shapes=[(4, 3), (4, 3), ()],
                   expected_num_non_trainable_weights=3)
    norm = L.Normalization()
    norm.adapt(X)
    model = grebe.Sequential([grebe.Input(X.shape[1:]), norm, L.Flatten(), L.Dense(2)])
    y = model.predict(X, verbose=0)
    model.save(tmp_path / "m.grebe")
    np.testing.assert_allclose(grebe.load_model(tmp_path / "m.grebe").predict(X, verbose=0), y,
                               rtol=1e-6)
    # Keras's weights file (mean, variance and the int count) loads into grebe.
    kn = keras.layers.Normalization()
    kn.adapt(X)
    km = keras.Sequential([keras.Input(X.shape[1:]), kn, keras.layers.Flatten(),
                           keras.layers.Dense(2)])
    km.save_weights(tmp_path / "k.weights.h5")
    model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(model.predict(X, verbose=0), np_(km.predict(X, verbose=0)),
                               rtol=1e-4, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        L.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="same shape"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match=r"range \[-ndim, ndim\)"):
        L.Normalization(axis=5)(X)
    norm = L.Normalization()
    norm.adapt(X)
    with pytest.raises(ValueError, match="incompatible shape"):
        norm.adapt(X[..., :2])
    with pytest.raises(ValueError, match="empty"):
        L.Normalization().adapt([])
    with pytest.raises(ValueError, match="cannot change"):
        L.Normalization(mean=1.0, variance=1.0).adapt(X)
