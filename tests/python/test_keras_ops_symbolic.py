"""grebe.ops on symbolic KerasTensors: functional models built with ops calls and operators
compute what the same ops compute eagerly, train through them, and rebuild from their config."""
from __future__ import annotations

import numpy as np

import grebe
from grebe import layers, ops


def _model():
    inp = grebe.Input((4,))
    h = layers.Dense(3, name="d")(inp)
    a = ops.add(h, 1.0)
    onehot = ops.one_hot(ops.argmax(a, axis=-1), 3)
    e = ops.sum(onehot * h + ops.shape(h)[1], axis=-1, keepdims=True)
    values, indices = ops.top_k(h, 2)
    return grebe.Model(inp, [e, ops.tanh(values) * 2.0, indices]), (a, onehot, e, values, indices)


def test_symbolic_ops_record_shapes_and_dtypes():
    _, (a, onehot, e, values, indices) = _model()
    assert a.shape == (None, 3) and a.dtype == "float32"
    assert onehot.shape == (None, 3)
    assert e.shape == (None, 1)
    assert values.shape == (None, 2) and indices.dtype == "int32"
    assert ops.shape(a) == (None, 3)


def test_functional_model_with_ops_matches_eager_ops():
    model, _ = _model()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    e, v, i = model.predict(x, verbose=0)
    w, b = model.get_layer("d").get_weights()
    h = x @ w + b
    ref = (np.eye(3)[np.argmax(h + 1, -1)] * h + 3).sum(-1, keepdims=True)
    np.testing.assert_allclose(e, ref, rtol=1e-5, atol=1e-5)
    top = -np.sort(-h, axis=-1)[:, :2]
    np.testing.assert_allclose(v, np.tanh(top) * 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(i, np.argsort(-h, axis=-1)[:, :2])


def test_gradients_flow_through_symbolic_ops_and_config_round_trips():
    inp = grebe.Input((3,))
    h = layers.Dense(2)(inp)
    out = ops.sum(ops.square(ops.sin(h)), axis=-1, keepdims=True)
    model = grebe.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
    before = model.get_weights()[0].copy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((8, 1), np.float32), epochs=1, verbose=0)
    assert not np.allclose(model.get_weights()[0], before)
    clone = grebe.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_numpy_and_python_inputs_keep_keras_dtypes():
    assert ops.add([1, 2], [3, 4]).dtype == np.int32
    assert ops.add(np.int32(1), [0.5]).dtype == np.float32
    assert ops.mean([1, 2]).dtype == np.float32
    assert ops.argmax(np.array([[1.0, 3.0]]), axis=-1).dtype == np.int32
    assert ops.equal([1, 2], 2).dtype == bool
    assert ops.shape(np.zeros((2, 3))) == (2, 3)
    assert ops.convert_to_numpy(ops.arange(3)).tolist() == [0, 1, 2]


def test_tensor_operators_keep_integer_dtypes():
    a = ops.arange(4)
    for r, want in ((a * 2, [0, 2, 4, 6]), (1 - a, [1, 0, -1, -2]), (a + a, [0, 2, 4, 6]),
                    (a ** 2, [0, 1, 4, 9])):
        assert r.dtype == np.int32 and r.numpy().tolist() == want
    assert (a + 0.5).dtype == np.float32 and (a / 2).dtype == np.float32
