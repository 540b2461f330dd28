"""Regression metrics: mean squared / absolute / percentage / squared-log error (the loss
functions, run without gradients) and root mean squared error."""
from __future__ import annotations

import numpy as np

from grebe.metrics.metric import _loss_metric, Mean, _match_rank, _np, _f32, MeanMetricWrapper


mean_squared_error = _loss_metric("mean_squared_error")
mean_absolute_error = _loss_metric("mean_absolute_error")
mean_absolute_percentage_error = _loss_metric("mean_absolute_percentage_error")
mean_squared_logarithmic_error = _loss_metric("mean_squared_logarithmic_error")


class RootMeanSquaredError(Mean):
    """sqrt of the running (weighted) mean of squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
        super().update_state(np.square(y_true - y_pred), sample_weight)

    def result(self):
        return _f32(np.sqrt(super().result()))


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of mean((y_true - y_pred)^2)."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of mean(|y_true - y_pred|)."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Running mean of 100 mean(|y_true - y_pred| / |y_true|)."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Running mean of mean((log1p(y_pred) - log1p(y_true))^2)."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)
