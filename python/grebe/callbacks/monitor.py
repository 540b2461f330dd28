"""Helpers the monitoring callbacks share: which way a metric improves, reading a logged
value and the optimizer's learning rate."""
from __future__ import annotations

import numpy as np


# ---- monitoring helpers --------------------------------------------------------------------

_UP = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "true_positives",
       "true_negatives")
_DOWN = ("loss", "error", "crossentropy", "hinge", "divergence", "poisson", "logcosh",
         "false_positives", "false_negatives", "mse", "mae", "mape", "msle")


def metric_direction(model, monitor: str):
    """'max' or 'min' for a logged metric name, or None when it cannot be told."""
    base = monitor[4:] if monitor.startswith("val_") else monitor
    if base == "loss" or base.endswith("_loss"):
        return "min"
    cm = getattr(model, "_compile_metrics", None)
    for _, m, _, name in getattr(cm, "entries", ()):
        if name == base and getattr(m, "_direction", None) in ("up", "down"):
            return "max" if m._direction == "up" else "min"
    if any(s in base for s in _UP):
        return "max"
    if any(s in base for s in _DOWN):
        return "min"
    return None


def to_scalar(v):
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return None


def get_lr(optimizer) -> float:
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"the optimizer {type(optimizer).__name__} has no 'learning_rate' "
                         f"attribute")
    lr = optimizer.learning_rate
    return float(np.asarray(getattr(lr, "data", lr)))
