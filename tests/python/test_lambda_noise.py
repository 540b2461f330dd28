"""Lambda (functions stored by name, safe loading), AlphaDropout, ActivityRegularization:
the Keras layer contract, values against Keras 3's definitions, and save/load."""
from __future__ import annotations

import os

import numpy as np
import pytest

import grebe
from grebe import layers
from helpers import run_layer_test

os.environ.setdefault("KERAS_BACKEND", "torch")


@layers.register_serializable(package="test_lambda")
def scaled_tanh(x, scale=1.0):
    return grebe.ops.tanh(x) * scale


def test_lambda_contract_and_arguments():
    run_layer_test(layers.Lambda, {"function": scaled_tanh, "arguments": {"scale": 2.0}},
                   (2, 3), (2, 3))
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    y = layers.Lambda(scaled_tanh, arguments={"scale": 3.0})(x).numpy()
    np.testing.assert_allclose(y, 3.0 * np.tanh(x), rtol=1e-6)
    assert layers.Lambda(scaled_tanh, output_shape=(7,)).compute_output_shape((None, 3)) == \
        (None, 7)


def test_lambda_saves_by_name_and_loads(tmp_path):
    model = grebe.Sequential([layers.Dense(3, input_shape=(2,)), layers.Lambda(scaled_tanh),
                              layers.Lambda(grebe.ops.relu)])
    path = str(tmp_path / "m.grebe")
    model.save(path)
    again = grebe.load_model(path)
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_lambda_of_a_python_lambda_needs_the_function_to_load(tmp_path):
    model = grebe.Sequential([layers.Dense(3, input_shape=(2,)),
                              layers.Lambda(lambda t: t + 1.0)])
    path = str(tmp_path / "m.grebe")
    model.save(path)
    with pytest.raises(ValueError, match=r"stores Lambda functions by name, never as code"):
        grebe.load_model(path)
    again = grebe.load_model(path, custom_objects={"<lambda>": lambda t: t + 1.0})
    x = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_bytecode_lambda_is_refused_even_without_safe_mode():
    config = {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}},
              "output_shape": None, "arguments": {}}
    with pytest.raises(ValueError, match=r"disallowed by default.*safe_mode=False"):
        layers.Lambda.from_config(config)
    with pytest.raises(ValueError, match=r"never executes bytecode"):
        layers.Lambda.from_config(config, safe_mode=False)


def test_alpha_dropout_keeps_selu_statistics_and_matches_keras_formula():
    layer = layers.AlphaDropout(0.2, seed=3)
    x = np.random.default_rng(0).standard_normal((400, 500)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)       # inference: identity
    y = layer(x, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1.0) < 0.02
    # Keras's definition: a * (x * keep + alpha_p * (1 - keep)) + b.
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.2) * (1 + 0.2 * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * 0.2
    kept = np.isclose(y, a * x + b, atol=1e-5)
    np.testing.assert_allclose(y[~kept], a * alpha_p + b, rtol=1e-5)
    assert 0.17 < 1 - kept.mean() < 0.23
    run_layer_test(layers.AlphaDropout, {"rate": 0.3, "seed": 1}, (2, 5), (2, 5))


def test_activity_regularization_adds_keras_penalty_to_the_loss():
    layer = layers.ActivityRegularization(l1=0.01, l2=0.1)
    x = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    (penalty,) = layer.losses
    assert float(penalty.item()) == pytest.approx(0.01 * 6.5 + 0.1 * 14.25, rel=1e-6)
    model = grebe.Sequential([layers.Dense(2, input_shape=(2,)), layer])
    model(x)
    assert len(model.losses) == 1   # the model's loss includes the penalty of its sublayer
    run_layer_test(layers.ActivityRegularization, {"l1": 0.1}, (2, 3), (2, 3))


def test_activity_regularization_shrinks_activations_in_training():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    norms = []
    for l2 in (0.0, 0.05):
        grebe.utils.set_random_seed(0)
        model = grebe.Sequential([layers.Dense(8, input_shape=(4,)),
                                  layers.ActivityRegularization(l2=l2),
                                  layers.Dense(2, activation="softmax")])
        model.compile(optimizer=grebe.optimizers.Adam(0.05),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=20, batch_size=16, verbose=0)
        norms.append(float(np.square(model.layers[0](x).numpy()).sum()))
    assert norms[1] < 0.5 * norms[0]
