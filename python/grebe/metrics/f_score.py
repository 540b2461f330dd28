"""F1Score and FBetaScore: Keras 3's per-class F-beta over thresholded predictions, with
average=None (one score per class), 'micro', 'macro' or 'weighted'."""
from __future__ import annotations

import numpy as np

from grebe.metrics.metric import EPSILON, Metric, _f32, _np


class FBetaScore(Metric):
    """(1 + beta²)·precision·recall / (beta²·precision + recall), per class.

    threshold=None marks the largest prediction of each row positive; otherwise predictions
    > threshold. y_true and y_pred are (batch, classes)."""

    _state_names = ("true_positives", "false_positives", "false_negatives",
                    "intermediate_weights")

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: invalid `average` argument value. "
                             f"Expected one of: None, 'micro', 'macro', 'weighted'. "
                             f"Received: average={average}")
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or beta <= 0.0:
            raise ValueError(f"{type(self).__name__}: `beta` should be a float greater than "
                             f"0. Received: beta={beta}")
        if threshold is not None and (not isinstance(threshold, (int, float))
                                      or not 0.0 < threshold <= 1.0):
            raise ValueError(f"{type(self).__name__}: `threshold` should be a float in the "
                             f"range (0, 1]. Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self._axis = None if average == "micro" else 0
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = None
        self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _np(y_true, np.float64)
        y_pred = _np(y_pred, np.float64)
        if y_true.ndim != 2 or y_pred.shape != y_true.shape:
            raise ValueError(f"{type(self).__name__}: expected y_true and y_pred of the same "
                             f"shape (batch, classes), received {y_true.shape} and "
                             f"{y_pred.shape}")
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            pred = ((y_pred >= top) & (np.abs(y_pred) > 1e-9)).astype(np.float64)
        else:
            pred = (y_pred > self.threshold).astype(np.float64)
        w = None if sample_weight is None else _np(sample_weight, np.float64).reshape(-1, 1)

        def wsum(v):
            return np.sum(v if w is None else v * w, axis=self._axis)

        parts = (wsum(pred * y_true), wsum(pred * (1 - y_true)), wsum((1 - pred) * y_true),
                 wsum(y_true))
        if self.true_positives is None:
            (self.true_positives, self.false_positives, self.false_negatives,
             self.intermediate_weights) = (np.zeros_like(p) for p in parts)
        self.true_positives = self.true_positives + parts[0]
        self.false_positives = self.false_positives + parts[1]
        self.false_negatives = self.false_negatives + parts[2]
        self.intermediate_weights = self.intermediate_weights + parts[3]

    def result(self):
        if self.true_positives is None:
            return _f32(0.0)
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + EPSILON)
            score = np.sum(score * weights)
        elif self.average is not None:
            score = np.mean(score)
        return np.asarray(score, _f32) if np.ndim(score) else _f32(score)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "average": self.average,
                "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
