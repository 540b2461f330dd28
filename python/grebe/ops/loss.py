"""Loss ops: one Function (`LossFunction`) turns a per-sample loss kernel into a reduced,
sample-weighted, differentiable loss, and the fused cross-entropy kernels (grebe._C) that give
loss and gradient in one pass over the logits.

A kernel is `kernel(y_pred, y_true, need_grad, **kw) -> (values, grad)`: y_pred (..., C) float32
with the reduced axis last, values (...) the per-sample losses, grad (..., C) = d values /
d y_pred (each value depends on its own row only), or None when need_grad is False.

>>> import grebe, numpy as np
>>> logits = grebe.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
>>> loss = grebe.ops.sparse_softmax_cross_entropy(logits, np.array([0]))
>>> loss.backward(np.ones(1, np.float32)); np.round(logits.grad, 3)
array([[-0.214,  0.175,  0.039]], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.tensor import Tensor

_f32 = np.float32
REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight")


def _raw(x):
    """A Tensor's array; anything else unchanged (numpy's own `.data` is a memoryview)."""
    return x.data if isinstance(x, Tensor) else x

def _f32c(x):
    if type(x) is np.ndarray and x.dtype == _f32 and x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(x, dtype=_f32)


def _match_weight(values_shape, sw):
    """Keras's squeeze_or_expand_to_same_rank for (values, sample_weight), acting on the weight
    only: a trailing axis of 1 is dropped, or one is added, so the two broadcast."""
    vr, wr = len(values_shape), sw.ndim
    if wr == vr + 1 and sw.shape[-1] == 1:
        sw = sw.reshape(sw.shape[:-1])
    elif vr == wr + 1 and values_shape[-1] == 1:
        sw = sw[..., None]
    elif vr > wr and values_shape[:wr] == sw.shape:
        sw = sw.reshape(sw.shape + (1,) * (vr - wr))  # (N,) weights for (N, T) values
    return sw


class LossFunction(Function):
    """y_pred (..., C) -> reduce(sample_weight * kernel(y_pred, y_true)); y_true is a constant.

    cfg = (y_true, sample_weight, kernel, kw, reduction, axis, pred_shape): `axis` is the axis of
    y_pred the kernel reduces (moved last for the kernel and back for the gradient);
    `pred_shape`, when given, is the shape y_pred is viewed as (Keras expands (N,) predictions
    to (N, 1) against (N, 1) targets). Kernels may return a third value, the float sum of the
    per-sample losses, which saves a reduction."""

    @staticmethod
    def forward(ctx, y_pred, cfg):
        y_true, sample_weight, kernel, kw, reduction, axis, pred_shape = cfg
        orig_shape = y_pred.shape
        if pred_shape is not None:
            y_pred = y_pred.reshape(pred_shape)
        moved = axis != -1 and axis != y_pred.ndim - 1
        if moved:
            y_pred = np.moveaxis(y_pred, axis, -1)
        need = ctx.needs_input_grad[0]
        res = kernel(_f32c(y_pred), y_true, need, **kw)
        values, grad = res[0], res[1]
        if sample_weight is None and (reduction == "sum_over_batch_size" or reduction == "mean"):
            # The common case, kept short: the mean of the per-sample losses.
            n = values.size
            if need:
                ctx.save(grad, None, float(n), None, None, moved, axis, orig_shape)
            if not n:
                return np.zeros((), _f32)
            total = res[2] if len(res) == 3 else values.sum(dtype=_f32)
            return np.array(total / n, dtype=_f32)
        sw = None
        if sample_weight is not None:
            sw = _match_weight(values.shape, sample_weight)
            weighted = values * sw
        else:
            weighted = values
        if reduction == "none":
            out = weighted
            divisor = None
        else:
            total = weighted.sum(dtype=_f32)
            if reduction == "sum":
                divisor = 1.0
            elif reduction == "mean_with_sample_weight" and sw is not None:
                divisor = float(np.broadcast_to(sw, weighted.shape).sum(dtype=_f32))
            else:
                divisor = float(weighted.size)
            out = total / _f32(divisor) if divisor else np.zeros((), _f32)
        if need:
            ctx.save(grad, sw, divisor, values.shape, weighted.shape, moved, axis, orig_shape)
        return np.asarray(out, dtype=_f32)

    @staticmethod
    def backward(ctx, dy):
        grad, sw, divisor, vshape, wshape, moved, axis, orig_shape = ctx.saved
        if divisor is None:  # reduction 'none': dy has the weighted shape
            f = dy if sw is None else dy * sw
        elif sw is None:
            f = dy / _f32(divisor) if divisor else np.zeros((), _f32)
        else:
            f = np.broadcast_to(dy / _f32(divisor) * sw if divisor else sw * 0, wshape)
        if f.ndim:
            if f.shape != vshape:  # weights broadcast the values: sum back
                from grebe.autograd import unbroadcast
                f = unbroadcast(f, vshape)
            d = grad * f.astype(_f32, copy=False)[..., None]
        else:
            d = grad * f
        if moved:
            d = np.ascontiguousarray(np.moveaxis(d, -1, axis))
        if d.shape != orig_shape:
            d = d.reshape(orig_shape)
        return d, None


def reduce_loss(kernel, y_pred, y_true, sample_weight=None, reduction="sum_over_batch_size",
                axis=-1, pred_shape=None, **kw) -> Tensor:
    """Applies LossFunction (see its docstring): the entry every loss in grebe.losses uses."""
    if type(y_pred) is not Tensor:
        y_pred = _f32c(y_pred)
    if sample_weight is not None:
        sample_weight = np.asarray(_raw(sample_weight), dtype=_f32)
    return LossFunction.apply(y_pred, (y_true, sample_weight, kernel, kw, reduction, axis,
                                       pred_shape))


# ---- fused cross-entropy kernels -------------------------------------------------------------
def sparse_softmax_ce_kernel(logits, labels, need_grad):
    """logits (..., C), int64 labels (...) -> (-log softmax(logits)[label], softmax - onehot)."""
    C = logits.shape[-1]
    if logits.ndim == 2:
        return _C.softmax_cross_entropy_sparse(logits, labels, need_grad)
    loss, grad, total = _C.softmax_cross_entropy_sparse(logits.reshape(-1, C),
                                                        labels.reshape(-1), need_grad)
    return (loss.reshape(logits.shape[:-1]),
            grad.reshape(logits.shape) if need_grad else None, total)


def softmax_ce_kernel(logits, targets, need_grad):
    """logits, targets (..., C) -> (sum t (lse - x), softmax * sum(t) - t)."""
    C = logits.shape[-1]
    loss, grad, total = _C.softmax_cross_entropy_dense(logits.reshape(-1, C),
                                                       _f32c(targets).reshape(-1, C), need_grad)
    return (loss.reshape(logits.shape[:-1]),
            grad.reshape(logits.shape) if need_grad else None, total)


def sigmoid_ce_kernel(logits, targets, need_grad):
    """Mean over the last axis of the elementwise sigmoid cross-entropy with logits."""
    C = logits.shape[-1] if logits.ndim else 1
    loss, grad = _C.sigmoid_cross_entropy(logits, _f32c(targets), need_grad)
    values = np.mean(loss, axis=-1, dtype=_f32) if logits.ndim else loss
    if need_grad and C != 1:
        grad *= _f32(1.0 / C)
    return values, grad


class LabelError(ValueError):
    """A label out of range; `position` is its sample's index in the batch, which fit and
    evaluate turn into the index in the whole data set (see Trainer._label_error)."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.message, self.position = message, position


def int_labels(labels, who: str) -> np.ndarray:
    """Class labels as contiguous int64, or a clear error naming `who`: float labels must hold
    whole numbers (1.0 is label 1; 1.5 is refused, never truncated), and anything but
    integers, booleans and such floats is a TypeError."""
    y = np.asarray(_raw(labels))
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            raise ValueError(f"{who}: y_true must hold integer class labels, received "
                             f"non-integer values such as {y[bad][:3].tolist()} (first at "
                             f"index {i})")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{who}: y_true must hold integer class labels, received dtype "
                        f"{y.dtype}")
    return np.ascontiguousarray(y, dtype=np.int64)


def sparse_softmax_cross_entropy(logits, labels) -> Tensor:
    """logits (..., C), integer labels (...) -> per-sample losses (...), fused and stable."""
    labels = int_labels(labels, "sparse_softmax_cross_entropy")
    return reduce_loss(sparse_softmax_ce_kernel, logits, labels, reduction="none")


def softmax_cross_entropy(logits, targets) -> Tensor:
    """logits (..., C), target distributions (..., C) -> per-sample losses (...)."""
    targets = _f32c(_raw(targets))
    return reduce_loss(softmax_ce_kernel, logits, targets, reduction="none")


def sigmoid_cross_entropy(logits, targets) -> Tensor:
    """logits, targets (...) -> elementwise max(x,0) - x z + log(1 + e^-|x|), stable."""
    shape = tuple(logits.shape) if hasattr(logits, "shape") else np.shape(logits)
    targets = _f32c(_raw(targets)).reshape(shape + (1,))
    return reduce_loss(sigmoid_ce_kernel, logits, targets, reduction="none",
                       pred_shape=shape + (1,))


# ---- numpy kernels: per-sample values and their gradient, side by side ----------------------
EPSILON = 1e-7  # Keras's backend.epsilon()


def _mean_grad(x, C):
    """(mean over the last axis of x, 1/C as float32): most regression losses are means."""
    return np.mean(x, axis=-1, dtype=_f32), _f32(1.0 / C)


def mse_kernel(p, t, need_grad):
    d = p - t
    v, inv = _mean_grad(d * d, p.shape[-1])
    return v, (d * (2 * inv) if need_grad else None)


def mae_kernel(p, t, need_grad):
    d = p - t
    v, inv = _mean_grad(np.abs(d), p.shape[-1])
    return v, (np.sign(d) * inv if need_grad else None)


def mape_kernel(p, t, need_grad):
    den = np.maximum(np.abs(t), _f32(EPSILON))
    d = p - t
    v, inv = _mean_grad(np.abs(d) / den, p.shape[-1])
    return v * _f32(100), (np.sign(d) / den * (100 * inv) if need_grad else None)


def msle_kernel(p, t, need_grad):
    pc = np.maximum(p, _f32(EPSILON))
    d = np.log(pc + 1) - np.log(np.maximum(t, _f32(EPSILON)) + 1)
    v, inv = _mean_grad(d * d, p.shape[-1])
    return v, ((2 * inv) * d / (pc + 1) * (p >= EPSILON) if need_grad else None)


def huber_kernel(p, t, need_grad, delta=1.0):
    e = p - t
    a = np.abs(e)
    small = a <= delta
    delta = _f32(delta)
    v, inv = _mean_grad(np.where(small, 0.5 * e * e, delta * a - 0.5 * delta * delta),
                        p.shape[-1])
    return v, (np.where(small, e, delta * np.sign(e)) * inv if need_grad else None)


def log_cosh_kernel(p, t, need_grad):
    x = p - t
    z = -2 * x  # log cosh x = x + softplus(-2x) - log 2, softplus computed without overflow
    softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
    v, inv = _mean_grad(x + softplus - _f32(np.log(2.0)), p.shape[-1])
    return v, (np.tanh(x) * inv if need_grad else None)


def kl_divergence_kernel(p, t, need_grad):
    tc = np.clip(t, _f32(EPSILON), _f32(1))
    pc = np.clip(p, _f32(EPSILON), _f32(1))
    v = np.sum(tc * np.log(tc / pc), axis=-1, dtype=_f32)
    return v, (-tc / pc * ((p >= EPSILON) & (p <= 1)) if need_grad else None)


def poisson_kernel(p, t, need_grad):
    v, inv = _mean_grad(p - t * np.log(p + _f32(EPSILON)), p.shape[-1])
    return v, ((1 - t / (p + _f32(EPSILON))) * inv if need_grad else None)


def hinge_kernel(p, t, need_grad, squared=False):
    m = np.maximum(1 - t * p, 0)
    v, inv = _mean_grad(m * m if squared else m, p.shape[-1])
    if not need_grad:
        return v, None
    return v, (-2 * inv) * t * m if squared else -inv * t * (m > 0)


def categorical_hinge_kernel(p, t, need_grad):
    pos = np.sum(t * p, axis=-1, dtype=_f32)
    others = (1 - t) * p
    j = np.argmax(others, axis=-1)
    neg = np.take_along_axis(others, j[..., None], axis=-1)[..., 0]
    v = np.maximum(neg - pos + 1, 0).astype(_f32)
    if not need_grad:
        return v, None
    g = -t.copy() if t.dtype == _f32 else -t.astype(_f32)
    onehot = np.zeros_like(g)
    np.put_along_axis(onehot, j[..., None], 1.0, axis=-1)
    g += onehot * (1 - t)
    return v, g * (v > 0)[..., None]


def cosine_similarity_kernel(p, t, need_grad):
    tn = t / np.sqrt(np.maximum(np.sum(t * t, axis=-1, keepdims=True), _f32(1e-12)))
    sq = np.sum(p * p, axis=-1, keepdims=True)
    n = np.sqrt(np.maximum(sq, _f32(1e-12)))
    q = p / n
    dot = np.sum(tn * q, axis=-1, keepdims=True)
    v = -dot[..., 0]
    if not need_grad:
        return v, None
    return v, -(tn - dot * q * (sq > 1e-12)) / n


def bce_kernel(p, t, need_grad):
    """Binary cross-entropy on probabilities clipped to [eps, 1 - eps] (Keras), mean over the
    last axis."""
    pc = np.clip(p, _f32(EPSILON), _f32(1 - EPSILON))
    bce = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    v, inv = _mean_grad(bce, p.shape[-1])
    if not need_grad:
        return v, None
    inside = (p >= EPSILON) & (p <= 1 - EPSILON)
    return v, (-(t / pc - (1 - t) / (1 - pc)) * inv) * inside


def cce_kernel(p, t, need_grad):
    """Categorical cross-entropy on probabilities (Keras): rows are renormalized to sum to 1,
    then clipped to [eps, 1 - eps]."""
    s = np.sum(p, axis=-1, keepdims=True, dtype=_f32)
    q = p / s
    qc = np.clip(q, _f32(EPSILON), _f32(1 - EPSILON))
    v = -np.sum(t * np.log(qc), axis=-1, dtype=_f32)
    if not need_grad:
        return v, None
    gq = -t / qc * ((q >= EPSILON) & (q <= 1 - EPSILON))
    return v, (gq - np.sum(gq * q, axis=-1, keepdims=True)) / s


def sparse_cce_kernel(p, labels, need_grad):
    """cce_kernel with integer labels."""
    onehot = np.zeros(p.shape, _f32)
    np.put_along_axis(onehot, labels[..., None], 1.0, axis=-1)
    return cce_kernel(p, onehot, need_grad)
