"""Confusion-matrix metrics: Precision, Recall and AUC, counted per threshold."""
from __future__ import annotations

import numpy as np

from grebe.metrics.metric import _match_rank, _np, Metric, _f32, EPSILON


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

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name or "precision", dtype)

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """tp / (tp + fn) with predictions > threshold (default 0.5) counted positive."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name or "recall", dtype)

    def result(self):
        return self._ratio(self.true_positives, self.true_positives + self.false_negatives)


class AUC(Metric):
    """Area under the ROC or PR curve, Keras's Riemann sum over num_thresholds thresholds."""

    _state_names = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name or "auc", dtype=dtype)
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
