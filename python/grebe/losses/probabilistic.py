"""Probabilistic losses: binary, categorical and sparse categorical cross-entropy,
KL divergence, Poisson; the per-sample functions and their Loss classes."""
from __future__ import annotations

import numpy as np

from grebe.losses.inputs import (_f32, _labels, _mask_weight, _maybe_logits, _pred, _raw,
                                 _regression, _same_shape, _true)
from grebe.losses.loss import LossFunctionWrapper
from grebe.ops import loss as K
from grebe.tensor import Tensor


_kld = _regression("kl_divergence", K.kl_divergence_kernel)
_poisson = _regression("poisson", K.poisson_kernel)


def _bce(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, sample_weight=None,
         reduction="none"):
    name = "binary_crossentropy"
    y_pred, from_logits = _maybe_logits(name, y_pred, from_logits, "sigmoid")
    y_pred = _pred(y_pred)
    y_true, view = _same_shape(name, _true(y_true), y_pred)
    if label_smoothing:
        y_true = y_true * _f32(1.0 - label_smoothing) + _f32(0.5 * label_smoothing)
    if axis not in (-1, len(view or y_pred.shape) - 1):
        y_true = np.ascontiguousarray(np.moveaxis(y_true, axis, -1))
    kernel = K.sigmoid_ce_kernel if from_logits else K.bce_kernel
    return K.reduce_loss(kernel, y_pred, y_true, sample_weight, reduction, axis, view)


def _cce(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, sample_weight=None,
         reduction="none"):
    name = "categorical_crossentropy"
    if axis in (-1, np.ndim(y_pred) - 1):
        y_pred, from_logits = _maybe_logits(name, y_pred, from_logits, "softmax")
    y_pred = _pred(y_pred)
    y_true = _true(y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true and y_pred must have the same shape (one-hot or soft "
                         f"labels), received y_true.shape={y_true.shape} and "
                         f"y_pred.shape={y_pred.shape}")
    if label_smoothing:
        C = y_pred.shape[axis]
        y_true = y_true * _f32(1.0 - label_smoothing) + _f32(label_smoothing / C)
    if axis not in (-1, y_pred.ndim - 1):
        y_true = np.ascontiguousarray(np.moveaxis(y_true, axis, -1))
    kernel = K.softmax_ce_kernel if from_logits else K.cce_kernel
    return K.reduce_loss(kernel, y_pred, y_true, sample_weight, reduction, axis)


def _scce(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1, sample_weight=None,
          reduction="none"):
    name = "sparse_categorical_crossentropy"
    if axis == -1 or axis == np.ndim(y_pred) - 1:
        y_pred, from_logits = _maybe_logits(name, y_pred, from_logits, "softmax")
    y_pred = _pred(y_pred)
    if ignore_class is not None:
        raw = np.asarray(_raw(y_true))
        valid = raw != ignore_class
        y_true = np.where(valid, raw, 0)
    labels = _labels(name, y_true, y_pred, axis, check_range=not from_logits)
    if ignore_class is not None:
        valid = valid.reshape(labels.shape)
        if reduction == "none":
            sample_weight = valid if sample_weight is None else \
                K._match_weight(valid.shape, np.asarray(sample_weight, _f32)) * valid
        else:
            sample_weight = _mask_weight(None, sample_weight, reduction, mask=valid)
    if not from_logits:
        return K.reduce_loss(K.sparse_cce_kernel, y_pred, labels, sample_weight, reduction, axis)
    try:  # the native kernel checks the label range (no Python pass over the labels)
        return K.reduce_loss(K.sparse_softmax_ce_kernel, y_pred, labels, sample_weight,
                             reduction, axis)
    except ValueError:
        _labels(name, labels, y_pred, axis)  # raises the error naming this loss if out of range
        raise


def kl_divergence(y_true, y_pred) -> Tensor:
    """sum(t log(t / p), axis=-1) with both clipped to [eps, 1]."""
    return _kld(y_true, y_pred)


def poisson(y_true, y_pred) -> Tensor:
    """mean(y_pred - y_true log(y_pred + eps), axis=-1)."""
    return _poisson(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0,
                        axis=-1) -> Tensor:
    """mean over `axis` of -(t log p + (1 - t) log(1 - p))."""
    return _bce(y_true, y_pred, from_logits, label_smoothing, axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0,
                             axis=-1) -> Tensor:
    """-sum(t log p, axis) for one-hot or soft targets t."""
    return _cce(y_true, y_pred, from_logits, label_smoothing, axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1) -> Tensor:
    """-log p[label] for integer labels (shape y_pred.shape without `axis`, or with a trailing
    axis of 1); labels equal to ignore_class give 0."""
    return _scce(y_true, y_pred, from_logits, ignore_class, axis)


# ---- classes: Keras 3's arguments, the fused path of the function above -----------------------
class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence sum(t log(t / p))."""

    _fused = staticmethod(_kld)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """mean(p - t log p)."""

    _fused = staticmethod(_poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy (fused and stable on logits or after a sigmoid)."""

    _fused = staticmethod(_bce)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy for one-hot/soft targets (fused on logits or after a softmax)."""

    _fused = staticmethod(_cce)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy for integer labels (fused on logits or after a softmax)."""

    _fused = staticmethod(_scce)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction,
                         name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
