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

from grebe.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                    SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                    TopKCategoricalAccuracy, accuracy, binary_accuracy,
                                    categorical_accuracy, sparse_categorical_accuracy,
                                    sparse_top_k_categorical_accuracy,
                                    top_k_categorical_accuracy)
from grebe.metrics.confusion import AUC, Precision, Recall
from grebe.metrics.hinge import Hinge, SquaredHinge, hinge, squared_hinge
from grebe.metrics.metric import Mean, MeanMetricWrapper, Metric, Reduce, Sum, _snake
from grebe.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy,
                                         KLDivergence, Poisson, SparseCategoricalCrossentropy,
                                         binary_crossentropy, categorical_crossentropy,
                                         kl_divergence, poisson, sparse_categorical_crossentropy)
from grebe.metrics.regression import (MeanAbsoluteError, MeanAbsolutePercentageError,
                                      MeanSquaredError, MeanSquaredLogarithmicError,
                                      RootMeanSquaredError, mean_absolute_error,
                                      mean_absolute_percentage_error, mean_squared_error,
                                      mean_squared_logarithmic_error)


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
