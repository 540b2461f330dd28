"""Real Keras 3 files both ways, checked against real Keras 3 (PyTorch backend): models of every
layer family built and saved by Keras load in grebe with the same outputs (1e-5), grebe's saves
load in Keras with the same outputs, a Keras model fine-tuned in grebe predicts the same back in
Keras, optimizer state moves, and what cannot move raises an error naming it."""
from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # no TensorFlow needed: torch is already the reference

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import grebe  # noqa: E402

K = keras.layers
# Keras's own variables warn about numpy 2's copy keyword; not grebe's concern here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _x(model, n=3, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = (n,) + tuple(t.shape[1:])
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 20, shape).astype(np.int32))
        else:
            xs.append(rng.normal(size=shape).astype(np.float32))
    return xs if len(xs) > 1 else xs[0]


def _randomize(model, seed=1):
    """Non-trivial weights everywhere (batch-norm statistics included)."""
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.uniform(0.5, 1.5, w.shape) if "variance" in v.path else
                        rng.normal(0, 0.3, w.shape)).astype(np.float32)
                       for w, v in zip(model.get_weights(), model.weights)])


def seq(*layers_, shape, dtype="float32"):
    return lambda: keras.Sequential([keras.Input(shape, dtype=dtype)] + list(layers_))


FAMILIES = {
    "dense": seq(K.Dense(5, activation="relu"), K.Dense(3, activation="softmax"), shape=(4,)),
    "conv2d_pool_bn": seq(K.Conv2D(4, 3, strides=2, padding="same"), K.BatchNormalization(),
                          K.Activation("relu"), K.MaxPooling2D(2), K.Conv2D(3, 2, dilation_rate=2),
                          K.GlobalAveragePooling2D(), shape=(11, 11, 2)),
    "conv1d_pool": seq(K.Conv1D(4, 3, padding="causal"), K.AveragePooling1D(2),
                       K.Conv1D(3, 3, padding="same"), K.GlobalMaxPooling1D(), shape=(12, 3)),
    "reshaping": seq(K.ZeroPadding2D(1), K.Cropping2D(((1, 0), (0, 1))), K.Rescaling(0.5),
                     K.Flatten(), K.Dropout(0.3), K.Reshape((-1, 2)), K.LayerNormalization(),
                     shape=(4, 4, 2)),
    "embedding_lstm": seq(K.Embedding(20, 6), K.LSTM(5, return_sequences=True), K.LSTM(4),
                          shape=(7,), dtype="int32"),
    "gru_simple_rnn": seq(K.GRU(5, return_sequences=True), K.GRU(4, reset_after=False,
                                                                 return_sequences=True),
                          K.SimpleRNN(3), shape=(6, 3)),
    "bidirectional_time_distributed": seq(K.Bidirectional(K.LSTM(4, return_sequences=True)),
                                          K.TimeDistributed(K.Dense(3)),
                                          K.Bidirectional(K.GRU(2), merge_mode="sum"),
                                          shape=(5, 3)),
}


def _functional():
    inner = keras.Sequential([keras.Input((6,)), K.Dense(4, activation="tanh")], name="inner")
    a, b = keras.Input((6,)), keras.Input((6,))
    da, db = K.Dense(6)(a), inner(b)
    merged = K.Concatenate()([K.Add()([da, K.Dense(6)(db)]), K.Multiply()([da, da]),
                              K.Maximum()([da, b]), K.Average()([da, b]), K.Subtract()([a, b])])
    return keras.Model([a, b], K.Dense(3, activation="softmax")(merged))


FAMILIES["functional_merges_nested"] = _functional


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_saved_models_load_in_grebe(family, tmp_path):
    km = FAMILIES[family]()
    _randomize(km)
    path = str(tmp_path / "k.keras")
    km.save(path)
    gm = grebe.load_model(path)
    x = _x(km)
    np.testing.assert_allclose(gm.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
    # .weights.h5 alone, into a grebe model of the same architecture
    km.save_weights(str(tmp_path / "k.weights.h5"))
    fresh = grebe.load_model(path)
    fresh.set_weights([np.zeros_like(w) for w in fresh.get_weights()])
    fresh.load_weights(str(tmp_path / "k.weights.h5"))
    for a, b in zip(fresh.get_weights(), km.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_grebe_saved_models_load_in_keras(family, tmp_path):
    km = FAMILIES[family]()
    _randomize(km, seed=3)
    km.save(str(tmp_path / "k.keras"))
    gm = grebe.load_model(str(tmp_path / "k.keras"))
    gm.save(str(tmp_path / "g.keras"))
    gm.save_weights(str(tmp_path / "g.weights.h5"))
    back = keras.saving.load_model(str(tmp_path / "g.keras"))
    x = _x(km, seed=5)
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                               gm.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    km.load_weights(str(tmp_path / "g.weights.h5"))     # Keras reads grebe's HDF5 layout
    for a, b in zip(km.get_weights(), gm.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fine_tuned_in_grebe_predicts_the_same_in_keras(tmp_path):
    km = keras.Sequential([keras.Input((8,)), K.Dense(16, activation="relu"),
                           K.Dense(3, activation="softmax")])
    km.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype(np.float32), rng.integers(0, 3, 64)
    km.fit(x, y, epochs=2, batch_size=16, verbose=0)
    km.save(str(tmp_path / "base.keras"))
    gm = grebe.load_model(str(tmp_path / "base.keras"))
    # The Adam state came along: grebe's optimizer variables equal Keras's.
    kvars = [np.asarray(v) for v in km.optimizer.variables]
    gvars = gm.optimizer.variables
    assert len(kvars) == len(gvars)
    for a, b in zip(gvars[2:], kvars[2:]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert int(gvars[0]) == int(kvars[0])
    before = gm.get_weights()
    gm.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, gm.get_weights()))
    gm.save(str(tmp_path / "tuned.keras"))
    back = keras.saving.load_model(str(tmp_path / "tuned.keras"))
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)), gm.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_what_cannot_move_is_named(tmp_path):
    km = keras.Sequential([keras.Input((4,)),
                           K.BatchNormalization(renorm=True, name="renormed")])
    km.save(str(tmp_path / "r.keras"))
    with pytest.raises(ValueError, match="'renormed': argument renorm=True"):
        grebe.load_model(str(tmp_path / "r.keras"))
    km = keras.Sequential([keras.Input((4,)), K.Lambda(lambda t: t * 2.0)])
    km.save(str(tmp_path / "l.keras"))
    with pytest.raises(ValueError, match="safe_mode"):
        grebe.load_model(str(tmp_path / "l.keras"))
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a Keras .keras archive"):
        grebe.load_model(str(tmp_path / "bad.keras"))
