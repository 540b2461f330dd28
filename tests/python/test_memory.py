"""Memory over repeated use (Keras users report growth with every fit()/predict() call: keras
issue 20552, tensorflow issue 80753): after a warm-up, 300 rounds of fit (one epoch) + predict on
one model, and building and discarding 100 models, grow the resident set by less than 20 MB."""
from __future__ import annotations

import gc

import numpy as np

import grebe
from grebe import layers

_LIMIT_MB = 20.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:  # pages: size resident shared ...
        resident = int(f.read().split()[1])
    import os
    return resident * os.sysconf("SC_PAGE_SIZE") / 2**20


def _model():
    model = grebe.Sequential([
        layers.Conv1D(8, 3, activation="relu", input_shape=(16, 2)),
        layers.GlobalAveragePooling1D(),
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.1),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 16, 2)).astype(np.float32), rng.integers(0, 3, n)


def _growth(fn, warmup: int, rounds: int) -> float:
    for _ in range(warmup):
        fn()
    gc.collect()
    before = _rss_mb()
    for _ in range(rounds):
        fn()
    gc.collect()
    return _rss_mb() - before


def test_fit_and_predict_300_times_on_one_model_do_not_grow_memory():
    model, (x, y) = _model(), _data()

    def round_():
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_split=0.25)
        model.predict(x, verbose=0)
    growth = _growth(round_, warmup=20, rounds=300)
    assert growth < _LIMIT_MB, f"RSS grew by {growth:.1f} MB over 300 fit+predict rounds"


def test_building_and_discarding_100_models_does_not_grow_memory():
    x, y = _data(32)

    def round_():
        model = _model()
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        model.predict(x, verbose=0)
    growth = _growth(round_, warmup=10, rounds=100)
    assert growth < _LIMIT_MB, f"RSS grew by {growth:.1f} MB over 100 models"
