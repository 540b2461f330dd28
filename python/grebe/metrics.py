"""Metrics with Keras 3's names and stateful API (`update_state`, `result`, `reset_state`),
computed on numpy (no graph). `resolve('accuracy', loss, y_true_shape, y_pred_shape)` picks the
binary / categorical / sparse variant as Keras's compile does.

>>> import grebe, numpy as np
>>> m = grebe.metrics.SparseCategoricalAccuracy()
>>> m.update_state([1, 0], [[0.1, 0.9], [0.3, 0.7]])
>>> float(m.result())
0.5
"""
from __future__ import annotations

import re

import numpy as np

from grebe.tensor import Tensor

_f32 = np.float32
EPSILON = 1e-7


def _raw(x):
    """A Tensor's array; anything else unchanged (numpy's own `.data` is a memoryview)."""
    return x.data if isinstance(x, Tensor) else x


def _np(x, dtype=None) -> np.ndarray:
    x = _raw(x)
    return np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)


def _snake(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _match_rank(a, b):
    """Keras's squeeze_or_expand_to_same_rank for two arrays."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1:
            b = b[:, None]
        else:
            a = a.reshape(a.shape[:-1])
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1:
            a = a[:, None]
        else:
            b = b.reshape(b.shape[:-1])
    return a, b


# ---- per-sample metric functions (Keras names) ----------------------------------------------
def accuracy(y_true, y_pred) -> np.ndarray:
    y_true, y_pred = _match_rank(_np(y_true), _np(y_pred))
    return (y_true == y_pred).astype(_f32)


def binary_accuracy(y_true, y_pred, threshold=0.5) -> np.ndarray:
    y_true, y_pred = _match_rank(_np(y_true), _np(y_pred))
    return np.mean(y_true == (y_pred > threshold), axis=-1, dtype=_f32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    y_true, y_pred = _np(y_true), _np(y_pred)
    return (np.argmax(y_true, -1) == np.argmax(y_pred, -1)).astype(_f32)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    return (y_true.astype(np.int64) == np.argmax(y_pred, -1)).astype(_f32)


def _in_top_k(labels, y_pred, k):
    """True where the label's score is among the k largest (ties count as in, like TF)."""
    target = np.take_along_axis(y_pred, labels[..., None], axis=-1)
    return np.sum(y_pred > target, axis=-1) < k


def top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    y_pred = _np(y_pred)
    return _in_top_k(np.argmax(_np(y_true), -1), y_pred, k).astype(_f32)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    return _in_top_k(y_true.astype(np.int64), y_pred, k).astype(_f32)


def _loss_metric(name):
    def fn(y_true, y_pred, **kw):
        from grebe import losses, no_grad

        with no_grad():
            return getattr(losses, name)(y_true, _np(y_pred, _f32), **kw).data
    fn.__name__ = name
    return fn


mean_squared_error = _loss_metric("mean_squared_error")
mean_absolute_error = _loss_metric("mean_absolute_error")
mean_absolute_percentage_error = _loss_metric("mean_absolute_percentage_error")
mean_squared_logarithmic_error = _loss_metric("mean_squared_logarithmic_error")
binary_crossentropy = _loss_metric("binary_crossentropy")
categorical_crossentropy = _loss_metric("categorical_crossentropy")
sparse_categorical_crossentropy = _loss_metric("sparse_categorical_crossentropy")
kl_divergence = _loss_metric("kl_divergence")
poisson = _loss_metric("poisson")
hinge = _loss_metric("hinge")
squared_hinge = _loss_metric("squared_hinge")


# ---- stateful metrics -------------------------------------------------------------------------
class Metric:
    """Base class: subclasses implement update_state / result / reset_state."""

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Updates the state and returns the current result, as Keras's metric(...)."""
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def variables(self) -> list:
        return [getattr(self, v) for v in getattr(self, "_state_names", ())]

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Reduce(Metric):
    _state_names = ("total", "count")

    def __init__(self, reduction="mean", name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._reduction = reduction
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = _np(values, np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
            return
        sw = _np(sample_weight, np.float64)
        values, sw = _match_rank(values, sw)
        if sw.ndim < values.ndim and values.shape[:sw.ndim] == sw.shape:
            sw = sw.reshape(sw.shape + (1,) * (values.ndim - sw.ndim))
        sw = np.broadcast_to(sw, np.broadcast_shapes(values.shape, sw.shape))
        self.total += float(np.sum(values * sw))
        self.count += float(np.sum(sw))

    def result(self):
        if self._reduction == "sum":
            return _f32(self.total)
        return _f32(self.total / self.count) if self.count else _f32(0.0)


class Mean(Reduce):
    """The (weighted) mean of every value given so far."""

    def __init__(self, name="mean", dtype=None):
        super().__init__("mean", name=name, dtype=dtype)


class Sum(Reduce):
    """The (weighted) sum of every value given so far."""

    def __init__(self, name="sum", dtype=None):
        super().__init__("sum", name=name, dtype=dtype)


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function fn(y_true, y_pred, **kwargs)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric"), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


def _wrapper(class_name, fn, default_name, params=None, doc=""):
    params = params or {}

    def __init__(self, *args, name=default_name, dtype=None, **kwargs):
        values = dict(params)
        values.update(zip(params, args))
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise TypeError(f"{class_name}: unrecognized keyword arguments: {unknown}")
        values.update(kwargs)
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **values)

    return type(class_name, (MeanMetricWrapper,),
                {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Accuracy = _wrapper("Accuracy", accuracy, "accuracy", doc="How often y_pred equals y_true.")
BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                          {"threshold": 0.5}, "How often (y_pred > threshold) equals y_true.")
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy,
                               "categorical_accuracy", doc="argmax(y_pred) == argmax(y_true).")
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                     "sparse_categorical_accuracy",
                                     doc="argmax(y_pred) == integer y_true.")
TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                   "top_k_categorical_accuracy", {"k": 5},
                                   "The one-hot target is among the k top predictions.")
SparseTopKCategoricalAccuracy = _wrapper(
    "SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy", {"k": 5},
    "The integer target is among the k top predictions.")
MeanSquaredError = _wrapper("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper("MeanAbsolutePercentageError",
                                       mean_absolute_percentage_error,
                                       "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _wrapper("MeanSquaredLogarithmicError",
                                       mean_squared_logarithmic_error,
                                       "mean_squared_logarithmic_error")
BinaryCrossentropy = _wrapper("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                              {"from_logits": False, "label_smoothing": 0.0})
CategoricalCrossentropy = _wrapper("CategoricalCrossentropy", categorical_crossentropy,
                                   "categorical_crossentropy",
                                   {"from_logits": False, "label_smoothing": 0.0})
SparseCategoricalCrossentropy = _wrapper("SparseCategoricalCrossentropy",
                                         sparse_categorical_crossentropy,
                                         "sparse_categorical_crossentropy",
                                         {"from_logits": False})
KLDivergence = _wrapper("KLDivergence", kl_divergence, "kl_divergence")
Poisson = _wrapper("Poisson", poisson, "poisson")
Hinge = _wrapper("Hinge", hinge, "hinge")
SquaredHinge = _wrapper("SquaredHinge", squared_hinge, "squared_hinge")


class RootMeanSquaredError(Mean):
    """sqrt of the running (weighted) mean of squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
        super().update_state(np.square(y_true - y_pred), sample_weight)

    def result(self):
        return _f32(np.sqrt(super().result()))


# ---- confusion-matrix metrics -------------------------------------------------------------------
def _confusion(y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None):
    """(tp, fp, tn, fn) per threshold, Keras's update_confusion_matrix_variables: a prediction
    is positive when it is > threshold (with top_k, only the k largest per row can be)."""
    y_true, y_pred = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
    if top_k is not None:
        kth = -np.sort(-y_pred, axis=-1)[..., top_k - 1:top_k]
        y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    w = np.ones_like(y_pred) if sample_weight is None else \
        np.broadcast_to(_match_rank(_np(sample_weight, np.float64), y_pred)[0], y_pred.shape)
    y_true, y_pred, w = y_true.ravel(), y_pred.ravel(), np.ravel(w)
    pos, neg = w * (y_true > 0.5), w * (y_true <= 0.5)
    thresholds = np.asarray(thresholds, np.float64)
    # Bucket each prediction by the number of thresholds it exceeds; cumulative sums from the top
    # give, for each threshold, the weight of the predictions above it.
    idx = np.searchsorted(thresholds, y_pred, side="left")
    T = len(thresholds)
    pos_above = np.cumsum(np.bincount(idx, pos, T + 1)[::-1])[::-1][1:]
    neg_above = np.cumsum(np.bincount(idx, neg, T + 1)[::-1])[::-1][1:]
    tp, fp = pos_above, neg_above
    return tp, fp, neg.sum() - fp, pos.sum() - tp


class _ConfusionMetric(Metric):
    _state_names = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        default = 0.5 if top_k is None else -np.inf
        self._scalar = thresholds is None or np.isscalar(thresholds)
        self.thresholds = [default if thresholds is None else thresholds] if self._scalar \
            else list(thresholds)
        for t in self.thresholds:
            if top_k is None and not 0 <= t <= 1:
                raise ValueError(f"{type(self).__name__}: thresholds must be in [0, 1]. "
                                 f"Received: {t}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, tn, fn = _confusion(y_true, y_pred, np.sort(self.thresholds), sample_weight,
                                    self.top_k, self.class_id)
        order = np.argsort(np.argsort(self.thresholds))
        self.true_positives += tp[order]
        self.false_positives += fp[order]
        self.true_negatives += tn[order]
        self.false_negatives += fn[order]

    def _ratio(self, num, den):
        r = np.divide(num, den, out=np.zeros_like(num), where=den != 0).astype(_f32)
        return r[0] if self._scalar else r

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """tp / (tp + fp) with predictions > threshold (default 0.5) counted positive."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """tp / (tp + fn) with predictions > threshold (default 0.5) counted positive."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_negatives)


class AUC(Metric):
    """Area under the ROC or PR curve, Keras's Riemann sum over num_thresholds thresholds."""

    _state_names = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        if multi_label or label_weights is not None:
            raise NotImplementedError("AUC: multi_label / label_weights are not supported yet")
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f'AUC: invalid curve "{curve}". Expected "ROC" or "PR"')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: invalid summation_method {summation_method!r}")
        if thresholds is not None:
            inner = sorted(thresholds)
            num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1. Received: {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds = num_thresholds
        self._thresholds = np.array([0.0 - EPSILON] + list(inner) + [1.0 + EPSILON])
        self.curve = curve.upper()
        self.summation_method = summation_method
        self._from_logits = from_logits
        self._init_thresholds = thresholds
        self.reset_state()

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    def reset_state(self):
        n = self.num_thresholds
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _np(y_pred, np.float64)
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        tp, fp, tn, fn = _confusion(y_true, y_pred, self._thresholds, sample_weight)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _pr_interpolation(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
        ratio = np.where(ratio > 0, ratio, 1.0)
        return float(np.sum(_div(slope * (dtp + intercept * np.log(ratio)),
                                 np.maximum(tp[1:] + fn[1:], 0))))

    def result(self):
        tp, fp, tn, fn = (self.true_positives, self.false_positives, self.true_negatives,
                          self.false_negatives)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _f32(self._pr_interpolation())
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return _f32(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "thresholds": self._init_thresholds, "from_logits": self._from_logits}


def _div(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=b != 0)


# ---- lookup -----------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Mean, Sum, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    RootMeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge, Precision,
    Recall, AUC)}
_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError, "root_mean_squared_error": RootMeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy":
    CategoricalCrossentropy, "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "precision": Precision, "recall": Recall, "auc": AUC,
}


def get(identifier) -> Metric:
    """A Metric from a name ('accuracy', 'mse', 'AUC', ...), a config dict, a Metric (returned
    as is) or a per-sample function (wrapped in MeanMetricWrapper)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier) or \
            _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"metrics.get: unknown metric config {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def _loss_name(loss) -> str:
    if loss is None:
        return ""
    if isinstance(loss, str):
        return loss.lower()
    fn = getattr(loss, "fn", None) or loss
    return _snake(getattr(fn, "__name__", type(loss).__name__)).lower()


def resolve(name, loss=None, y_true_shape=None, y_pred_shape=None) -> Metric:
    """The metric Keras's compile makes for `name`: 'accuracy' / 'acc' become binary,
    sparse-categorical or categorical accuracy (named 'accuracy'), chosen from the loss when it
    says (binary / sparse / categorical crossentropy), else from the shapes as Keras 3 does:
    y_pred's last axis 1 -> binary; y_true of lower rank, or a last axis of 1 against a wider
    y_pred -> sparse; otherwise categorical. Other names go through `get`."""
    if not (isinstance(name, str) and name.lower() in ("accuracy", "acc")):
        return get(name)
    kind = None
    ln = _loss_name(loss)
    if "sparse_categorical_crossentropy" in ln:
        kind = SparseCategoricalAccuracy
    elif "binary_crossentropy" in ln or "binary_focal" in ln:
        kind = BinaryAccuracy
    elif "categorical_crossentropy" in ln:
        kind = CategoricalAccuracy
    elif y_pred_shape is not None:
        yp = tuple(y_pred_shape)
        yt = tuple(y_true_shape) if y_true_shape is not None else yp
        if yp and yp[-1] == 1:
            kind = BinaryAccuracy
        elif len(yt) < len(yp) or (yt and yt[-1] == 1 and yp and yp[-1] > 1):
            kind = SparseCategoricalAccuracy
        else:
            kind = CategoricalAccuracy
    if kind is None:
        raise ValueError("metrics.resolve: 'accuracy' needs the loss or the y_true / y_pred "
                         "shapes to choose binary, categorical or sparse categorical accuracy")
    return kind(name=name)
