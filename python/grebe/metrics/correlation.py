"""Correlation metrics (Keras 3's pearson_correlation, concordance_correlation and their
running-mean classes): per-sample correlations along `axis`, averaged over batches."""
from __future__ import annotations

import numpy as np

from grebe.metrics.metric import EPSILON, MeanMetricWrapper, _match_rank, _np


def pearson_correlation(y_true, y_pred, axis=-1) -> np.ndarray:
    """mean(z(y_true) * z(y_pred)) along axis, z = centred and divided by the std."""
    y_true, y_pred = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
    t = y_true - y_true.mean(axis=axis, keepdims=True)
    p = y_pred - y_pred.mean(axis=axis, keepdims=True)
    t = t / t.std(axis=axis, keepdims=True)
    p = p / p.std(axis=axis, keepdims=True)
    return np.mean(t * p, axis=axis).astype(np.float32)


def concordance_correlation(y_true, y_pred, axis=-1) -> np.ndarray:
    """Lin's concordance: 2 cov / (var_t + var_p + (mean_t - mean_p)²), Keras's form."""
    y_true, y_pred = _match_rank(_np(y_true, np.float64), _np(y_pred, np.float64))
    mt = y_true.mean(axis=axis, keepdims=True)
    mp = y_pred.mean(axis=axis, keepdims=True)
    vt = np.var(y_true - mt, axis=axis, keepdims=True)
    vp = np.var(y_pred - mp, axis=axis, keepdims=True)
    covar = (y_true - mp) * (y_pred - mp)
    norm = vt + vp + np.square(mt - mp)
    return np.mean(2 * covar / (norm + EPSILON), axis=axis).astype(np.float32)


class PearsonCorrelation(MeanMetricWrapper):
    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)


class ConcordanceCorrelation(MeanMetricWrapper):
    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
