"""Intersection-over-union metrics (Keras 3's IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU):
a confusion matrix of class ids accumulated over batches; IoU of class c = tp / (tp + fp + fn),
averaged over the target classes that occurred."""
from __future__ import annotations

import warnings

import numpy as np

from grebe.metrics.metric import EPSILON, Metric, _f32, _np


class IoU(Metric):
    """IoU over `target_class_ids` (labels as class ids unless sparse_y_* is False: then the
    argmax over `axis`)."""

    _state_names = ("total_cm",)

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name or "io_u", dtype=dtype or "int")
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be a positive integer, "
                             f"received {num_classes!r}")
        target_class_ids = list(target_class_ids)
        if max(target_class_ids, default=0) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which "
                             f"is [0, {num_classes}).")
        self.num_classes, self.target_class_ids = int(num_classes), target_class_ids
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.reset_state()

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes), np.float64)

    def _ids(self, y, sparse):
        y = _np(y)
        if not sparse:
            y = np.argmax(y, axis=self.axis)
        return y

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = self._ids(y_true, self.sparse_y_true).reshape(-1).astype(np.int64)
        p = self._ids(y_pred, self.sparse_y_pred).reshape(-1).astype(np.int64)
        w = np.ones(t.shape, np.float64) if sample_weight is None else \
            np.broadcast_to(_np(sample_weight, np.float64).reshape(-1), t.shape)
        if "int" in str(self.dtype) and sample_weight is not None:
            # Keras counts in the metric's dtype, "int" by default: weights are truncated.
            if np.any(w != np.trunc(w)):
                warnings.warn(f"{type(self).__name__}: float sample weights are truncated to "
                              f"integers (the metric's dtype is {self.dtype!r}, as in Keras); "
                              f"pass dtype='float32' to count fractional weights",
                              stacklevel=2)
            w = np.trunc(w)
        keep = np.ones(t.shape, bool) if self.ignore_class is None else t != self.ignore_class
        t, p, w = t[keep], p[keep], w[keep]
        bad = (t < 0) | (t >= self.num_classes) | (p < 0) | (p >= self.num_classes)
        if bad.any():
            raise ValueError(f"{type(self).__name__} '{self.name}': class ids must be in "
                             f"[0, {self.num_classes}), received "
                             f"{int(np.concatenate([t[bad], p[bad]]).max())}")
        n = self.num_classes
        self.total_cm += np.bincount(t * n + p, w, n * n).reshape(n, n)

    def result(self):
        cm = self.total_cm
        tp = np.diag(cm)
        denom = cm.sum(axis=0) + cm.sum(axis=1) - tp
        ids = self.target_class_ids
        tp, denom = tp[ids], denom[ids]
        valid = np.sum(denom > 0)
        iou = tp / (denom + EPSILON)
        return _f32(np.sum(iou) / (valid + EPSILON))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """IoU averaged over every class."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name or "mean_io_u",
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """IoU of the classes 0 and 1 with predictions > threshold counted as 1."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, list(target_class_ids), name=name or "binary_io_u", dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = (_np(y_pred, np.float64) > self.threshold).astype(np.int64)
        y_true = (_np(y_true, np.float64) > self.threshold).astype(np.int64)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype,
                "target_class_ids": self.target_class_ids, "threshold": self.threshold}


class OneHotIoU(IoU):
    """IoU with one-hot labels and per-class scores (argmax over the last axis)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name or "one_hot_io_u",
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels and per-class scores."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name or "one_hot_mean_io_u", dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)
