"""Non-finite values pass through the Python paths honestly: a NaN in the data gives a NaN loss
in the logs, the progress bar and History; losses and metrics over NaN predictions are NaN,
never a clean-looking number (argmax of a NaN row is 0, which used to count as right for label
0; a NaN score used to count as 'negative' in precision/recall/AUC)."""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

import grebe
from grebe import layers, losses, metrics

_PRED = np.array([[0.2, 0.8], [np.nan, 0.5]], np.float32)
_ONEHOT = np.array([[0, 1], [1, 0]], np.float32)


def test_a_nan_in_the_data_shows_as_nan_in_history_progbar_and_evaluate():
    x = np.ones((32, 4), np.float32)
    x[3, 1] = np.nan
    y = np.zeros(32, np.int64)
    model = grebe.Sequential([grebe.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit(x, y, epochs=1, batch_size=8, verbose=1)
        loss, acc = model.evaluate(x, y, verbose=0)
    assert np.isnan(history.history["loss"][0])
    assert "loss: nan" in out.getvalue()
    assert np.isnan(loss) and np.isnan(acc)  # the weights are NaN now: so is every prediction


@pytest.mark.parametrize("name", ["categorical_crossentropy", "mse", "mae", "binary_crossentropy",
                                  "huber", "kl_divergence", "hinge", "log_cosh"])
def test_losses_keep_nan_per_sample(name):
    v = np.asarray(losses.get(name)(_ONEHOT, _PRED))
    assert np.isfinite(v[0]) and np.isnan(v[1])


@pytest.mark.parametrize("metric,y_true", [
    (metrics.CategoricalAccuracy, _ONEHOT), (metrics.SparseCategoricalAccuracy, [1, 0]),
    (metrics.BinaryAccuracy, _ONEHOT), (metrics.TopKCategoricalAccuracy, _ONEHOT),
    (metrics.Precision, _ONEHOT), (metrics.Recall, _ONEHOT), (metrics.AUC, _ONEHOT),
    (metrics.MeanSquaredError, _ONEHOT),
])
def test_metrics_over_nan_predictions_are_nan(metric, y_true):
    m = metric()
    m.update_state(y_true, _PRED)
    assert np.isnan(float(m.result()))
    m.reset_state()
    m.update_state(y_true, np.nan_to_num(_PRED, nan=0.1))
    assert np.isfinite(float(m.result()))
