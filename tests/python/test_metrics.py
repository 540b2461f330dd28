"""Metrics: values against numpy / scikit-learn, accumulation over batches with sample
weights, reset_state, Keras's 'accuracy' resolution, lookup."""
import numpy as np
import pytest

import grebe
from grebe import metrics

RNG = np.random.default_rng(0)


def batches(*arrays, size=7):
    n = len(arrays[0])
    for i in range(0, n, size):
        yield tuple(a[i:i + size] for a in arrays)


def test_accuracies():
    y = RNG.integers(0, 4, 50)
    p = RNG.random((50, 4)).astype(np.float32)
    expected = np.mean(p.argmax(1) == y)
    m = metrics.SparseCategoricalAccuracy()
    for yb, pb in batches(y, p):
        m.update_state(yb, pb)
    assert float(m.result()) == pytest.approx(expected)
    m2 = metrics.SparseCategoricalAccuracy()
    m2.update_state(y[:, None], p)            # (N, 1) labels
    assert float(m2.result()) == pytest.approx(expected)
    c = metrics.CategoricalAccuracy()
    c.update_state(np.eye(4)[y], p)
    assert float(c.result()) == pytest.approx(expected)
    b = metrics.BinaryAccuracy(threshold=0.3)
    yb = (RNG.random((50, 1)) > 0.5).astype(np.float32)
    pb = RNG.random((50, 1)).astype(np.float32)
    b.update_state(yb, pb)
    assert float(b.result()) == pytest.approx(np.mean(yb == (pb > 0.3)))
    a = metrics.Accuracy()
    a.update_state([1, 2, 3, 4], [1, 2, 0, 4])
    assert float(a.result()) == pytest.approx(0.75)
    a.reset_state()
    assert float(a.result()) == 0.0
    k = metrics.TopKCategoricalAccuracy(k=2)
    k.update_state(np.eye(4)[y], p)
    top2 = np.argsort(-p, 1)[:, :2]
    assert float(k.result()) == pytest.approx(np.mean([yy in t for yy, t in zip(y, top2)]))
    sk = metrics.SparseTopKCategoricalAccuracy(k=2)
    sk.update_state(y, p)
    assert float(sk.result()) == pytest.approx(float(k.result()))


def test_weighted_mean_sum_and_regression():
    v = RNG.random(20)
    w = RNG.random(20)
    m, s = metrics.Mean(), metrics.Sum()
    for vb, wb in batches(v, w):
        m.update_state(vb, sample_weight=wb)
        s.update_state(vb)
    assert float(m.result()) == pytest.approx(np.sum(v * w) / np.sum(w), rel=1e-6)
    assert float(s.result()) == pytest.approx(v.sum(), rel=1e-6)
    t = RNG.standard_normal((30, 3)).astype(np.float32)
    p = RNG.standard_normal((30, 3)).astype(np.float32)
    mse, mae, rmse = metrics.MeanSquaredError(), metrics.MeanAbsoluteError(), \
        metrics.RootMeanSquaredError()
    for tb, pb in batches(t, p):
        mse.update_state(tb, pb)
        mae.update_state(tb, pb)
        rmse.update_state(tb, pb)
    assert float(mse.result()) == pytest.approx(np.mean((t - p) ** 2), rel=1e-5)
    assert float(mae.result()) == pytest.approx(np.mean(np.abs(t - p)), rel=1e-5)
    assert float(rmse.result()) == pytest.approx(np.sqrt(np.mean((t - p) ** 2)), rel=1e-5)
    sw = RNG.random(30)
    wm = metrics.MeanSquaredError()
    wm.update_state(t, p, sample_weight=sw)
    per = np.mean((t - p) ** 2, 1)
    assert float(wm.result()) == pytest.approx(np.sum(per * sw) / sw.sum(), rel=1e-5)
    ce = metrics.SparseCategoricalCrossentropy(from_logits=True)
    y = RNG.integers(0, 3, 30)
    ce.update_state(y, p)
    lse = np.log(np.exp(p.astype(np.float64)).sum(1))
    assert float(ce.result()) == pytest.approx(np.mean(lse - p[np.arange(30), y]), rel=1e-5)


def test_precision_recall_auc_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    y = RNG.integers(0, 2, 400)
    p = np.clip(0.35 * y + 0.65 * RNG.random(400), 0, 1)
    w = RNG.random(400)
    pr, rc = metrics.Precision(), metrics.Recall()
    for yb, pb, wb in batches(y, p, w, size=64):
        pr.update_state(yb, pb, sample_weight=wb)
        rc.update_state(yb, pb, sample_weight=wb)
    hard = (p > 0.5).astype(int)
    assert float(pr.result()) == pytest.approx(sk.precision_score(y, hard, sample_weight=w))
    assert float(rc.result()) == pytest.approx(sk.recall_score(y, hard, sample_weight=w))
    multi = metrics.Precision(thresholds=[0.3, 0.7])
    multi.update_state(y, p)
    np.testing.assert_allclose(multi.result(), [sk.precision_score(y, p > 0.3),
                                                sk.precision_score(y, p > 0.7)], rtol=1e-6)
    auc = metrics.AUC(num_thresholds=4000)
    for yb, pb in batches(y, p, size=64):
        auc.update_state(yb, pb)
    assert float(auc.result()) == pytest.approx(sk.roc_auc_score(y, p), abs=1e-3)
    pr_auc = metrics.AUC(num_thresholds=4000, curve="PR")
    pr_auc.update_state(y, p)
    assert float(pr_auc.result()) == pytest.approx(sk.average_precision_score(y, p), abs=5e-3)
    # class_id and top_k on multi-class scores
    Y = np.eye(3)[RNG.integers(0, 3, 60)]
    P = RNG.random((60, 3))
    c1 = metrics.Recall(class_id=1)
    c1.update_state(Y, P)
    assert float(c1.result()) == pytest.approx(sk.recall_score(Y[:, 1], P[:, 1] > 0.5))
    top1 = metrics.Precision(top_k=1)
    top1.update_state(Y, P)
    assert float(top1.result()) == pytest.approx(np.mean(Y[np.arange(60), P.argmax(1)]))


def test_resolve_accuracy_like_keras_compile():
    r = metrics.resolve
    assert type(r("accuracy", "sparse_categorical_crossentropy")) is \
        metrics.SparseCategoricalAccuracy
    assert type(r("acc", grebe.losses.CategoricalCrossentropy())) is metrics.CategoricalAccuracy
    assert type(r("accuracy", "binary_crossentropy", (8, 5), (8, 5))) is metrics.BinaryAccuracy
    assert type(r("accuracy", None, (8,), (8, 10))) is metrics.SparseCategoricalAccuracy
    assert type(r("accuracy", None, (8, 1), (8, 10))) is metrics.SparseCategoricalAccuracy
    assert type(r("accuracy", None, (8, 10), (8, 10))) is metrics.CategoricalAccuracy
    assert type(r("accuracy", "mse", (8, 1), (8, 1))) is metrics.BinaryAccuracy
    assert r("accuracy", None, (8,), (8, 10)).name == "accuracy"
    assert type(r("mae")) is metrics.MeanAbsoluteError
    with pytest.raises(ValueError, match="needs the loss or"):
        r("accuracy")


def test_get_and_callable_metric():
    assert isinstance(metrics.get("AUC"), metrics.AUC)
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    m = metrics.get(lambda t, p: np.abs(np.asarray(t) - np.asarray(p)))
    m.update_state([1.0, 2.0], [1.5, 2.0])
    assert float(m.result()) == pytest.approx(0.25)
    b = metrics.BinaryAccuracy(threshold=0.7, name="acc7")
    again = type(b).from_config(b.get_config())
    assert again.name == "acc7" and again.get_config()["threshold"] == 0.7
    with pytest.raises(ValueError, match="Could not interpret"):
        metrics.get("nope")
    # Tensors are accepted as inputs
    s = metrics.SparseCategoricalAccuracy()
    s.update_state(np.array([1]), grebe.tensor([[0.2, 0.8]]))
    assert float(s.result()) == 1.0
