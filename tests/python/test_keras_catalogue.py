"""keras.losses / keras.metrics names in grebe: a coverage test against the name lists of Keras
3.15.1 (tests/python/keras_api_names/, printing what is missing), and each loss and metric
checked numerically against real Keras 3 (torch backend) with Keras's defaults."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (the reference: the test extra installs it)

import grebe  # noqa: E402

HERE = os.path.dirname(__file__)


def _names(module):
    path = os.path.join(HERE, "keras_api_names", f"keras_{module}.txt")
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("module", ["losses", "metrics"])
def test_coverage_of_keras_names(module):
    names = _names(module)
    ours = getattr(grebe, module)
    missing = [n for n in names if not hasattr(ours, n)]
    covered = 1 - len(missing) / len(names)
    print(f"grebe.{module}: {len(names) - len(missing)} of {len(names)} keras.{module} names "
          f"({covered:.0%}); missing: {missing}")
    assert covered >= 0.9, f"grebe.{module} lacks {missing}"


def _probs(rng, shape, axis=-1):
    z = rng.standard_normal(shape)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def _np(x):
    x = getattr(x, "data", x)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float64)


def _loss_cases(rng):
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
    binary = rng.integers(0, 2, (6, 3)).astype(np.float32)
    sig = (1 / (1 + np.exp(-rng.standard_normal((6, 3))))).astype(np.float32)
    return [
        ("BinaryFocalCrossentropy", {}, binary, sig),
        ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "from_logits": True,
                                     "gamma": 1.5, "label_smoothing": 0.1},
         binary, rng.standard_normal((6, 3)).astype(np.float32)),
        ("CategoricalFocalCrossentropy", {}, onehot, _probs(rng, (6, 4))),
        ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2},
         onehot, rng.standard_normal((6, 4)).astype(np.float32)),
        ("CategoricalGeneralizedCrossEntropy", {}, rng.integers(0, 4, 6), _probs(rng, (6, 4))),
        ("Dice", {}, binary, sig),
        ("Dice", {"axis": 1}, binary, sig),
        ("Tversky", {"alpha": 0.3, "beta": 0.7}, binary, sig),
        ("Huber", {}, sig, binary),
        ("LogCosh", {}, sig, binary),
        ("Poisson", {}, binary, sig),
        ("KLDivergence", {}, _probs(rng, (6, 4)), _probs(rng, (6, 4))),
        ("CosineSimilarity", {}, sig, binary + 0.1),
        ("Hinge", {}, binary, sig),
        ("SquaredHinge", {}, binary, sig),
        ("CategoricalHinge", {}, onehot, _probs(rng, (6, 4))),
    ]


@pytest.mark.parametrize("case", range(16))
def test_loss_matches_keras(case):
    rng = np.random.default_rng(case)
    name, kwargs, y_true, y_pred = _loss_cases(rng)[case]
    sw = rng.random(6).astype(np.float32)
    ours = getattr(grebe.losses, name)(**kwargs)
    theirs = getattr(keras.losses, name)(**kwargs)
    assert ours.name == theirs.name
    for weights in (None, sw):
        p = grebe.tensor(y_pred, requires_grad=True)
        got = ours(y_true, p, sample_weight=weights)
        want = theirs(y_true, y_pred, sample_weight=weights)
        np.testing.assert_allclose(_np(got), _np(want), rtol=2e-5, atol=1e-6)
    got.backward()  # differentiable: the gradient against a finite difference
    eps, i = 1e-3, (1, 0)
    hi, lo = y_pred.astype(np.float64).copy(), y_pred.astype(np.float64).copy()
    hi[i] += eps
    lo[i] -= eps
    fd = (_np(ours(y_true, hi.astype(np.float32), sample_weight=sw)) -
          _np(ours(y_true, lo.astype(np.float32), sample_weight=sw))) / (2 * eps)
    np.testing.assert_allclose(p.grad[i], fd, rtol=2e-2, atol=2e-3)


def _metric_cases():
    return [
        ("TruePositives", {}), ("FalsePositives", {"thresholds": [0.3, 0.7]}),
        ("TrueNegatives", {}), ("FalseNegatives", {}),
        ("F1Score", {}), ("F1Score", {"average": "macro", "threshold": 0.4}),
        ("FBetaScore", {"beta": 2.0, "average": "weighted"}), ("FBetaScore", {"average": "micro"}),
        ("R2Score", {}), ("R2Score", {"class_aggregation": "variance_weighted_average"}),
        ("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}), ("MeanIoU", {"num_classes": 3}),
        ("BinaryIoU", {}), ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1]}),
        ("OneHotMeanIoU", {"num_classes": 3}),
        ("CosineSimilarity", {}), ("LogCoshError", {}), ("CategoricalHinge", {}),
        ("PearsonCorrelation", {}), ("ConcordanceCorrelation", {}),
        ("PrecisionAtRecall", {"recall": 0.5}), ("RecallAtPrecision", {"precision": 0.6}),
        ("SensitivityAtSpecificity", {"specificity": 0.5}),
        ("SpecificityAtSensitivity", {"sensitivity": 0.5}),
        ("AUC", {}), ("Precision", {}), ("Recall", {}), ("RootMeanSquaredError", {}),
    ]


def _metric_data(name, rng):
    if name in ("IoU", "MeanIoU"):
        return rng.integers(0, 3, (8,)), rng.integers(0, 3, (8,))
    if name.startswith("OneHot"):
        return np.eye(3)[rng.integers(0, 3, 8)], _probs(rng, (8, 3))
    if name in ("F1Score", "FBetaScore", "CategoricalHinge"):
        return np.eye(3)[rng.integers(0, 3, 8)], _probs(rng, (8, 3))
    if name in ("R2Score", "CosineSimilarity", "LogCoshError", "PearsonCorrelation",
                "ConcordanceCorrelation", "RootMeanSquaredError"):
        t = rng.standard_normal((8, 3))
        return t, t + 0.5 * rng.standard_normal((8, 3))
    return rng.integers(0, 2, (8, 1)).astype(np.float32), rng.random((8, 1)).astype(np.float32)


@pytest.mark.parametrize("case", range(28))
def test_metric_matches_keras(case):
    name, kwargs = _metric_cases()[case]
    ours = getattr(grebe.metrics, name)(**kwargs)
    theirs = getattr(keras.metrics, name)(**kwargs)
    assert ours.name == theirs.name
    rng = np.random.default_rng(case)
    for step in range(2):
        y_true, y_pred = _metric_data(name, rng)
        sw = rng.random(len(y_true)).astype(np.float32) if step else None
        ours.update_state(y_true, y_pred, sample_weight=sw)
        theirs.update_state(y_true.astype(np.float32), y_pred.astype(np.float32),
                            sample_weight=sw)
    np.testing.assert_allclose(_np(ours.result()), _np(theirs.result()), rtol=1e-4,
                               atol=1e-5)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(_np(ours.result()), _np(theirs.result()), atol=1e-6)


def test_user_metric_with_add_variable():
    class CountAbove(grebe.metrics.Metric):
        def __init__(self, name="count_above", **kwargs):
            super().__init__(name=name, **kwargs)
            self.count = self.add_variable(shape=(), name="count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.count.assign_add(float(np.sum(np.asarray(y_pred) > 0.5)))

        def result(self):
            return self.count

        def reset_state(self):
            self.count.assign(0.0)

    m = CountAbove()
    m.update_state(None, np.array([0.2, 0.7, 0.9]))
    m.update_state(None, np.array([0.6]))
    assert float(m.result()) == 3.0 and m.variables == [m.count]
    m.reset_state()
    assert float(m.result()) == 0.0
