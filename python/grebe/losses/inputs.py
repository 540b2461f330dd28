"""What every loss does with its inputs: y_true/y_pred conversion and shape checks, the
logits a softmax/sigmoid output carries, mask and sample-weight handling."""
from __future__ import annotations

import warnings

import numpy as np

from grebe.ops import loss as K
from grebe.tensor import Tensor


_f32 = np.float32
_MEANS = ("sum_over_batch_size", "mean")


# ---- input handling ------------------------------------------------------------------------

def _raw(x):
    """A Tensor's array; anything else unchanged (numpy's own `.data` is a memoryview)."""
    return x.data if isinstance(x, Tensor) else x

def _check_reduction(reduction):
    if reduction is None:
        return "none"
    if reduction not in K.REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                         f"{K.REDUCTIONS}. Received: reduction={reduction!r}")
    return reduction


def _pred(y_pred):
    return y_pred if isinstance(y_pred, Tensor) else Tensor(np.asarray(y_pred, _f32))


def _true(y_true) -> np.ndarray:
    a = _raw(y_true)
    if type(a) is np.ndarray and a.dtype == _f32 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=_f32)


def _same_shape(name, y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank, then the shapes must agree. Returns y_true and
    the shape y_pred is viewed as (None: unchanged)."""
    ts, ps = y_true.shape, y_pred.shape
    view = None
    if len(ts) == len(ps) + 1 and ts[-1] == 1:
        if len(ps) == 1:
            view = ps + (1,)
        else:
            y_true = y_true.reshape(ts[:-1])
    elif len(ps) == len(ts) + 1 and ps[-1] == 1:
        if len(ts) == 1:
            y_true = y_true.reshape(ts + (1,))
        else:
            view = ps[:-1]
    shape = view if view is not None else ps
    if y_true.shape != shape:
        raise ValueError(f"{name}: y_true and y_pred must have the same shape, received "
                         f"y_true.shape={ts} and y_pred.shape={ps}")
    if len(shape) == 0:
        raise ValueError(f"{name}: expected y_pred of rank >= 1, received a scalar")
    return y_true, view


def _labels(name, y_true, y_pred, axis, check_range=True) -> np.ndarray:
    """Sparse labels as int64 of y_pred's shape without `axis`; clear errors otherwise."""
    y = _raw(y_true)
    ps = y_pred.shape
    if type(y) is np.ndarray and y.dtype == np.int64 and y.ndim == 1 and len(ps) == 2 and \
            y.shape[0] == ps[0] and y.flags.c_contiguous and not check_range:
        return y  # the common case: (N,) int64 labels for (N, C) logits, checked natively
    y = np.asarray(y)
    if y.ndim == len(ps) and y.ndim and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    ax = axis % len(ps)
    expected = ps[:ax] + ps[ax + 1:]
    if y.shape != expected:
        raise ValueError(f"{name}: y_true must hold one integer label per sample, shape "
                         f"{expected} for y_pred.shape={ps}, received y_true.shape="
                         f"{np.shape(getattr(y_true, 'data', y_true))}")
    y = K.int_labels(y, name)
    C = ps[axis]
    if check_range and y.size and (y.min() < 0 or y.max() >= C):
        where = np.argwhere((y < 0) | (y >= C))[0]
        bad = int(y[tuple(where)])
        pos = int(where[0]) if y.ndim else 0
        raise K.LabelError(f"{name}: labels must be in the range [0, {C}) for {C} classes, "
                           f"received {bad} at index {pos} of the batch", pos)
    return y


def _maybe_logits(name, y_pred, from_logits, kind):
    """The logits a softmax (kind 'softmax') or sigmoid output carries (ops.activation.
    with_logits: ops.softmax, ops.sigmoid, a Dense with that activation), with from_logits
    True; otherwise y_pred unchanged."""
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is None or y_pred._logits_kind != kind:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(f"`{name}` received `from_logits=True`, but the `y_pred` argument was "
                      f"produced by a {kind} activation and thus does not represent logits. "
                      "Was this intended?", stacklevel=4)
    return logits, True


def _mask_weight(y_pred, sample_weight, reduction, mask=None):
    """Merges y_pred's Keras mask (or `mask`) into the sample weights as Keras's apply_mask:
    masked entries weigh 0, and a mean is taken over the valid entries only."""
    if mask is None:
        mask = getattr(y_pred, "_keras_mask", None)
    if mask is None:
        return sample_weight
    mask = np.asarray(_raw(mask), _f32)
    if reduction in _MEANS:
        mask = mask * _f32(mask.size / (mask.sum() + K.EPSILON))
    if sample_weight is None:
        return mask
    sw = np.asarray(_raw(sample_weight), _f32)
    return K._match_weight(mask.shape, sw) * mask


def _regression(name, kernel, **kw):
    def run(y_true, y_pred, sample_weight=None, reduction="none"):
        y_pred = _pred(y_pred)
        y_true, view = _same_shape(name, _true(y_true), y_pred)
        return K.reduce_loss(kernel, y_pred, y_true, sample_weight, reduction, -1, view, **kw)
    run.__name__ = name
    return run
