"""Confusion-matrix counts (TruePositives, FalsePositives, TrueNegatives, FalseNegatives) and the
metrics that read one rate at a constraint on another (SensitivityAtSpecificity,
SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision), on Keras 3's thresholds."""
from __future__ import annotations

import numpy as np

from grebe.metrics.confusion import _ConfusionMetric
from grebe.metrics.metric import EPSILON, _f32


class _Count(_ConfusionMetric):
    _which = ""

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, None, None, name, dtype)

    def result(self):
        r = getattr(self, self._which).astype(_f32)
        return r[0] if self._scalar else r

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_Count):
    """The (weighted) number of positives predicted > threshold (default 0.5)."""
    _which = "true_positives"


class FalsePositives(_Count):
    _which = "false_positives"


class TrueNegatives(_Count):
    _which = "true_negatives"


class FalseNegatives(_Count):
    _which = "false_negatives"


class _AtConstraint(_ConfusionMetric):
    """Keras's num_thresholds evenly spaced thresholds in (0, 1) plus -eps and 1 + eps; the
    result is the largest `dependent` rate among thresholds where `constrained` >= value."""

    _arg = "value"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= value <= 1:
            raise ValueError(f"{type(self).__name__}: `{self._arg}` must be in the range "
                             f"[0, 1]. Received: {self._arg}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"{type(self).__name__}: `num_thresholds` must be > 0. "
                             f"Received: num_thresholds={num_thresholds}")
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        super().__init__([0.0] + inner + [1.0], None, class_id, name, dtype)
        self.thresholds = [-EPSILON] + inner + [1.0 + EPSILON]
        self.value, self.num_thresholds = value, num_thresholds
        self.reset_state()

    def _rates(self):
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        return {"sensitivity": tp / (tp + fn + EPSILON), "recall": tp / (tp + fn + EPSILON),
                "specificity": tn / (tn + fp + EPSILON), "precision": tp / (tp + fp + EPSILON)}

    def _max_under(self, constrained, dependent):
        rates = self._rates()
        feasible = rates[constrained] >= self.value
        if not feasible.any():
            return _f32(0.0)
        return _f32(np.max(rates[dependent][feasible], initial=0.0))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, self._arg: self.value,
                "num_thresholds": self.num_thresholds, "class_id": self.class_id}


class SensitivityAtSpecificity(_AtConstraint):
    _arg = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._max_under("specificity", "sensitivity")


class SpecificityAtSensitivity(_AtConstraint):
    _arg = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._max_under("sensitivity", "specificity")


class PrecisionAtRecall(_AtConstraint):
    _arg = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._max_under("recall", "precision")


class RecallAtPrecision(_AtConstraint):
    _arg = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._max_under("precision", "recall")
