"""Hinge losses: hinge, squared hinge, categorical hinge; the per-sample functions and
their Loss classes."""
from __future__ import annotations

import numpy as np

from grebe.losses.inputs import _regression, _pred, _same_shape, _true
from grebe.losses.loss import LossFunctionWrapper
from grebe.ops import loss as K
from grebe.tensor import Tensor


_categorical_hinge = _regression("categorical_hinge", K.categorical_hinge_kernel)


def _hinge_labels(y_true):
    if np.all((y_true == 0) | (y_true == 1)):
        return 2 * y_true - 1
    return y_true


def _hinge(y_true, y_pred, squared=False, sample_weight=None, reduction="none"):
    name = "squared_hinge" if squared else "hinge"
    y_pred = _pred(y_pred)
    y_true, view = _same_shape(name, _true(y_true), y_pred)
    return K.reduce_loss(K.hinge_kernel, y_pred, _hinge_labels(y_true), sample_weight,
                         reduction, -1, view, squared=squared)


def _squared_hinge(y_true, y_pred, sample_weight=None, reduction="none"):
    return _hinge(y_true, y_pred, True, sample_weight, reduction)


def hinge(y_true, y_pred) -> Tensor:
    """mean(max(1 - y_true y_pred, 0), axis=-1); 0/1 labels become -1/1."""
    return _hinge(y_true, y_pred)


def squared_hinge(y_true, y_pred) -> Tensor:
    """mean(max(1 - y_true y_pred, 0)^2, axis=-1); 0/1 labels become -1/1."""
    return _squared_hinge(y_true, y_pred)


def categorical_hinge(y_true, y_pred) -> Tensor:
    """max(max((1 - t) p) - sum(t p) + 1, 0)."""
    return _categorical_hinge(y_true, y_pred)


# ---- classes: Keras 3's arguments, the fused path of the function above -----------------------
class Hinge(LossFunctionWrapper):
    """mean(max(1 - t p, 0))."""

    _fused = staticmethod(_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """mean(max(1 - t p, 0)^2)."""

    _fused = staticmethod(_squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """max(neg - pos + 1, 0)."""

    _fused = staticmethod(_categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)
