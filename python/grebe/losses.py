"""Losses with Keras 3's names, arguments and numerics: functions give per-sample losses,
classes reduce them ('sum_over_batch_size' by default, 'sum', 'none') with optional sample
weights. y_pred is a Tensor (differentiable), y_true a constant (numpy array or Tensor).

Cross-entropy after a softmax or a sigmoid runs in the fused log-sum-exp form on the logits that
op received (as Keras does for TensorFlow), so huge logits give finite losses and exact
gradients; from_logits=True takes that path directly. Otherwise probabilities are clipped to
[1e-7, 1 - 1e-7] as in Keras.

>>> import grebe, numpy as np
>>> loss_fn = grebe.losses.SparseCategoricalCrossentropy(from_logits=True)
>>> logits = grebe.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 0.0]], requires_grad=True)
>>> loss = loss_fn(np.array([0, 1]), logits)
>>> loss.backward(); round(float(loss), 4)
0.1681
"""
from __future__ import annotations

import sys
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
    if y.dtype.kind == "f":
        bad = y != np.round(y)
        if bad.any():
            raise ValueError(f"{name}: y_true must hold integer class labels, received "
                             f"non-integer values such as {y[bad][:3].tolist()}")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{name}: y_true must hold integer class labels, received dtype "
                        f"{y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.int64)
    C = ps[axis]
    if check_range and y.size and (y.min() < 0 or y.max() >= C):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ValueError(f"{name}: labels must be in the range [0, {C}) for {C} classes, "
                         f"received {bad}")
    return y


_PRODUCERS = frozenset({"Softmax", "NativeActivation", "Dense"})


def _logits_of(y_pred, kind):
    """The logits a softmax (kind 'softmax', last axis) or sigmoid made y_pred from, or None.

    Looks at the Function that produced y_pred: ops.softmax (Softmax, not log), ops.sigmoid
    (NativeActivation with the sigmoid code), or ops.dense / layers.Dense with a fused softmax
    or sigmoid, whose pre-activation is recomputed as a linear dense op (one small GEMM) so the
    gradient reaches x, kernel and bias through it."""
    ctx = y_pred._ctx
    if ctx is None:
        return None
    try:
        inputs = ctx.inputs
        name = type(ctx).__name__
        if name not in _PRODUCERS:
            return None
        # The modules, not the functions of the same names that grebe.ops re-exports.
        act = sys.modules["grebe.ops.activation"]
        dn = sys.modules["grebe.ops.dense"]
        if name == "Softmax" and kind == "softmax" and len(ctx.saved) > 1 and not ctx.saved[1]:
            return inputs[0]
        if name == "NativeActivation" and kind == "sigmoid" and \
                inputs[1] == act.ACT_CODES["sigmoid"]:
            return inputs[0]
        if name == "Dense":
            code = inputs[3]
            want = dn._SOFTMAX if kind == "softmax" else act.ACT_CODES["sigmoid"]
            if code == want:
                return dn.Dense.apply(inputs[0], inputs[1], inputs[2], dn._LINEAR, 0.0)
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return None


def _maybe_logits(name, y_pred, from_logits, kind):
    if not isinstance(y_pred, Tensor):
        return y_pred, from_logits
    logits = _logits_of(y_pred, kind)
    if logits is None:
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


# ---- the losses: each a `_name(y_true, y_pred, ..., sample_weight, reduction)` ----------------
def _regression(name, kernel, **kw):
    def run(y_true, y_pred, sample_weight=None, reduction="none"):
        y_pred = _pred(y_pred)
        y_true, view = _same_shape(name, _true(y_true), y_pred)
        return K.reduce_loss(kernel, y_pred, y_true, sample_weight, reduction, -1, view, **kw)
    run.__name__ = name
    return run


_mse = _regression("mean_squared_error", K.mse_kernel)
_mae = _regression("mean_absolute_error", K.mae_kernel)
_mape = _regression("mean_absolute_percentage_error", K.mape_kernel)
_msle = _regression("mean_squared_logarithmic_error", K.msle_kernel)
_log_cosh = _regression("log_cosh", K.log_cosh_kernel)
_kld = _regression("kl_divergence", K.kl_divergence_kernel)
_poisson = _regression("poisson", K.poisson_kernel)
_categorical_hinge = _regression("categorical_hinge", K.categorical_hinge_kernel)


def _huber(y_true, y_pred, delta=1.0, sample_weight=None, reduction="none"):
    y_pred = _pred(y_pred)
    y_true, view = _same_shape("huber", _true(y_true), y_pred)
    return K.reduce_loss(K.huber_kernel, y_pred, y_true, sample_weight, reduction, -1, view,
                         delta=float(delta))


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


def _cosine(y_true, y_pred, axis=-1, sample_weight=None, reduction="none"):
    y_pred = _pred(y_pred)
    y_true, view = _same_shape("cosine_similarity", _true(y_true), y_pred)
    if axis not in (-1, y_pred.ndim - 1):
        y_true = np.moveaxis(y_true, axis, -1)
    return K.reduce_loss(K.cosine_similarity_kernel, y_pred, y_true, sample_weight, reduction,
                         axis, view)


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
    try:  # the native kernel checks the label range
        return K.reduce_loss(K.sparse_softmax_ce_kernel, y_pred, labels, sample_weight,
                             reduction, axis)
    except ValueError as e:
        if "labels must be in the range" not in str(e):
            raise
        raise ValueError(f"{name}: {str(e).split(': ', 1)[1]}") from None


# ---- public functions: per-sample losses (no reduction), Keras 3 signatures -----------------
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


def kl_divergence(y_true, y_pred) -> Tensor:
    """sum(t log(t / p), axis=-1) with both clipped to [eps, 1]."""
    return _kld(y_true, y_pred)


def poisson(y_true, y_pred) -> Tensor:
    """mean(y_pred - y_true log(y_pred + eps), axis=-1)."""
    return _poisson(y_true, y_pred)


def hinge(y_true, y_pred) -> Tensor:
    """mean(max(1 - y_true y_pred, 0), axis=-1); 0/1 labels become -1/1."""
    return _hinge(y_true, y_pred)


def squared_hinge(y_true, y_pred) -> Tensor:
    """mean(max(1 - y_true y_pred, 0)^2, axis=-1); 0/1 labels become -1/1."""
    return _hinge(y_true, y_pred, squared=True)


def categorical_hinge(y_true, y_pred) -> Tensor:
    """max(max((1 - t) p) - sum(t p) + 1, 0)."""
    return _categorical_hinge(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1) -> Tensor:
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)."""
    return _cosine(y_true, y_pred, axis)


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


# Keras's short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


# ---- classes ---------------------------------------------------------------------------------
class Loss:
    """Base class: `loss(y_true, y_pred, sample_weight=None)` -> the reduced loss Tensor.

    Subclasses override `call(y_true, y_pred)` (per-sample losses, built from grebe ops); the
    built-in losses run their fused Function instead."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or type(self).__name__
        self.reduction = _check_reduction(reduction)
        self.dtype = dtype or "float32"

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        values = self.call(y_true, _pred(y_pred))
        if not isinstance(values, Tensor):
            values = Tensor(np.asarray(values, _f32))
        sw = _mask_weight(y_pred, sample_weight, self.reduction)
        return reduce_values(values, sw, self.reduction)

    def call(self, y_true, y_pred) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def reduce_values(values: Tensor, sample_weight=None, reduction="sum_over_batch_size") -> Tensor:
    """Weights and reduces per-sample losses built from grebe ops (custom losses)."""
    from grebe import ops

    reduction = _check_reduction(reduction)
    if sample_weight is not None:
        sw = np.asarray(_raw(sample_weight), _f32)
        values = ops.multiply(values, K._match_weight(values.shape, sw))
    if reduction == "none" or values.ndim == 0:
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(np.sum(np.broadcast_to(K._match_weight(values.shape, sw), values.shape)))
    else:
        divisor = float(values.size)
    return ops.divide(total, divisor) if divisor else ops.multiply(total, 0.0)


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample function `fn(y_true, y_pred, **kwargs)`."""

    _fused = None  # the built-in losses: a `_name(y_true, y_pred, ..., sample_weight, reduction)`

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        fused = self._fused
        if fused is None:
            return super().__call__(y_true, y_pred, sample_weight)
        if sample_weight is not None or getattr(y_pred, "_keras_mask", None) is not None:
            sample_weight = _mask_weight(y_pred, sample_weight, self.reduction)
        return fused(y_true, y_pred, **self._fn_kwargs, sample_weight=sample_weight,
                     reduction=self.reduction)

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        config = {"name": self.name, "reduction": self.reduction}
        if type(self) is LossFunctionWrapper:
            config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if cls is LossFunctionWrapper:
            fn = config.pop("fn")
            return cls(get(fn) if isinstance(fn, str) else fn, **config)
        return cls(**config)


def _loss_class(class_name, fn, fused, default_name, params, doc):
    """Makes a LossFunctionWrapper subclass whose __init__ takes Keras's arguments `params`
    (name -> default) before reduction/name/dtype."""

    def __init__(self, *args, reduction="sum_over_batch_size", name=default_name, dtype=None,
                 **kwargs):
        if len(args) > len(params):
            raise TypeError(f"{class_name}: expected at most {len(params)} positional "
                            f"arguments ({', '.join(params)}), received {len(args)}")
        values = dict(params)
        values.update(zip(params, args))
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise TypeError(f"{class_name}: unrecognized keyword arguments: {unknown}")
        values.update(kwargs)
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype,
                                     **values)

    cls = type(class_name, (LossFunctionWrapper,), {
        "__init__": __init__, "_fused": staticmethod(fused), "__doc__": doc,
        "__module__": __name__})
    return cls


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, _mse,
                               "mean_squared_error", {}, "mean((y_true - y_pred)^2).")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, _mae,
                                "mean_absolute_error", {}, "mean(|y_true - y_pred|).")
MeanAbsolutePercentageError = _loss_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, _mape,
    "mean_absolute_percentage_error", {}, "100 mean(|y_true - y_pred| / |y_true|).")
MeanSquaredLogarithmicError = _loss_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, _msle,
    "mean_squared_logarithmic_error", {}, "mean((log1p(y_pred) - log1p(y_true))^2).")
Huber = _loss_class("Huber", huber, _huber, "huber_loss", {"delta": 1.0},
                    "Quadratic for |error| <= delta, linear beyond.")
LogCosh = _loss_class("LogCosh", log_cosh, _log_cosh, "log_cosh", {}, "mean(log cosh(error)).")
KLDivergence = _loss_class("KLDivergence", kl_divergence, _kld, "kl_divergence", {},
                           "Kullback-Leibler divergence sum(t log(t / p)).")
Poisson = _loss_class("Poisson", poisson, _poisson, "poisson", {}, "mean(p - t log p).")
Hinge = _loss_class("Hinge", hinge, lambda t, p, sample_weight=None, reduction="none":
                    _hinge(t, p, False, sample_weight, reduction), "hinge", {},
                    "mean(max(1 - t p, 0)).")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge,
                           lambda t, p, sample_weight=None, reduction="none":
                           _hinge(t, p, True, sample_weight, reduction), "squared_hinge", {},
                           "mean(max(1 - t p, 0)^2).")
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, _categorical_hinge,
                               "categorical_hinge", {}, "max(neg - pos + 1, 0).")
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, _cosine,
                               "cosine_similarity", {"axis": -1},
                               "-cosine similarity of y_true and y_pred along axis.")
BinaryCrossentropy = _loss_class(
    "BinaryCrossentropy", binary_crossentropy, _bce, "binary_crossentropy",
    {"from_logits": False, "label_smoothing": 0.0, "axis": -1},
    "Binary cross-entropy (fused and stable on logits or after a sigmoid).")
CategoricalCrossentropy = _loss_class(
    "CategoricalCrossentropy", categorical_crossentropy, _cce, "categorical_crossentropy",
    {"from_logits": False, "label_smoothing": 0.0, "axis": -1},
    "Categorical cross-entropy for one-hot/soft targets (fused on logits or after a softmax).")
SparseCategoricalCrossentropy = _loss_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, _scce,
    "sparse_categorical_crossentropy",
    {"from_logits": False, "ignore_class": None, "axis": -1},
    "Categorical cross-entropy for integer labels (fused on logits or after a softmax).")


# ---- lookup ------------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Huber, LogCosh, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge, CosineSimilarity, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy)}
_FUNCTIONS = {
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": mse,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": mae,
    "mean_absolute_percentage_error": mape, "mape": mape, "MAPE": mape,
    "mean_squared_logarithmic_error": msle, "msle": msle, "MSLE": msle,
    "huber": huber, "huber_loss": huber, "log_cosh": log_cosh, "logcosh": log_cosh,
    "kl_divergence": kl_divergence, "kld": kld, "KLD": kld,
    "kullback_leibler_divergence": kl_divergence, "poisson": poisson, "hinge": hinge,
    "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "cosine_similarity": cosine_similarity, "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy}
_CLASS_OF = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
             mape: MeanAbsolutePercentageError, msle: MeanSquaredLogarithmicError,
             huber: Huber, log_cosh: LogCosh, kl_divergence: KLDivergence, poisson: Poisson,
             hinge: Hinge, squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
             cosine_similarity: CosineSimilarity, binary_crossentropy: BinaryCrossentropy,
             categorical_crossentropy: CategoricalCrossentropy,
             sparse_categorical_crossentropy: SparseCategoricalCrossentropy}


def serialize(loss) -> dict | str:
    if isinstance(loss, Loss):
        return {"module": "grebe.losses", "class_name": type(loss).__name__,
                "config": loss.get_config(), "registered_name": None}
    name = getattr(loss, "__name__", None)
    if name in _FUNCTIONS:
        return name
    raise ValueError(f"losses.serialize: cannot serialize {loss!r}")


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"losses.deserialize: expected a name or a dict with 'class_name', "
                         f"received {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name) or \
        (LossFunctionWrapper if name == "LossFunctionWrapper" else None)
    if cls is None:
        raise ValueError(f"losses.deserialize: unknown loss '{name}'")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """Keras's losses.get: a function name ('mse', 'categorical_crossentropy') gives the
    function, a class name ('MeanSquaredError') an instance, a dict its deserialized Loss; a
    callable is returned as is; None gives None."""
    if identifier is None or callable(identifier) and not isinstance(identifier, str):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def resolve(identifier) -> Loss | None:
    """Always a Loss object (what `Model.compile` needs): built-in functions become their class
    with default arguments (so the fused path is used), other callables a LossFunctionWrapper."""
    obj = get(identifier)
    if obj is None or isinstance(obj, Loss):
        return obj
    if isinstance(obj, type) and issubclass(obj, Loss):
        return obj()
    cls = _CLASS_OF.get(obj)
    if cls is not None:
        return cls()
    return LossFunctionWrapper(obj)
