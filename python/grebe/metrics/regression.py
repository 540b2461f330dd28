"""Regression metrics: mean squared / absolute / percentage / squared-log error (the loss
functions, run without gradients), root mean squared error, cosine similarity, log-cosh error
and R2Score."""
from __future__ import annotations

import warnings

import numpy as np

from grebe.metrics.metric import (Mean, MeanMetricWrapper, Metric, _f32, _loss_metric,
                                 _match_rank, _np)


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

def cosine_similarity(y_true, y_pred, axis=-1) -> np.ndarray:
    """Cosine of the angle between y_true and y_pred along axis (l2-normalized, eps 1e-12)."""
    t, p = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
    t = t / np.sqrt(np.maximum(np.sum(t * t, axis=axis, keepdims=True), 1e-12))
    p = p / np.sqrt(np.maximum(np.sum(p * p, axis=axis, keepdims=True), 1e-12))
    return np.sum(t * p, axis=axis).astype(np.float32)


def logcosh(y_true, y_pred) -> np.ndarray:
    t, p = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
    x = p - t
    return np.mean(x + np.logaddexp(-2.0 * x, 0.0) - np.log(2.0), axis=-1).astype(np.float32)


class CosineSimilarity(MeanMetricWrapper):
    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)


class LogCoshError(MeanMetricWrapper):
    def __init__(self, name="logcosh", dtype=None):
        super().__init__(logcosh, name=name, dtype=dtype)


class R2Score(Metric):
    """Coefficient of determination per output column, then aggregated: 'uniform_average'
    (default), 'variance_weighted_average' or None (per column); num_regressors > 0 gives the
    adjusted R²."""

    _state_names = ("sum", "squared_sum", "total_mse", "count", "num_samples")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0,
                 name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of "
                             f"(None, 'uniform_average', 'variance_weighted_average'). "
                             f"Received: class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError(f"Invalid value for argument `num_regressors`. Expected a value "
                             f">= 0. Received: num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self):
        # Keras zeroes the per-column state it built on the first update (R2 is then 0/0).
        for k in ("sum", "squared_sum", "total_mse", "count"):
            v = getattr(self, k, None)
            setattr(self, k, None if v is None else np.zeros_like(v))
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
        if t.ndim == 1:
            t, p = t[:, None], p[:, None]
        w = np.ones_like(t) if sample_weight is None else _np(sample_weight, np.float64)
        if w.ndim == 1:
            w = w[:, None]
        w = np.broadcast_to(w, t.shape)
        parts = (np.sum(t * w, 0), np.sum(t * t * w, 0), np.sum((t - p) ** 2 * w, 0),
                 np.sum(w, 0))
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = \
                (np.zeros_like(a) for a in parts)
        self.sum = self.sum + parts[0]
        self.squared_sum = self.squared_sum + parts[1]
        self.total_mse = self.total_mse + parts[2]
        self.count = self.count + parts[3]
        self.num_samples += t.size

    def result(self):
        if self.sum is None:
            return _f32(np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = np.sum(total * raw) / np.sum(total)
        else:
            r2 = raw
        n, k = self.num_samples, self.num_regressors
        if k:
            if k >= n - 1:
                warnings.warn("R2Score: too few samples for the adjusted R2 score "
                              "(num_regressors >= num_samples - 1); the plain R2 is returned",
                              stacklevel=2)
            else:
                r2 = 1 - (1 - r2) * (n - 1) / (n - k - 1)
        return np.asarray(r2, _f32) if np.ndim(r2) else _f32(r2)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype,
                "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
