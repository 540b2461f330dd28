"""Regression losses: mean squared / absolute / percentage / squared-log error, Huber,
log-cosh, cosine similarity; the per-sample functions and their Loss classes."""
from __future__ import annotations

import numpy as np

from grebe.losses.inputs import _regression, _pred, _same_shape, _true
from grebe.losses.loss import LossFunctionWrapper
from grebe.ops import loss as K
from grebe.tensor import Tensor


_mse = _regression("mean_squared_error", K.mse_kernel)
_mae = _regression("mean_absolute_error", K.mae_kernel)
_mape = _regression("mean_absolute_percentage_error", K.mape_kernel)
_msle = _regression("mean_squared_logarithmic_error", K.msle_kernel)
_log_cosh = _regression("log_cosh", K.log_cosh_kernel)


def _huber(y_true, y_pred, delta=1.0, sample_weight=None, reduction="none"):
    y_pred = _pred(y_pred)
    y_true, view = _same_shape("huber", _true(y_true), y_pred)
    return K.reduce_loss(K.huber_kernel, y_pred, y_true, sample_weight, reduction, -1, view,
                         delta=float(delta))


def _cosine(y_true, y_pred, axis=-1, sample_weight=None, reduction="none"):
    y_pred = _pred(y_pred)
    y_true, view = _same_shape("cosine_similarity", _true(y_true), y_pred)
    if axis not in (-1, y_pred.ndim - 1):
        y_true = np.moveaxis(y_true, axis, -1)
    return K.reduce_loss(K.cosine_similarity_kernel, y_pred, y_true, sample_weight, reduction,
                         axis, view)


def mean_squared_error(y_true, y_pred) -> Tensor:
    """mean((y_true - y_pred)^2, axis=-1)."""
    return _mse(y_true, y_pred)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """mean(|y_true - y_pred|, axis=-1)."""
    return _mae(y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    """100 * mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1)."""
    return _mape(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2, axis=-1)."""
    return _msle(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0) -> Tensor:
    """mean of 0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta); e = y_pred - y_true."""
    return _huber(y_true, y_pred, delta)


def log_cosh(y_true, y_pred) -> Tensor:
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed without overflow."""
    return _log_cosh(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1) -> Tensor:
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)."""
    return _cosine(y_true, y_pred, axis)


# ---- classes: Keras 3's arguments, the fused path of the function above -----------------------
class MeanSquaredError(LossFunctionWrapper):
    """mean((y_true - y_pred)^2)."""

    _fused = staticmethod(_mse)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """mean(|y_true - y_pred|)."""

    _fused = staticmethod(_mae)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """100 mean(|y_true - y_pred| / |y_true|)."""

    _fused = staticmethod(_mape)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error",
                 dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction,
                         name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """mean((log1p(y_pred) - log1p(y_true))^2)."""

    _fused = staticmethod(_msle)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error",
                 dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction,
                         name=name, dtype=dtype)


class Huber(LossFunctionWrapper):
    """Quadratic for |error| <= delta, linear beyond."""

    _fused = staticmethod(_huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    """mean(log cosh(error))."""

    _fused = staticmethod(_log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """-cosine similarity of y_true and y_pred along axis."""

    _fused = staticmethod(_cosine)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
