"""The loss and metric classes show Keras 3's constructor arguments (names, order, defaults),
checked against the installed Keras 3 with inspect.signature."""
import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import grebe  # noqa: E402

LOSSES = ["MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
          "MeanSquaredLogarithmicError", "Huber", "LogCosh", "KLDivergence", "Poisson", "Hinge",
          "SquaredHinge", "CategoricalHinge", "CosineSimilarity", "BinaryCrossentropy",
          "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Loss"]
METRICS = ["Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanSquaredError",
           "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "RootMeanSquaredError", "Mean",
           "Sum", "MeanMetricWrapper", "Precision", "Recall", "AUC", "Metric"]


def _params(cls):
    params = inspect.signature(cls.__init__).parameters.values()
    return [(p.name, p.default, p.kind) for p in params if p.name != "self"]


@pytest.mark.parametrize("module,name", [("losses", n) for n in LOSSES] +
                         [("metrics", n) for n in METRICS])
def test_constructor_signature_matches_keras(module, name):
    ours = getattr(getattr(grebe, module), name)
    theirs = getattr(getattr(keras, module), name)
    assert [p[0] for p in _params(ours)] == [p[0] for p in _params(theirs)]
    for (n, d, kind), (_, kd, kkind) in zip(_params(ours), _params(theirs)):
        assert kind == kkind, n
        assert d == kd or (d is kd), f"{module}.{name}({n}=...): default {d!r}, Keras {kd!r}"


@pytest.mark.parametrize("module", ["losses", "metrics"])
def test_no_star_args_constructors(module):
    """Every public class spells its arguments out (no *args/**kwargs standing for them)."""
    for name in LOSSES if module == "losses" else METRICS:
        cls = getattr(getattr(grebe, module), name)
        kinds = {p.kind for p in inspect.signature(cls).parameters.values()}
        if name != "MeanMetricWrapper":
            assert inspect.Parameter.VAR_POSITIONAL not in kinds, name
            assert inspect.Parameter.VAR_KEYWORD not in kinds, name


def test_positional_arguments_follow_keras_order():
    assert grebe.losses.Huber(2.0).get_config()["delta"] == 2.0
    assert grebe.losses.BinaryCrossentropy(True, 0.1).get_config()["label_smoothing"] == 0.1
    assert grebe.metrics.TopKCategoricalAccuracy(3).get_config()["k"] == 3
    assert grebe.metrics.BinaryAccuracy("acc2").name == "acc2"
    with pytest.raises(TypeError):
        grebe.losses.MeanSquaredError(bogus=1)


def test_sparse_top_k_from_sorted_ids_matches_keras():
    rng = np.random.default_rng(0)
    scores = rng.random((32, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 32)
    ids = np.argsort(-scores, axis=-1)[:, :4]
    ours = grebe.metrics.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True)
    theirs = keras.metrics.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True)
    ours.update_state(labels, ids)
    theirs.update_state(labels, ids)
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-6)
    plain = grebe.metrics.SparseTopKCategoricalAccuracy(k=3)
    plain.update_state(labels, scores)
    np.testing.assert_allclose(float(plain.result()), float(ours.result()), rtol=1e-6)
