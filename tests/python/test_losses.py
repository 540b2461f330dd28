"""Losses: values against numpy (float64) transcriptions of Keras's formulas and PyTorch,
gradients by finite differences (check_op), the fused stable cross-entropy (huge logits, the
softmax/sigmoid/Dense producers), reductions, sample weights, masks and input errors."""
import numpy as np
import pytest

import grebe
from grebe import losses
from helpers import check_op, torch_or_none

EPS = 1e-7
torch = torch_or_none()


def softmax64(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# Reference per-sample losses in float64 (Keras 3 formulas).
def r_mse(t, p): return np.mean((t - p) ** 2, -1)
def r_mae(t, p): return np.mean(np.abs(t - p), -1)
def r_mape(t, p): return 100 * np.mean(np.abs(t - p) / np.maximum(np.abs(t), EPS), -1)
def r_msle(t, p):
    return np.mean((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2, -1)
def r_huber(t, p, d=1.0):
    e = np.abs(p - t)
    return np.mean(np.where(e <= d, 0.5 * e * e, d * e - 0.5 * d * d), -1)
def r_log_cosh(t, p): return np.mean(np.log(np.cosh(p - t)), -1)
def r_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), -1)
def r_poisson(t, p): return np.mean(p - t * np.log(p + EPS), -1)
def r_hinge(t, p): return np.mean(np.maximum(1 - t * p, 0), -1)
def r_sq_hinge(t, p): return np.mean(np.maximum(1 - t * p, 0) ** 2, -1)
def r_cat_hinge(t, p):
    return np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0)
def r_cosine(t, p):
    tn = t / np.sqrt(np.maximum(np.sum(t * t, -1, keepdims=True), 1e-12))
    pn = p / np.sqrt(np.maximum(np.sum(p * p, -1, keepdims=True), 1e-12))
    return -np.sum(tn * pn, -1)
def r_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), -1)
def r_bce_logits(t, x): return np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))), -1)
def r_cce(t, p):
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(p), -1)
def r_cce_logits(t, x):
    return -np.sum(t * (x - x.max(-1, keepdims=True) - np.log(
        np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))), -1)


RNG = np.random.default_rng(0)
T_REAL = RNG.standard_normal((4, 5))
T_POS = RNG.uniform(0.05, 1.0, (4, 5))
T_PM1 = np.where(RNG.random((4, 5)) > 0.5, 1.0, -1.0)
T_01 = (RNG.random((4, 5)) > 0.5).astype(float)
T_ONEHOT = np.eye(5)[[0, 3, 1, 4]]
T_SOFT = softmax64(RNG.standard_normal((4, 5)))

# (function, reference, y_true, y_pred range (low, high))
CASES = [
    (losses.mean_squared_error, r_mse, T_REAL, (-2, 2)),
    (losses.mean_absolute_error, r_mae, T_REAL, (-2, 2)),
    (losses.mean_absolute_percentage_error, r_mape, T_REAL, (-2, 2)),
    (losses.mean_squared_logarithmic_error, r_msle, T_POS, (0.1, 2)),
    (losses.huber, r_huber, T_REAL, (-3, 3)),
    (losses.log_cosh, r_log_cosh, T_REAL, (-2, 2)),
    (losses.kl_divergence, r_kld, T_SOFT, (0.05, 0.95)),
    (losses.poisson, r_poisson, T_POS, (0.1, 2)),
    (losses.hinge, r_hinge, T_PM1, (-2, 2)),
    (losses.squared_hinge, r_sq_hinge, T_PM1, (-2, 2)),
    (losses.categorical_hinge, r_cat_hinge, T_ONEHOT, (-2, 2)),
    (losses.cosine_similarity, r_cosine, T_REAL, (-2, 2)),
    (losses.binary_crossentropy, r_bce, T_01, (0.05, 0.95)),
    (lambda t, p: losses.binary_crossentropy(t, p, from_logits=True), r_bce_logits, T_SOFT,
     (-4, 4)),
    (losses.categorical_crossentropy, r_cce, T_SOFT, (0.05, 1.0)),
    (lambda t, p: losses.categorical_crossentropy(t, p, from_logits=True), r_cce_logits, T_SOFT,
     (-4, 4)),
]


@pytest.mark.parametrize("fn,ref,y_true,rng", CASES, ids=[f"{c[1].__name__}" for c in CASES])
def test_values_and_gradients(fn, ref, y_true, rng):
    yt = y_true.astype(np.float32)
    check_op(lambda p: fn(yt, p), lambda p: ref(yt.astype(np.float64), p), [yt.shape],
             low=rng[0], high=rng[1], rtol=1e-5, atol=1e-5)


def test_sparse_categorical_values_and_gradients():
    labels = np.array([0, 3, 1, 4])
    check_op(lambda x: losses.sparse_categorical_crossentropy(labels, x, from_logits=True),
             lambda x: r_cce_logits(np.eye(5)[labels], x), [(4, 5)], low=-4, high=4,
             torch_fn=(lambda x: torch.nn.functional.cross_entropy(
                 x, torch.tensor(labels), reduction="none")) if torch else None)
    check_op(lambda p: losses.sparse_categorical_crossentropy(labels, p),
             lambda p: r_cce(np.eye(5)[labels], p), [(4, 5)], low=0.05, high=1.0)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_against_torch():
    F = torch.nn.functional
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    t = RNG.standard_normal((6, 4)).astype(np.float32)
    z = (RNG.random((6, 4)) > 0.5).astype(np.float32)
    p = softmax64(x).astype(np.float32)
    tx, tt, tz = torch.tensor(x), torch.tensor(t), torch.tensor(z)
    pairs = [
        (losses.MeanSquaredError()(t, x), F.mse_loss(tx, tt)),
        (losses.MeanAbsoluteError()(t, x), F.l1_loss(tx, tt)),
        (losses.Huber(delta=0.7)(t, x), F.huber_loss(tx, tt, delta=0.7)),
        (losses.BinaryCrossentropy(from_logits=True)(z, x),
         F.binary_cross_entropy_with_logits(tx, tz)),
        (losses.CategoricalCrossentropy(from_logits=True)(p, x),
         F.cross_entropy(tx, torch.tensor(p))),
        (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(
            np.eye(4)[[0, 1, 2, 3, 0, 1]], x),
         F.cross_entropy(tx, torch.tensor([0, 1, 2, 3, 0, 1]), label_smoothing=0.2)),
        (losses.KLDivergence(reduction="sum")(p, softmax64(t).astype(np.float32)) / 6,
         F.kl_div(torch.log_softmax(tt, -1), torch.tensor(p), reduction="batchmean")),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(float(np.asarray(ours)), theirs.item(), rtol=1e-5, atol=1e-6)


def _dense_softmax_case(activation):
    rng = np.random.default_rng(5)
    x = grebe.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    w = grebe.tensor(rng.standard_normal((4, 3)).astype(np.float32) * 1e4, requires_grad=True)
    b = grebe.tensor(np.zeros(3, np.float32), requires_grad=True)
    return x, w, b, grebe.ops.dense(x, w, b, activation)


def test_huge_logits_stay_finite_and_exact():
    big = np.array([[1e4, 0.0, -1e4], [-1e4, 2e4, 0.0]], np.float32)
    labels = np.array([2, 0])
    onehot = np.eye(3, dtype=np.float32)[labels]
    expected = np.array([2e4, 3e4])
    # from logits, and through ops.softmax: the fused log-sum-exp form on the logits
    for make in (lambda x: x, lambda x: grebe.ops.softmax(x)):
        for fn in (lambda y: losses.sparse_categorical_crossentropy(labels, y,
                                                                    from_logits=y is not None
                                                                    and y._ctx is None),
                   lambda y: losses.categorical_crossentropy(onehot, y,
                                                             from_logits=y._ctx is None)):
            x = grebe.tensor(big, requires_grad=True)
            out = fn(make(x))
            np.testing.assert_allclose(out.data, expected, rtol=1e-6)
            out.sum().backward()
            assert np.all(np.isfinite(x.grad))
            np.testing.assert_allclose(x.grad, softmax64(big.astype(np.float64)) - onehot,
                                       atol=1e-6)
    # sigmoid -> binary cross-entropy
    for make in (lambda x: x, lambda x: grebe.ops.sigmoid(x)):
        x = grebe.tensor(big, requires_grad=True)
        y = make(x)
        out = losses.binary_crossentropy(np.ones((2, 3), np.float32), y, from_logits=y._ctx is None)
        assert np.all(np.isfinite(out.data))
        np.testing.assert_allclose(out.data, [(0 + 0.6931472 + 1e4) / 3, (1e4 + 0 + 0.6931472) / 3],
                                   rtol=1e-5)
        out.sum().backward()
        assert np.all(np.isfinite(x.grad))
    # Dense with a fused softmax: the loss recomputes the logits and stays exact
    x, w, b, probs = _dense_softmax_case("softmax")
    loss = losses.SparseCategoricalCrossentropy()(np.array([0, 1, 2]), probs)
    logits = x.data.astype(np.float64) @ w.data.astype(np.float64)
    ref = np.mean(r_cce_logits(np.eye(3)[[0, 1, 2]], logits))
    np.testing.assert_allclose(float(loss), ref, rtol=1e-5)
    loss.backward()
    p = softmax64(logits)
    dz = (p - np.eye(3)[[0, 1, 2]]) / 3
    np.testing.assert_allclose(w.grad, x.data.T @ dz, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.grad, dz.sum(0), rtol=1e-4, atol=1e-6)


def test_probabilities_are_clipped_like_keras():
    p = np.array([[0.0, 1.0]], np.float32)  # not from an op: the clip path
    out = losses.categorical_crossentropy(np.array([[1.0, 0.0]]), p)
    np.testing.assert_allclose(out.data, [-np.log(1e-7)], rtol=1e-5)
    out = losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]], np.float32))
    np.testing.assert_allclose(out.data, [-np.log(1e-7)], rtol=1e-4)


def test_from_logits_on_softmax_output_warns():
    x = grebe.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="does not represent logits"):
        losses.categorical_crossentropy(np.eye(3)[:2], grebe.ops.softmax(x), from_logits=True)


def test_reductions_and_sample_weight():
    rng = np.random.default_rng(2)
    t = rng.standard_normal((6, 3)).astype(np.float32)
    p = rng.standard_normal((6, 3)).astype(np.float32)
    per = r_mse(t.astype(np.float64), p.astype(np.float64))
    sw = rng.uniform(0, 2, 6).astype(np.float32)
    np.testing.assert_allclose(float(losses.MeanSquaredError()(t, p)), per.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(losses.MeanSquaredError(reduction="sum")(t, p)), per.sum(),
                               rtol=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(t, p).data, per,
                               rtol=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(t, p).data, per,
                               rtol=1e-6)
    np.testing.assert_allclose(float(losses.MeanSquaredError()(t, p, sample_weight=sw)),
                               (per * sw).sum() / 6, rtol=1e-6)
    np.testing.assert_allclose(float(losses.MeanSquaredError()(t, p, sample_weight=sw[:, None])),
                               (per * sw).sum() / 6, rtol=1e-6)
    np.testing.assert_allclose(
        float(losses.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, sw)),
        (per * sw).sum() / sw.sum(), rtol=1e-6)
    # gradients of the weighted reductions, by finite differences
    for red in ("sum_over_batch_size", "sum", "none"):
        check_op(lambda q: losses.MeanSquaredError(reduction=red)(t, q, sample_weight=sw),
                 lambda q: {"sum_over_batch_size": lambda v: np.sum(v * sw) / 6,
                            "sum": lambda v: np.sum(v * sw),
                            "none": lambda v: v * sw}[red](r_mse(t.astype(np.float64), q)),
                 [p.shape], inputs=[p], rtol=1e-5, atol=1e-5)
    labels = np.array([0, 2, 1, 1, 0, 2])
    check_op(lambda q: losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, q, sample_weight=sw),
        lambda q: np.sum(r_cce_logits(np.eye(3)[labels], q) * sw) / 6, [p.shape], inputs=[p],
        rtol=1e-5, atol=1e-5)


def test_rank_matching_like_keras():
    # (N,) targets against (N, 1) predictions: per-sample losses of shape (N,)
    t = np.array([1.0, 2.0, 3.0], np.float32)
    p = grebe.tensor(np.array([[1.5], [2.0], [2.0]], np.float32), requires_grad=True)
    per = losses.mean_squared_error(t, p)
    np.testing.assert_allclose(per.data, [0.25, 0.0, 1.0])
    losses.MeanSquaredError()(t, p).backward()
    np.testing.assert_allclose(p.grad, [[1 / 3], [0.0], [-2 / 3]], rtol=1e-6)
    # (N, 1) targets against (N,) predictions
    q = grebe.tensor(np.array([1.5, 2.0, 2.0], np.float32), requires_grad=True)
    np.testing.assert_allclose(losses.mean_squared_error(t[:, None], q).data, [0.25, 0.0, 1.0])
    # sparse labels of shape (N, 1)
    out = losses.sparse_categorical_crossentropy(np.array([[0], [1]]),
                                                 np.zeros((2, 3), np.float32), from_logits=True)
    np.testing.assert_allclose(out.data, [np.log(3)] * 2, rtol=1e-6)


def test_axis_and_ignore_class_and_mask():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)  # classes on axis 1
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    out = losses.sparse_categorical_crossentropy(labels, x, from_logits=True, axis=1)
    ref = r_cce_logits(np.eye(4)[labels], np.moveaxis(x, 1, -1).astype(np.float64))
    np.testing.assert_allclose(out.data, ref, rtol=1e-5)
    check_op(lambda q: losses.categorical_crossentropy(np.moveaxis(np.eye(4)[labels], -1, 1), q,
                                                       from_logits=True, axis=1),
             lambda q: r_cce_logits(np.eye(4)[labels], np.moveaxis(q, 1, -1)), [x.shape],
             inputs=[x], rtol=1e-5, atol=1e-5)
    # ignore_class: those entries give 0 and the mean runs over the others
    y = np.array([0, -1, 2, -1])
    z = rng.standard_normal((4, 3)).astype(np.float32)
    per = r_cce_logits(np.eye(3)[[0, 0, 2, 0]], z.astype(np.float64))
    out = losses.sparse_categorical_crossentropy(y, z, from_logits=True, ignore_class=-1)
    np.testing.assert_allclose(out.data, per * [1, 0, 1, 0], rtol=1e-5)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(y, z)
    np.testing.assert_allclose(float(loss), (per[0] + per[2]) / 2, rtol=1e-5)
    # a Keras mask on y_pred (from Embedding(mask_zero=True), Masking) works the same way
    zt = grebe.tensor(z)
    zt._keras_mask = np.array([True, False, True, False])
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, 0, 2, 0]), zt)
    np.testing.assert_allclose(float(loss), (per[0] + per[2]) / 2, rtol=1e-5)


def test_input_errors():
    p = grebe.tensor(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"mean_squared_error.*y_true.shape=\(4, 2\).*"
                                         r"y_pred.shape=\(4, 3\)"):
        losses.MeanSquaredError()(np.zeros((4, 2)), p)
    with pytest.raises(ValueError, match=r"categorical_crossentropy.*\(4,\).*\(4, 3\)"):
        losses.CategoricalCrossentropy()(np.zeros(4), p)
    for from_logits in (True, False):
        with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*range \[0, 3\)"
                                             r".*received 3"):
            losses.SparseCategoricalCrossentropy(from_logits=from_logits)(
                np.array([0, 1, 3, 2]), p)
        with pytest.raises(ValueError, match=r"range \[0, 3\).*received -1"):
            losses.sparse_categorical_crossentropy(np.array([0, -1, 1, 2]), p, from_logits)
    with pytest.raises(ValueError, match="non-integer"):
        losses.sparse_categorical_crossentropy(np.array([0.0, 1.5, 1.0, 2.0]), p)
    with pytest.raises(TypeError, match="integer class labels"):
        losses.sparse_categorical_crossentropy(np.array(["a", "b", "c", "d"]), p)
    with pytest.raises(ValueError, match=r"one integer label per sample.*\(4,\)"):
        losses.sparse_categorical_crossentropy(np.zeros((4, 3), np.int64), p)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_get_resolve_and_config():
    assert losses.get("mse") is losses.mean_squared_error
    assert isinstance(losses.get("MeanSquaredError"), losses.MeanSquaredError)
    assert losses.get(None) is None
    obj = losses.resolve("sparse_categorical_crossentropy")
    assert isinstance(obj, losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.resolve("categorical_crossentropy"), losses.CategoricalCrossentropy)

    def custom(t, p):
        return grebe.ops.mean(grebe.ops.square(p - t), axis=-1)

    wrapped = losses.resolve(custom)
    t = np.ones((2, 3), np.float32)
    p = grebe.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    out = wrapped(t, p, sample_weight=np.array([1.0, 0.0]))
    np.testing.assert_allclose(float(out), 0.5)
    out.backward()
    np.testing.assert_allclose(p.grad, [[-1 / 3] * 3, [0.0] * 3], rtol=1e-6)
    cce = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum")
    again = losses.deserialize(losses.serialize(cce))
    assert isinstance(again, losses.CategoricalCrossentropy)
    assert again.get_config() == cce.get_config()
    assert cce.get_config()["label_smoothing"] == 0.1 and again.reduction == "sum"
    with pytest.raises(ValueError, match="Could not interpret"):
        losses.get("nope")


def test_fused_kernel_matches_numpy_for_many_rows():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((3000, 37)) * 5).astype(np.float32)
    y = rng.integers(0, 37, 3000)
    out = losses.sparse_categorical_crossentropy(y, x, from_logits=True)
    np.testing.assert_allclose(out.data, r_cce_logits(np.eye(37)[y], x.astype(np.float64)),
                               rtol=1e-5, atol=1e-5)


def test_ops_level_cross_entropies():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    z = rng.random((5, 4)).astype(np.float32)
    check_op(lambda q: grebe.ops.sigmoid_cross_entropy(q, z),
             lambda q: np.maximum(q, 0) - q * z + np.log1p(np.exp(-np.abs(q))), [x.shape],
             inputs=[x], rtol=1e-5, atol=1e-5)
    t = softmax64(rng.standard_normal((5, 4))).astype(np.float32)
    check_op(lambda q: grebe.ops.softmax_cross_entropy(q, t), lambda q: r_cce_logits(t, q),
             [x.shape], inputs=[x], rtol=1e-5, atol=1e-5)
    y = np.array([3, 0, 1, 2, 2])
    check_op(lambda q: grebe.ops.sparse_softmax_cross_entropy(q, y),
             lambda q: r_cce_logits(np.eye(4)[y], q), [x.shape], inputs=[x], rtol=1e-5,
             atol=1e-5)
