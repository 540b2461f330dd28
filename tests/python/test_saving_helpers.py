"""Keras's saving helpers under their names (grebe.saving.*, grebe.models.*) and the train-step
protocol: custom functions and layers round-trip through save/load_model with custom_objects=,
a scope or registration; to_json/model_from_json and clone_model; train_step receives the batch
as given; callbacks get logs dicts; metrics are logged under the name written."""
import json

import numpy as np
import pytest

import grebe
from grebe import layers, saving


def _square(x):
    return x * x


def _model(act):
    inputs = grebe.Input((4,))
    out = layers.Dense(2, activation=act, name="d")(inputs)
    return grebe.Model(inputs, out)


def test_custom_activation_round_trip_needs_custom_objects(tmp_path):
    model = _model(_square)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(ValueError, match="custom_objects="):
        grebe.models.load_model(path)
    again = grebe.models.load_model(path, custom_objects={"_square": _square})
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with saving.custom_object_scope({"_square": _square}):
        again = saving.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_registered_layer_function_and_loss_round_trip(tmp_path):
    @saving.register_keras_serializable(package="test_pkg")
    def cube(x):
        return x * x * x

    @saving.register_keras_serializable(package="test_pkg")
    class Scale(layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    @saving.register_keras_serializable(package="test_pkg")
    def my_loss(y_true, y_pred):
        return grebe.ops.mean(grebe.ops.square(y_pred - y_true), axis=-1)

    assert saving.get_custom_objects()["test_pkg>cube"] is cube
    assert saving.get_registered_name(Scale) == "test_pkg>Scale"
    inputs = grebe.Input((3,))
    out = layers.Dense(1, activation=cube)(Scale(0.5)(inputs))
    model = grebe.Model(inputs, out)
    model.compile(optimizer="sgd", loss=my_loss)
    x = np.ones((2, 3), np.float32)
    model.fit(x, np.zeros((2, 1), np.float32), verbose=0)
    model.save(tmp_path / "r.keras")
    again = grebe.models.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert again.evaluate(x, np.zeros((2, 1)), verbose=0) == pytest.approx(
        model.evaluate(x, np.zeros((2, 1)), verbose=0))


def test_serialize_keras_object_round_trips():
    reg = grebe.regularizers.L2(0.25)
    cfg = saving.serialize_keras_object(reg)
    assert cfg["class_name"] == "L2" and json.dumps(cfg)
    back = saving.deserialize_keras_object(cfg)
    w = np.ones((2, 2), np.float32)
    assert float(back(grebe.tensor(w)).data) == pytest.approx(float(reg(grebe.tensor(w)).data))
    dense = saving.deserialize_keras_object(saving.serialize_keras_object(layers.Dense(3)))
    assert isinstance(dense, layers.Dense) and dense.units == 3
    arr = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        saving.deserialize_keras_object(saving.serialize_keras_object(arr)), arr)
    assert saving.deserialize_keras_object(
        saving.serialize_keras_object(_square), custom_objects={"_square": _square}) is _square
    with pytest.raises(ValueError, match="Could not locate function"):
        saving.deserialize_keras_object(saving.serialize_keras_object(_square))


def test_to_json_model_from_json_and_clone_model():
    model = grebe.Sequential([grebe.Input((5,)), layers.Dense(3, activation="relu"),
                              layers.Dense(1)])
    again = grebe.models.model_from_json(model.to_json())
    assert [w.shape for w in again.get_weights()] == [w.shape for w in model.get_weights()]
    clone = grebe.models.clone_model(model)
    assert clone.layers[0] is not model.layers[0]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    custom = grebe.models.clone_model(
        model, clone_function=lambda la: la.__class__.from_config(la.get_config()))
    assert custom.count_params() == model.count_params()


class _Recorder(grebe.Model):
    seen = []

    def train_step(self, data):
        _Recorder.seen.append(tuple(type(d).__name__ for d in data) if isinstance(data, tuple)
                              else type(data).__name__)
        return super().train_step(data)


@pytest.mark.parametrize("sw, expect", [(None, 2), (np.ones(8), 3)])
def test_train_step_gets_the_batch_as_given(sw, expect):
    inputs = grebe.Input((2,))
    model = _Recorder(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    _Recorder.seen = []
    model.fit(np.ones((8, 2)), np.ones((8, 1)), sample_weight=sw, batch_size=4, verbose=0)
    assert [len(s) for s in _Recorder.seen] == [expect, expect]


def test_callbacks_get_dicts_and_metric_names_as_written():
    got = {}

    class Spy(grebe.callbacks.Callback):
        def on_train_begin(self, logs=None):
            got["train_begin"] = logs

        def on_epoch_begin(self, epoch, logs=None):
            got["epoch_begin"] = logs

        def on_predict_begin(self, logs=None):
            got["predict_begin"] = logs

    model = grebe.Sequential([grebe.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mean_squared_error"])
    hist = model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0, callbacks=[Spy()])
    model.predict(np.ones((2, 3)), verbose=0, callbacks=[Spy()])
    assert got == {"train_begin": {}, "epoch_begin": {}, "predict_begin": {}}
    assert sorted(hist.history) == ["loss", "mae", "mean_squared_error"]
