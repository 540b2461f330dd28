"""Initializers (Keras 3 names, defaults, fan rules), the global random source, regularizers."""
import math

import numpy as np
import pytest

import grebe
from grebe import initializers, regularizers


def test_compute_fans_dense_conv_vector_scalar():
    assert initializers.compute_fans((784, 128)) == (784, 128)
    assert initializers.compute_fans((3, 3, 16, 32)) == (9 * 16, 9 * 32)
    assert initializers.compute_fans((5, 8, 4)) == (40, 20)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans(()) == (1, 1)


def test_glorot_uniform_limit_and_variance():
    shape = (300, 200)
    w = initializers.get("glorot_uniform")(shape)
    assert w.dtype == np.float32 and w.shape == shape and w.flags.c_contiguous
    limit = math.sqrt(6.0 / (300 + 200))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=0.03)
    assert abs(w.mean()) < 0.01 * limit


def test_glorot_uniform_conv_kernel_uses_receptive_field():
    w = initializers.GlorotUniform(seed=1)((3, 3, 32, 64))
    limit = math.sqrt(6.0 / (9 * 32 + 9 * 64))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


@pytest.mark.parametrize("name,scale,mode", [
    ("glorot_normal", 1.0, "fan_avg"), ("he_normal", 2.0, "fan_in"),
    ("lecun_normal", 1.0, "fan_in")])
def test_truncated_normal_presets_have_intended_std(name, scale, mode):
    fan_in, fan_out = 400, 250
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    w = initializers.get(name)((fan_in, fan_out))
    std = math.sqrt(scale / n)
    np.testing.assert_allclose(w.std(), std, rtol=0.03)
    # Truncated at 2 stddev of the underlying (wider) normal.
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-6


@pytest.mark.parametrize("name,scale", [("he_uniform", 2.0), ("lecun_uniform", 1.0)])
def test_uniform_presets_limit(name, scale):
    w = initializers.get(name)((500, 100))
    limit = math.sqrt(3 * scale / 500)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


def test_random_normal_uniform_truncated_defaults():
    rn = initializers.get("random_normal")((200, 300))
    np.testing.assert_allclose(rn.std(), 0.05, rtol=0.03)
    ru = initializers.get("random_uniform")((200, 300))
    assert ru.min() >= -0.05 and ru.max() <= 0.05 and ru.max() > 0.049
    tn = initializers.get("truncated_normal")((200, 300))
    assert np.abs(tn).max() <= 0.1 + 1e-7
    assert initializers.RandomNormal(mean=3.0, stddev=0.1)((1000,)).mean() == \
        pytest.approx(3.0, abs=0.02)


def test_constants_and_identity():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.get("ones")((4,)), np.ones(4))
    np.testing.assert_array_equal(initializers.Constant(2.5)((2, 2)), np.full((2, 2), 2.5))
    np.testing.assert_array_equal(initializers.get("identity")((3, 3)), np.eye(3))
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        initializers.Identity()((2, 2, 2))


@pytest.mark.parametrize("shape", [(64, 64), (100, 30), (30, 100), (3, 3, 8, 16)])
def test_orthogonal_is_orthogonal(shape):
    w = initializers.Orthogonal(gain=1.5, seed=3)(shape)
    assert w.shape == shape
    m = w.reshape(-1, shape[-1]).astype(np.float64) / 1.5
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-5)
    else:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="rank 2"):
        initializers.Orthogonal()((5,))


def test_global_seed_reproduces_and_advances():
    grebe.random.seed(42)
    a = initializers.get("glorot_uniform")((5, 4))
    b = initializers.get("he_normal")((5, 4))
    grebe.random.seed(42)
    a2 = initializers.get("glorot_uniform")((5, 4))
    b2 = initializers.get("he_normal")((5, 4))
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(a, initializers.get("glorot_uniform")((5, 4)))


def test_own_seed_gives_same_values_each_call_and_ignores_global():
    init = initializers.GlorotNormal(seed=7)
    a = init((6, 3))
    grebe.random.seed(0)
    np.testing.assert_array_equal(a, init((6, 3)))
    np.testing.assert_array_equal(a, initializers.GlorotNormal(seed=7)((6, 3)))
    assert not np.array_equal(a, initializers.GlorotNormal(seed=8)((6, 3)))


def test_get_by_name_class_instance_callable_and_config():
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)
    inst = initializers.Orthogonal(gain=2.0)
    assert initializers.get(inst) is inst
    fn = lambda shape, dtype=None: np.full(shape, 3.0, np.float32)  # noqa: E731
    assert initializers.get(fn) is fn
    assert initializers.get(None) is None
    cfg = initializers.serialize(initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=5))
    back = initializers.get(cfg)
    assert isinstance(back, initializers.VarianceScaling)
    assert back.get_config() == {"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                                 "seed": 5}
    np.testing.assert_array_equal(back((4, 4)),
                                  initializers.VarianceScaling(2.0, "fan_out", "uniform",
                                                               seed=5)((4, 4)))
    r = initializers.get({"class_name": "RandomNormal", "config": {"stddev": 1.0}})
    assert r.get_config() == {"mean": 0.0, "stddev": 1.0, "seed": None}


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
                                  "lecun_normal", "lecun_uniform", "orthogonal",
                                  "random_normal", "random_uniform", "truncated_normal", "zeros",
                                  "ones", "constant", "identity", "variance_scaling"])
def test_every_name_round_trips_through_config(name):
    init = initializers.get(name)
    back = initializers.get(initializers.serialize(init))
    assert type(back) is type(init) and back.get_config() == init.get_config()
    out = init((4, 4))
    assert out.dtype == np.float32 and out.shape == (4, 4)


def test_bad_identifiers_name_themselves():
    with pytest.raises(ValueError, match="glorot_unifrom"):
        initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match="Nope"):
        initializers.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="12"):
        initializers.get(12)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sideways")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="seed"):
        initializers.GlorotUniform(seed="x")
    with pytest.raises(ValueError, match="non-negative"):
        grebe.random.seed(-1)


# ---- regularizers ------------------------------------------------------------------------
def test_regularizer_values_defaults_and_gradients():
    x = grebe.tensor([[1.0, -2.0], [3.0, -0.5]], requires_grad=True)
    a = x.numpy().copy()
    assert regularizers.get("l1").l1 == 0.01 and regularizers.get("l2").l2 == 0.01
    l1 = regularizers.L1(0.1)(x)
    assert l1.shape == () and l1.item() == pytest.approx(0.1 * np.abs(a).sum())
    l2 = regularizers.L2(0.2)(x)
    assert l2.item() == pytest.approx(0.2 * (a ** 2).sum())
    both = regularizers.L1L2(l1=0.1, l2=0.2)(x)
    assert both.item() == pytest.approx(0.1 * np.abs(a).sum() + 0.2 * (a ** 2).sum(), rel=1e-6)
    both.backward()
    np.testing.assert_allclose(x.grad, 0.1 * np.sign(a) + 0.4 * a, rtol=1e-6)
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.L1L2()(x).item() == 0.0


def test_regularizer_get_and_errors():
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)
    assert isinstance(regularizers.get("L2"), regularizers.L2)
    r = regularizers.get(regularizers.serialize(regularizers.L1L2(l1=0.3)))
    assert r.get_config() == {"l1": 0.3, "l2": 0.0}
    assert regularizers.get(None) is None
    with pytest.raises(ValueError, match="l3"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="l2=-1"):
        regularizers.L2(-1)
