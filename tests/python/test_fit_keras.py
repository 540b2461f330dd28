"""End to end with grebe's own layers, losses, metrics and optimizers, written as Keras code:
the digits classifier (loss falls, accuracy rises on real data), the functional API with
Dense, transfer learning with a frozen base, Dropout in fit vs predict, save/load."""
from __future__ import annotations

import numpy as np
import pytest

import grebe
from grebe import layers


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = grebe.datasets.digits.load_data(test_split=0.25, seed=0)
    return (x, y), (xt, yt)


def mlp(name=None):
    return grebe.Sequential([
        layers.Flatten(input_shape=(8, 8)),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def test_digits_classifier_keras_style(digits):
    (x, y), (xt, yt) = digits
    grebe.utils.set_random_seed(0)
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=12, batch_size=32, validation_split=0.1, verbose=0)
    h = history.history
    assert list(h) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["accuracy"][-1] > h["accuracy"][0] and h["val_accuracy"][-1] > 0.85
    loss, acc = model.evaluate(xt, yt, verbose=0)
    assert acc > 0.85
    probs = model.predict(xt, verbose=0)
    assert probs.shape == (len(xt), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(acc, (probs.argmax(1) == yt).mean(), rtol=1e-6)
    logits_loss = -np.log(probs[np.arange(len(yt)), yt].astype(np.float64)).mean()
    np.testing.assert_allclose(loss, logits_loss, rtol=1e-4)


def test_one_hot_targets_with_categorical_crossentropy(digits):
    (x, y), _ = digits
    model = mlp()
    model.compile(optimizer=grebe.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, grebe.utils.to_categorical(y, 10), epochs=3, batch_size=64, verbose=0)
    assert h.history["accuracy"][-1] > 0.5


def test_functional_two_inputs_shared_dense(digits):
    (x, y), _ = digits
    top, bottom = x[:, :4, :].reshape(-1, 32), x[:, 4:, :].reshape(-1, 32)
    a, b = grebe.Input((32,), name="top"), grebe.Input((32,), name="bottom")
    shared = layers.Dense(32, activation="relu", name="shared")
    h = layers.Concatenate()([shared(a), shared(b)])
    out = layers.Dense(10, activation="softmax")(h)
    model = grebe.Model([a, b], out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit({"top": top, "bottom": bottom}, y, epochs=6, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.8
    assert len(model.trainable_weights) == 4  # the shared Dense is one kernel + bias


def test_multi_output_named_losses(digits):
    (x, y), _ = digits
    inp = grebe.Input((8, 8))
    h = layers.Dense(32, activation="relu")(layers.Flatten()(inp))
    cls = layers.Dense(10, activation="softmax", name="digit")(h)
    ink = layers.Dense(1, name="ink")(h)
    model = grebe.Model(inp, {"digit": cls, "ink": ink})
    model.compile(optimizer="adam",
                  loss={"digit": "sparse_categorical_crossentropy", "ink": "mse"},
                  loss_weights={"digit": 1.0, "ink": 0.1}, metrics={"digit": ["accuracy"]})
    targets = {"digit": y, "ink": x.mean(axis=(1, 2))[:, None]}
    hist = model.fit(x, targets, epochs=3, batch_size=32, verbose=0)
    assert set(hist.history) == {"loss", "digit_loss", "ink_loss", "digit_accuracy"}
    d = model.evaluate(x, targets, verbose=0, return_dict=True)
    np.testing.assert_allclose(d["loss"], d["digit_loss"] + 0.1 * d["ink_loss"], rtol=1e-5)


def test_subclassed_with_dense_and_dropout(digits):
    (x, y), _ = digits

    class Net(grebe.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.flat = layers.Flatten()
            self.hidden = layers.Dense(64, activation="relu")
            self.drop = layers.Dropout(0.3)
            self.out = layers.Dense(10, activation="softmax")

        def call(self, inputs, training=None):
            return self.out(self.drop(self.hidden(self.flat(inputs)), training=training))

    model = Net()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.8
    p1, p2 = model.predict(x[:50], verbose=0), model.predict(x[:50], verbose=0)
    np.testing.assert_array_equal(p1, p2)  # Dropout is off at inference


def test_transfer_learning_frozen_base(digits):
    (x, y), _ = digits
    grebe.utils.set_random_seed(1)
    base = mlp(name="base")
    base.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    base.fit(x, y, epochs=6, verbose=0)
    features = grebe.Model(base.input, base.layers[-2].output)
    features.trainable = False
    frozen = [w.copy() for w in features.get_weights()]
    inp = grebe.Input((8, 8))
    out = layers.Dense(10, activation="softmax", name="new_head")(features(inp, training=False))
    model = grebe.Model(inp, out)
    assert len(model.trainable_weights) == 2
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=3, verbose=0)
    for a, b in zip(frozen, features.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.evaluate(x, y, verbose=0)[1] > 0.8


def test_save_and_load_roundtrip(tmp_path, digits):
    (x, y), (xt, _) = digits
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "digits.grebe"
    model.save(str(path))
    again = grebe.load_model(str(path))
    assert isinstance(again, grebe.Sequential)
    np.testing.assert_array_equal(again.predict(xt, verbose=0), model.predict(xt, verbose=0))
    # training continues from the same optimizer state
    grebe.random.seed(5)
    model.fit(x, y, epochs=1, verbose=0)
    grebe.random.seed(5)
    again.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    wpath = tmp_path / "w.weights"
    model.save_weights(str(wpath))
    fresh = mlp()
    fresh.load_weights(str(wpath))
    np.testing.assert_array_equal(fresh.predict(xt, verbose=0), model.predict(xt, verbose=0))


def test_functional_save_and_load(tmp_path):
    a, b = grebe.Input((3,), name="sa"), grebe.Input((2,), name="sb")
    h = layers.Concatenate()([layers.Dense(4, activation="tanh")(a), b])
    model = grebe.Model([a, b], layers.Dense(1)(h))
    path = tmp_path / "f.grebe"
    model.save(str(path))
    again = grebe.load_model(str(path))
    xa = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    xb = np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_array_equal(again.predict([xa, xb], verbose=0),
                                  model.predict([xa, xb], verbose=0))


class Head(grebe.Model):
    """A subclassed model with no get_config: Keras's auto-config records its arguments."""

    def __init__(self, units=16, classes=10, **kwargs):
        super().__init__(**kwargs)
        self.flat = layers.Flatten()
        self.hidden = layers.Dense(units, activation="relu")
        self.out = layers.Dense(classes, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(self.flat(x)))


def test_subclassed_model_auto_config_save_and_load(tmp_path, digits):
    (x, y), (xt, _) = digits
    model = Head(units=24, name="head")
    # as Keras: the arguments given (defaults are not recorded)
    assert model.get_config() == {"name": "head", "trainable": True, "units": 24}
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "head.grebe"))
    again = grebe.load_model(str(tmp_path / "head.grebe"), custom_objects={"Head": Head})
    assert isinstance(again, Head) and again.hidden.units == 24
    np.testing.assert_array_equal(again.predict(xt, verbose=0), model.predict(xt, verbose=0))


def _cnn_weights_after_fit(threads, x, y):
    grebe.set_num_threads(threads)
    grebe.utils.set_random_seed(42)
    model = grebe.Sequential([
        layers.Conv2D(16, kernel_size=(3, 3), activation="relu", input_shape=(16, 16, 1)),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=64, validation_split=0.2, verbose=0)
    return model.get_weights()


def test_cnn_fit_is_bitwise_equal_for_1_and_2_threads():
    (x, y), _ = grebe.datasets.digits.load_data(size=16, channels=1, seed=0)
    previous = grebe.get_num_threads()
    try:
        one = _cnn_weights_after_fit(1, x[:640], y[:640])
        two = _cnn_weights_after_fit(2, x[:640], y[:640])
    finally:
        grebe.set_num_threads(previous)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
