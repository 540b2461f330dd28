"""The Loss base class, reduce_values, and LossFunctionWrapper (the base of the built-in
loss classes)."""
from __future__ import annotations

import numpy as np

from grebe.losses.inputs import _check_reduction, _pred, _f32, _mask_weight, _raw
from grebe.ops import loss as K
from grebe.tensor import Tensor


def as_loss_tensor(name: str, value, y_pred) -> Tensor:
    """A loss function's result as a Tensor. A foreign tensor (torch, TensorFlow, ...) or a
    numpy array while y_pred needs a gradient would silently cut the gradient if converted:
    raise instead, naming the loss and the type."""
    if isinstance(value, Tensor):
        return value
    from grebe import autograd

    if not isinstance(value, (np.ndarray, np.generic, int, float)):
        t = type(value)
        raise TypeError(f"Loss '{name}' returned a {t.__module__}.{t.__qualname__}, which grebe "
                        f"cannot differentiate (converting it would cut the gradient). Compute "
                        f"it with grebe.ops (the keras.ops functions) on y_pred.")
    if isinstance(y_pred, Tensor) and y_pred.requires_grad and autograd.is_grad_enabled():
        raise TypeError(f"Loss '{name}' returned a numpy array, so no gradient reaches the "
                        f"model (a numpy function applied to a grebe Tensor returns a plain "
                        f"array). Compute it with grebe.ops (the keras.ops functions).")
    return Tensor(np.asarray(value, _f32))


class Loss:
    """Base class: `loss(y_true, y_pred, sample_weight=None)` -> the reduced loss Tensor.

    Subclasses override `call(y_true, y_pred)` (per-sample losses, built from grebe ops); the
    built-in losses run their fused Function instead."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or type(self).__name__
        self.reduction = _check_reduction(reduction)
        self.dtype = dtype or "float32"

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        values = as_loss_tensor(self.name, self.call(y_true, _pred(y_pred)), y_pred)
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
            from grebe.losses import get  # the name table lives in the package (it imports this)
            return cls(get(fn) if isinstance(fn, str) else fn, **config)
        return cls(**config)
