"""grebe.utils: to_categorical, normalize, set_random_seed, train_test_split, plot_history."""
from __future__ import annotations

import random

import numpy as np
import pytest

import grebe
from grebe import utils


def test_to_categorical_matches_keras_semantics():
    y = np.array([0, 2, 1, 2])
    out = utils.to_categorical(y, 3)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[y])
    assert utils.to_categorical(y).shape == (4, 3)  # num_classes = max + 1
    assert utils.to_categorical(y[:, None], 5).shape == (4, 5)  # trailing 1 dropped
    assert utils.to_categorical(np.zeros((2, 3), int), 4).shape == (2, 3, 4)
    np.testing.assert_array_equal(utils.to_categorical([1.0, 0.0], 2), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(utils.to_categorical(grebe.tensor(np.array([1, 0])), 2),
                                  [[0, 1], [1, 0]])
    assert utils.to_categorical(np.array([], int), 3).shape == (0, 3)


def test_to_categorical_against_torch():
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(0).integers(0, 7, size=50)
    ref = torch.nn.functional.one_hot(torch.tensor(y), 7).numpy()
    np.testing.assert_array_equal(utils.to_categorical(y, 7), ref)


@pytest.mark.parametrize("y, n, match", [
    ([0, -1], 3, ">= 0"),
    ([0, 3], 3, "out of range for num_classes=3"),
    ([0.5, 1], 3, "non-integer"),
    ([0, 1], 0, "positive integer num_classes"),
])
def test_to_categorical_errors(y, n, match):
    with pytest.raises(ValueError, match=match):
        utils.to_categorical(y, n)


def test_to_categorical_rejects_strings():
    with pytest.raises(TypeError):
        utils.to_categorical(np.array(["a", "b"]))


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], np.float32)
    out = utils.normalize(x)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0], [1, 0]], rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(utils.normalize(x, axis=0)[:, 0], [0.9486833, 0, 0.3162278],
                               rtol=1e-6)
    np.testing.assert_allclose(utils.normalize(x, order=1)[0], [3 / 7, 4 / 7], rtol=1e-6)
    assert utils.normalize(np.array([[3, 4]])).dtype == np.float32


def test_set_random_seed_seeds_all_sources():
    def draw():
        return (random.random(), np.random.rand(), grebe.random.generator().random())

    utils.set_random_seed(42)
    a = draw()
    utils.set_random_seed(42)
    assert draw() == a
    utils.set_random_seed(43)
    assert draw() != a
    with pytest.raises(ValueError):
        utils.set_random_seed(-1)
    with pytest.raises(ValueError):
        utils.set_random_seed(1.5)


def test_train_test_split_basic():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    x_tr, x_te, y_tr, y_te = utils.train_test_split(x, y, test_size=0.3, seed=0)
    assert len(x_te) == 3 and len(x_tr) == 7
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)  # rows stay paired
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(10))
    again = utils.train_test_split(x, y, test_size=0.3, seed=0)
    for a, b in zip((x_tr, x_te, y_tr, y_te), again):
        np.testing.assert_array_equal(a, b)
    assert len(utils.train_test_split(x, test_size=4, seed=1)[1]) == 4
    x_tr, x_te = utils.train_test_split(x, test_size=0.2, shuffle=False)
    np.testing.assert_array_equal(x_te, x[8:])


def test_train_test_split_ceil_like_sklearn():
    sk = pytest.importorskip("sklearn.model_selection")
    x = np.arange(1797)
    ours = utils.train_test_split(x, test_size=0.2, seed=0)
    theirs = sk.train_test_split(x, test_size=0.2, random_state=0)
    assert [len(a) for a in ours] == [len(a) for a in theirs]


def test_train_test_split_stratified():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    x = np.arange(100)
    x_tr, x_te, y_tr, y_te = utils.train_test_split(x, y, test_size=0.2, seed=3, stratify=y)
    assert np.bincount(y_te).tolist() == [10, 6, 4]
    assert np.bincount(y_tr).tolist() == [40, 24, 16]
    np.testing.assert_array_equal(y[x_te], y_te)
    with pytest.raises(ValueError, match="at least 2 samples"):
        utils.train_test_split(x[:3], np.array([0, 1, 1]), test_size=1, stratify=[0, 1, 1])


@pytest.mark.parametrize("kwargs, match", [
    ({"test_size": 1.5}, "in \\(0, 1\\)"),
    ({"test_size": 0}, "in \\[1, 9\\]"),
    ({"test_size": 10}, "in \\[1, 9\\]"),
])
def test_train_test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        utils.train_test_split(np.arange(10), **kwargs)


def test_train_test_split_length_mismatch():
    with pytest.raises(ValueError, match="same first dimension"):
        utils.train_test_split(np.arange(10), np.arange(9))


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    hist = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.5], "accuracy": [0.3, 0.6, 0.8]}
    p = tmp_path / "curve.png"
    utils.plot_history(hist, p)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        utils.plot_history({})
