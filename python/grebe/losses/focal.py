"""Focal and generalized cross-entropies (Keras 3's binary_focal_crossentropy,
categorical_focal_crossentropy, categorical_generalized_cross_entropy and their classes),
composed from grebe ops so their gradients come from autograd."""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.losses.inputs import _f32, _pred, _raw
from grebe.losses.loss import LossFunctionWrapper

_EPS = 1e-7


def _true(y_true):
    return np.asarray(_raw(y_true), _f32)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over `axis` of (1 - p_t)^gamma · bce, p_t the probability of the true label
    (times alpha / 1 - alpha with apply_class_balancing)."""
    y_pred = _pred(y_pred)
    t = _true(y_true)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = ops.sigmoid(y_pred) if from_logits else y_pred
    pc = ops.clip(p, _EPS, 1.0 - _EPS)
    bce = -(t * ops.log(pc) + (1.0 - t) * ops.log(1.0 - pc))
    p_t = t * p + (1.0 - t) * (1.0 - p)
    focal = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (t * alpha + (1.0 - t) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """sum over `axis` of alpha · (1 - p)^gamma · (-y log p), p normalized and clipped."""
    y_pred = _pred(y_pred)
    t = _true(y_true)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    p = ops.softmax(y_pred, axis) if from_logits else y_pred
    p = ops.clip(p / ops.sum(p, axis=axis, keepdims=True), _EPS, 1.0 - _EPS)
    cce = -t * ops.log(p)
    return ops.sum(ops.power(1.0 - p, gamma) * alpha * cce, axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """(1 - p_y^q) / q for integer labels y (Zhang & Sabuncu's robust loss)."""
    y_pred = _pred(y_pred)
    labels = np.asarray(_raw(y_true)).astype(np.int64).reshape(-1)
    one_hot = np.eye(y_pred.shape[-1], dtype=_f32)[labels].reshape(y_pred.shape)
    p = ops.sum(y_pred * one_hot, axis=-1)
    return (1.0 - ops.power(p, q)) / q


class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval "
                             f"(0, 1). Received: q={q}")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name,
                         dtype=dtype, q=q)
