"""The optimizers added for Keras's catalogue (Adamax, Nadam, Lamb, Lion, Adadelta, Ftrl,
LossScaleOptimizer) against Keras 3's own (torch backend): the same initial weights and the
same gradients for several steps give the same weights. Plus catalogue coverage."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import grebe

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

DATA = Path(__file__).parent / "data"


def _names(kind):
    return [ln.strip() for ln in (DATA / f"keras_{kind}_names.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("kind", ["optimizers", "activations", "initializers", "regularizers",
                                  "constraints"])
def test_keras_catalogue_coverage(kind):
    module = getattr(grebe, kind)
    want = _names(kind)
    missing = [n for n in want if not hasattr(module, n)]
    print(f"keras.{kind}: {len(want) - len(missing)}/{len(want)}; missing: {missing}")
    assert len(missing) <= 0.1 * len(want), missing


def _run(make_grebe, make_keras, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal((3, 4)).astype(np.float32),
            rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal(a.shape).astype(np.float32) for a in init]
             for _ in range(steps)]
    gw = [grebe.tensor(a.copy(), requires_grad=True) for a in init]
    kw = [keras.Variable(a.copy()) for a in init]
    gopt, kopt = make_grebe(), make_keras()
    for g in grads:
        gopt.apply(g, gw)
        kopt.apply([keras.ops.convert_to_tensor(x) for x in g], kw)
    for a, b in zip(gw, kw):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), rtol=2e-5,
                                   atol=2e-6)
    return gopt, kopt


CASES = [
    ("Adamax", {"learning_rate": 0.05}),
    ("Adamax", {"learning_rate": 0.05, "weight_decay": 0.1, "clipvalue": 0.5}),
    ("Nadam", {"learning_rate": 0.05}),
    ("Nadam", {"learning_rate": 0.02, "beta_1": 0.8, "clipnorm": 1.0}),
    ("Lamb", {"learning_rate": 0.05}),
    ("Lion", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "weight_decay": 0.5}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adafactor", {"learning_rate": 0.1}),
    ("Adafactor", {"learning_rate": 0.5, "relative_step": False, "clip_threshold": 0.5}),
    ("Ftrl", {"learning_rate": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.05,
              "l2_regularization_strength": 0.1, "l2_shrinkage_regularization_strength": 0.01,
              "beta": 0.2, "learning_rate_power": -0.3}),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_optimizer_matches_keras(name, kwargs):
    _run(lambda: getattr(grebe.optimizers, name)(**kwargs),
         lambda: getattr(keras.optimizers, name)(**kwargs))


def test_optimizers_round_trip_their_config_and_get_by_name():
    for name, kwargs in CASES:
        opt = getattr(grebe.optimizers, name)(**kwargs)
        again = grebe.optimizers.deserialize(grebe.optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
        assert type(grebe.optimizers.get(name.lower())) is type(opt)


def test_loss_scale_optimizer_follows_keras():
    rng = np.random.default_rng(3)
    init = rng.standard_normal(4).astype(np.float32)
    gw = grebe.tensor(init.copy(), requires_grad=True)
    kw = keras.Variable(init.copy())
    gopt = grebe.optimizers.LossScaleOptimizer(grebe.optimizers.SGD(0.1), initial_scale=8.0,
                                               dynamic_growth_steps=2)
    kopt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=8.0,
                                               dynamic_growth_steps=2)
    for step in range(7):
        g = rng.standard_normal(4).astype(np.float32) * 8
        if step in (2, 5):
            g[1] = np.inf
        gopt.apply([g], [gw])
        kopt.apply([keras.ops.convert_to_tensor(g)], [kw])
        np.testing.assert_allclose(gw.numpy(), keras.ops.convert_to_numpy(kw), rtol=1e-6)
        assert gopt.dynamic_scale == float(keras.ops.convert_to_numpy(kopt.dynamic_scale))
    assert float(gopt.scale_loss(grebe.tensor(2.0)).item()) == 2.0 * gopt.dynamic_scale


def test_loss_scale_optimizer_trains_a_model():
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = grebe.Sequential([grebe.layers.Dense(1, input_shape=(3,))])
    opt = grebe.optimizers.LossScaleOptimizer(grebe.optimizers.Adam(0.05), initial_scale=1.0)
    model.compile(optimizer=opt, loss="mse")
    h = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.1 * h.history["loss"][0]


def test_multi_optimizer_routes_weights_by_path():
    model = grebe.Sequential([grebe.layers.Dense(3, input_shape=(2,), name="enc"),
                              grebe.layers.Dense(1, name="head")])
    sgd, frozen = grebe.optimizers.SGD(0.1), grebe.optimizers.SGD(0.0)
    opt = grebe.optimizers.MultiOptimizer(grebe.optimizers.OptimizerMap(sgd,
                                                                       {"enc/.*": frozen}))
    model.compile(optimizer=opt, loss="mse")
    before = model.get_weights()
    x = np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32)
    model.fit(x, np.ones((16, 1), np.float32), epochs=1, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])  # enc: learning rate 0
    assert not np.allclose(after[2], before[2])  # head: trained


@pytest.mark.parametrize("make", [
    lambda: grebe.optimizers.SGD(0.1, loss_scale_factor=8.0),
    lambda: grebe.optimizers.LossScaleOptimizer(grebe.optimizers.SGD(0.1), initial_scale=64.0)])
def test_fit_scales_the_loss_so_scaled_training_equals_plain(make):
    """fit() scales the loss before backward (the optimizer unscales in apply), so a loss-scaled
    SGD trains exactly like plain SGD (powers of two: no rounding difference)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.normal(size=(32, 1)).astype(np.float32)
    weights = []
    for opt in (grebe.optimizers.SGD(0.1), make()):
        grebe.utils.set_random_seed(0)
        m = grebe.Sequential([grebe.Input((5,)), grebe.layers.Dense(3, activation="tanh"),
                              grebe.layers.Dense(1)])
        m.compile(optimizer=opt, loss="mse")
        m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
