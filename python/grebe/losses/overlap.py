"""Overlap losses for segmentation (Keras 3's dice and tversky and their classes): 1 minus a
soft overlap ratio, summed over `axis` (None: the whole batch)."""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.losses.inputs import _f32, _pred, _raw
from grebe.losses.loss import LossFunctionWrapper

_EPS = 1e-7


def dice(y_true, y_pred, axis=None):
    """1 - 2·sum(y·p) / (sum(y) + sum(p) + eps)."""
    y_pred = _pred(y_pred)
    t = np.asarray(_raw(y_true), _f32)
    inter = ops.sum(y_pred * t, axis=axis)
    return 1.0 - 2.0 * inter / (ops.sum(y_pred, axis=axis) + np.sum(t, axis=axis) + _EPS)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - tp / (tp + alpha·fp + beta·fn + eps), in Keras's soft form."""
    y_pred = _pred(y_pred)
    t = np.asarray(_raw(y_true), _f32)
    inter = ops.sum(y_pred * t, axis=axis)
    fp = ops.sum((1.0 - y_pred) * t, axis=axis)
    fn = ops.sum(y_pred * (1.0 - t), axis=axis)
    return 1.0 - inter / (inter + fp * alpha + fn * beta + _EPS)


class Dice(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Tversky(LossFunctionWrapper):
    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None, dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         beta=beta, axis=axis)
