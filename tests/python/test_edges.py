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


# ---- messages that name what went wrong ------------------------------------------------------
def _sparse_model():
    model = grebe.Sequential([grebe.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_label_out_of_range_names_its_sample_index_not_its_batch_position(shuffle):
    x = np.ones((40, 4), np.float32)
    y = np.zeros(40, np.int64)
    y[37] = 7
    with pytest.raises(ValueError, match=r"fit: .*received 7 .*sample 37 of y"):
        _sparse_model().fit(x, y, batch_size=16, shuffle=shuffle, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: .*received 7 .*sample 37 of y"):
        _sparse_model().evaluate(x, y, batch_size=16, verbose=0)


@pytest.mark.parametrize("epochs,error", [(2.7, TypeError), ("3", TypeError), (True, TypeError),
                                          (-1, ValueError)])
def test_bad_epochs_are_keras_style_errors(epochs, error):
    with pytest.raises(error, match=rf"fit: expected `epochs`.*Received: epochs={epochs!r}"):
        _sparse_model().fit(np.ones((4, 4), np.float32), np.zeros(4), epochs=epochs, verbose=0)


def test_numpy_integer_epochs_are_fine():
    h = _sparse_model().fit(np.ones((4, 4), np.float32), np.zeros(4), epochs=np.int64(2),
                            verbose=0)
    assert len(h.history["loss"]) == 2


def test_x_none_and_a_one_tuple_validation_data_name_fit():
    y = np.zeros(4)
    with pytest.raises(ValueError, match="fit: x is None"):
        _sparse_model().fit(None, y, verbose=0)
    with pytest.raises(ValueError, match="predict: x is None"):
        _sparse_model().predict(None, verbose=0)
    with pytest.raises(ValueError, match=r"fit: validation_data must be \(x_val, y_val\).*length 1"):
        _sparse_model().fit(np.ones((4, 4), np.float32), y, validation_data=(np.ones((2, 4)),),
                            verbose=0)


def test_backward_twice_says_the_graph_was_freed():
    t = grebe.tensor([1.0, 2.0], requires_grad=True)
    loss = (t * t).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(t.grad, [2.0, 4.0])  # unchanged by the failed call


def test_a_wrong_shaped_grad_assignment_is_refused():
    t = grebe.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"grad: expected shape \(2,\).*received \(3,\)"):
        t.grad = np.ones(3)
    t.grad = [0.5, 0.5]  # array-like of the right shape: stored as float32
    assert t.grad.dtype == np.float32
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad, [2.5, 4.5])


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Conv2D(2, 3, dilation_rate=10**9, padding="same", name="c2"), (1, 8, 8, 1)),
    (lambda: layers.Conv2D(2, 10**7, padding="same", name="c2"), (1, 8, 8, 1)),
    (lambda: layers.Conv1D(2, 3, dilation_rate=10**12, padding="causal", name="c1"), (1, 8, 1)),
    (lambda: layers.Conv1D(2, 3, dilation_rate=10**9, padding="same", name="c1"), (1, 8, 1)),
])
def test_huge_dilation_or_kernel_is_refused_naming_the_layer_before_allocating(make, shape):
    layer = make()
    with pytest.raises(ValueError, match=rf"Conv\dD '{layer.name}'.*dilation_rate"):
        layer(np.ones(shape, np.float32))
    if max(layer.kernel_size) > 3:
        return  # (the op-level call would need the huge kernel itself)
    with pytest.raises(ValueError, match="conv.d: kernel_size"):
        (ops.conv2d if len(shape) == 4 else ops.conv1d)(
            np.ones(shape, np.float32),
            np.ones(tuple(layer.kernel_size) + (1, 2), np.float32),
            padding=layer.padding, dilation_rate=layer.dilation_rate)


@pytest.mark.parametrize("make", [
    lambda: layers.MaxPooling2D(pool_size=10**9, padding="same"),
    lambda: layers.MaxPooling2D(2, strides=10**12),
    lambda: layers.AveragePooling1D(10**10, padding="same"),
    lambda: layers.Conv2D(2, 3, strides=10**12),
])
def test_huge_pool_sizes_and_strides_are_value_errors(make):
    layer = make()
    x = np.ones((1, 8, 8, 1) if "2D" in type(layer).__name__ else (1, 8, 1), np.float32)
    with pytest.raises(ValueError):
        layer(x)


def test_a_large_but_sane_same_conv_still_works():
    y = layers.Conv2D(2, 5, padding="same", dilation_rate=3)(np.ones((1, 2, 2, 1), np.float32))
    assert y.shape == (1, 2, 2, 2)
