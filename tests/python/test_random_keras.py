"""grebe.random's Keras functions: distributions (moments of large draws), seeding semantics
(int seeds repeat, SeedGenerators advance, set_random_seed reproduces unseeded draws) and the
coverage of keras.random's names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import grebe
from grebe import random as gr

DATA = Path(__file__).parent / "data"


def test_keras_random_coverage():
    want = [ln.strip() for ln in (DATA / "keras_random_names.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    missing = [n for n in want if not hasattr(gr, n)]
    print(f"keras.random: {len(want) - len(missing)}/{len(want)}; missing: {missing}")
    assert not missing


@pytest.mark.parametrize("fn, mean, std", [
    (lambda s: gr.normal((20000,), 1.0, 2.0, seed=s), 1.0, 2.0),
    (lambda s: gr.uniform((20000,), -1.0, 3.0, seed=s), 1.0, 4 / np.sqrt(12)),
    (lambda s: gr.truncated_normal((20000,), 0.0, 1.0, seed=s), 0.0, 0.8796),
    (lambda s: gr.gamma((20000,), 2.0, seed=s), 2.0, np.sqrt(2.0)),
    (lambda s: gr.beta((20000,), 2.0, 3.0, seed=s), 0.4, 0.2),
    (lambda s: gr.binomial((20000,), 10, 0.3, seed=s), 3.0, np.sqrt(2.1)),
])
def test_distributions_have_their_moments(fn, mean, std):
    x = fn(3).numpy()
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(), mean, atol=0.05 * max(std, 1))
    np.testing.assert_allclose(x.std(), std, rtol=0.05)


def test_truncated_normal_stays_within_two_stddevs_and_randint_in_range():
    assert np.abs(gr.truncated_normal((5000,), 1.0, 0.5, seed=1).numpy() - 1.0).max() <= 1.0
    r = gr.randint((1000,), 2, 7, seed=1).numpy()
    assert r.dtype == np.int32 and r.min() == 2 and r.max() == 6


def test_seed_semantics():
    assert np.array_equal(gr.normal((4,), seed=5).numpy(), gr.normal((4,), seed=5).numpy())
    g = gr.SeedGenerator(7)
    a, b = gr.uniform((4,), seed=g).numpy(), gr.uniform((4,), seed=g).numpy()
    assert not np.array_equal(a, b)
    g2 = gr.SeedGenerator(7)
    assert np.array_equal(a, gr.uniform((4,), seed=g2).numpy())
    grebe.utils.set_random_seed(3)
    u1 = gr.normal((3,)).numpy()
    grebe.utils.set_random_seed(3)
    assert np.array_equal(u1, gr.normal((3,)).numpy())


def test_categorical_follows_the_softmax_of_the_logits():
    logits = np.log(np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]], np.float32))
    s = gr.categorical(logits, 20000, seed=2).numpy()
    assert s.shape == (2, 20000) and s.dtype == np.int32
    freq = np.stack([np.bincount(r, minlength=3) / r.size for r in s])
    np.testing.assert_allclose(freq, np.exp(logits), atol=0.02)


def test_dropout_and_shuffle():
    x = grebe.tensor(np.ones((1000,), np.float32), requires_grad=True)
    y = gr.dropout(x, 0.25, seed=1)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.05
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.numpy())
    z = grebe.tensor(np.arange(10, dtype=np.float32), requires_grad=True)
    s = gr.shuffle(z, seed=4)
    assert sorted(s.numpy().tolist()) == list(range(10))
    (s * np.arange(10, dtype=np.float32)).sum().backward()
    np.testing.assert_allclose(z.grad[s.numpy().astype(int)], np.arange(10))
