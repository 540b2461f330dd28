"""Accuracy metrics: accuracy, binary / categorical / sparse categorical accuracy and the
top-k variants; the per-sample functions and their classes."""
from __future__ import annotations

import numpy as np

from grebe.metrics.metric import _match_rank, _np, _f32, MeanMetricWrapper


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


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5,
                                      from_sorted_ids=False) -> np.ndarray:
    """from_sorted_ids: y_pred holds the ids of the top predictions, best first (as from
    top_k), instead of one score per class."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if from_sorted_ids:
        ids = y_pred[..., :k].astype(np.int64)
        return np.any(ids == y_true.astype(np.int64)[..., None], axis=-1).astype(_f32)
    return _in_top_k(y_true.astype(np.int64), y_pred, k).astype(_f32)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals y_true."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """argmax(y_pred) == argmax(y_true)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """argmax(y_pred) == integer y_true."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """The one-hot target is among the k top predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """The integer target is among the k top predictions (from_sorted_ids: y_pred holds
    the ids of the top predictions, best first, instead of scores)."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype,
              k=k, from_sorted_ids=from_sorted_ids)
