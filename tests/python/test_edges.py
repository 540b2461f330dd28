"""Values that used to become silent garbage at the edges, and the messages for bad input:
None/objects/strings/complex in input arrays, float labels to the sparse cross-entropy op,
float64 weights that overflow float32, a softmax over one unit."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import grebe
from grebe import layers, ops, safetensors_io


def _model(units=3, activation="softmax"):
    model = grebe.Sequential([grebe.Input((4,)), layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


_BAD_INPUTS = {
    "none": (np.array([[1.0, None, 2.0, 3.0]] * 2, dtype=object), r"NoneType None at index \(0, 1\)"),
    "object": (np.array([[1.0, "a", 2.0, 3.0]] * 2, dtype=object), r"str 'a' at index \(0, 1\)"),
    "string": (np.array([["1", "2", "3", "4"]] * 2), r"dtype <U1"),
    "complex": (np.ones((2, 4), np.complex64), r"complex"),
}


@pytest.mark.parametrize("kind", sorted(_BAD_INPUTS))
def test_non_numeric_inputs_are_type_errors_naming_the_entry_point(kind):
    x, pattern = _BAD_INPUTS[kind]
    with pytest.raises(TypeError, match=pattern):
        grebe.tensor(x)
    layer = layers.Dense(2, name="dense_edge")
    with pytest.raises(TypeError, match=r"Dense 'dense_edge'.*" + pattern):
        layer(x)
    model = _model()
    y = np.eye(3, dtype=np.float32)[[0, 1]]
    with pytest.raises(TypeError, match=r"fit: x.*" + pattern):
        model.fit(x, y, verbose=0)
    with pytest.raises(TypeError, match=r"predict: x.*" + pattern):
        model.predict(x, verbose=0)
    with pytest.raises(TypeError, match=r"fit: y.*" + pattern):
        model.fit(np.ones((2, 4), np.float32), x[:, :3], verbose=0)


def test_object_arrays_of_numbers_still_work():
    x = np.array([[1, 2.5], [3, np.float64(4)]], dtype=object)
    np.testing.assert_array_equal(grebe.tensor(x).numpy(), [[1, 2.5], [3, 4]])


@pytest.mark.parametrize("labels", [[0.5, 1.0], [0.0, np.nan], [1.9, 0.0]])
def test_float_labels_are_refused_by_the_sparse_cross_entropy_op(labels):
    logits = grebe.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="sparse_softmax_cross_entropy.*integer class labels"):
        ops.sparse_softmax_cross_entropy(logits, np.array(labels))


def test_whole_float_labels_are_the_same_as_integers():
    logits = grebe.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    a = ops.sparse_softmax_cross_entropy(logits, np.array([1.0, 3.0, 0.0])).numpy()
    b = ops.sparse_softmax_cross_entropy(logits, np.array([1, 3, 0])).numpy()
    np.testing.assert_array_equal(a, b)


def test_float64_weights_that_overflow_float32_are_refused_on_set_and_load(tmp_path):
    model = _model()
    kernel, bias = model.get_weights()
    big = kernel.astype(np.float64)
    big[1, 2] = 1e300
    with pytest.raises(ValueError, match=r"kernel.*1e\+300 at index \(1, 2\) overflows float32"):
        model.layers[0].set_weights([big, bias])
    assert np.isfinite(model.get_weights()[0]).all()
    path = tmp_path / "w.weights.safetensors"
    name = model.layers[0].name
    safetensors_io.save_file({f"{name}/kernel": big, f"{name}/bias": bias}, path)
    with pytest.raises(ValueError, match=r"w\.weights\.safetensors.*kernel.*overflows float32"):
        model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], kernel)
    model.layers[0].set_weights([np.full_like(big, np.inf), bias])  # inf stays inf: honest
    assert np.isinf(model.get_weights()[0]).all()


def test_a_softmax_over_one_unit_warns_like_keras():
    x = np.ones((2, 4), np.float32)
    with pytest.warns(UserWarning, match="always return the value 1"):
        _model(units=1).predict(x, verbose=0)
    with pytest.warns(UserWarning, match="always return the value 1"):
        ops.softmax(grebe.tensor(np.ones((2, 1), np.float32)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model(units=3).predict(x, verbose=0)
        _model(units=1, activation="sigmoid").predict(x, verbose=0)
