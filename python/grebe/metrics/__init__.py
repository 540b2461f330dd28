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
from grebe.metrics.confusion_counts import (FalseNegatives, FalsePositives,
                                            PrecisionAtRecall, RecallAtPrecision,
                                            SensitivityAtSpecificity, SpecificityAtSensitivity,
                                            TrueNegatives, TruePositives)
from grebe.metrics.correlation import (ConcordanceCorrelation, PearsonCorrelation,
                                       concordance_correlation, pearson_correlation)
from grebe.metrics.f_score import F1Score, FBetaScore
from grebe.metrics.hinge import (CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge,
                                 squared_hinge)
from grebe.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from grebe.metrics.metric import Mean, MeanMetricWrapper, Metric, Reduce, Sum, _snake
from grebe.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy,
                                         KLDivergence, Poisson, SparseCategoricalCrossentropy,
                                         binary_crossentropy, categorical_crossentropy,
                                         kl_divergence, poisson, sparse_categorical_crossentropy)
from grebe.metrics.regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError,
                                      MeanAbsolutePercentageError, MeanSquaredError,
                                      MeanSquaredLogarithmicError, R2Score, RootMeanSquaredError,
                                      mean_absolute_error, mean_absolute_percentage_error,
                                      mean_squared_error, mean_squared_logarithmic_error)
from grebe.metrics.metric import _loss_metric

# Loss functions Keras also exports as metrics (run without gradients).
huber = _loss_metric("huber")
log_cosh = _loss_metric("log_cosh")
binary_focal_crossentropy = _loss_metric("binary_focal_crossentropy")
categorical_focal_crossentropy = _loss_metric("categorical_focal_crossentropy")


# ---- lookup -----------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Mean, Sum, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    RootMeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge, Precision,
    Recall, AUC, TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
    PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity,
    F1Score, FBetaScore, R2Score, IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU,
    CosineSimilarity, LogCoshError, CategoricalHinge, PearsonCorrelation,
    ConcordanceCorrelation, MeanMetricWrapper)}
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
    "categorical_hinge": CategoricalHinge, "cosine_similarity": CosineSimilarity,
    "logcosh": LogCoshError, "log_cosh": LogCoshError, "r2_score": R2Score,
    "f1_score": F1Score, "fbeta_score": FBetaScore,
    "pearson_correlation": PearsonCorrelation,
    "concordance_correlation": ConcordanceCorrelation,
}


def serialize(metric) -> dict:
    """A Metric as Keras's {"module", "class_name", "config", "registered_name"} dict."""
    from grebe import registry

    if not isinstance(metric, Metric):
        raise TypeError(f"metrics.serialize: expected a Metric, received {metric!r}")
    return {"module": "grebe.metrics", "class_name": type(metric).__name__,
            "config": metric.get_config(),
            "registered_name": registry.get_registered_name(type(metric))}


def deserialize(config, custom_objects=None) -> Metric:
    """A Metric from serialize()'s dict or a name."""
    from grebe import registry

    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics.deserialize: expected a dict with 'class_name', received "
                         f"{config!r}")
    name = config["class_name"]
    cls = registry.lookup(config.get("registered_name"), name,
                          custom_objects=custom_objects) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"metrics.deserialize: unknown metric '{name}': pass custom_objects="
                         f"{{'{name}': {name}}} or register it")
    return cls.from_config(config.get("config") or {})


def get(identifier) -> Metric:
    """A Metric from a name ('accuracy', 'mse', 'AUC', ...), a config dict, a Metric (returned
    as is) or a per-sample function (wrapped in MeanMetricWrapper)."""
    from grebe import registry

    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier) or \
            _BY_NAME.get(identifier.lower()) or registry.lookup(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
        return cls() if isinstance(cls, type) else get(cls)
    if isinstance(identifier, dict):
        return deserialize(identifier)
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
