"""The Metric base class and the running reductions every metric builds on (Reduce,
Mean, Sum, MeanMetricWrapper), with the array helpers they share."""
from __future__ import annotations

import re

import numpy as np

from grebe.tensor import Tensor


_f32 = np.float32
EPSILON = 1e-7


def _raw(x):
    """A Tensor's array; anything else unchanged (numpy's own `.data` is a memoryview)."""
    return x.data if isinstance(x, Tensor) else x


def _np(x, dtype=None) -> np.ndarray:
    x = _raw(x)
    return np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)


def _snake(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def nan_where_pred_is_nan(values: np.ndarray, y_pred: np.ndarray, axis_reduced=True):
    """Per-sample values, NaN where the sample's prediction holds a NaN: an accuracy over NaN
    predictions is NaN (argmax of a NaN row is 0, which would count as right for label 0)."""
    bad = np.isnan(y_pred)
    if axis_reduced and bad.ndim:
        bad = bad.any(axis=-1)
    if not bad.any():
        return values
    return np.where(np.broadcast_to(bad, np.shape(values)), np.float32(np.nan), values)


def _match_rank(a, b):
    """Keras's squeeze_or_expand_to_same_rank for two arrays."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1:
            b = b[:, None]
        else:
            a = a.reshape(a.shape[:-1])
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1:
            a = a[:, None]
        else:
            b = b.reshape(b.shape[:-1])
    return a, b


def _loss_metric(name):
    def fn(y_true, y_pred, **kw):
        from grebe import losses, no_grad

        with no_grad():
            return getattr(losses, name)(y_true, _np(y_pred, _f32), **kw).data
    fn.__name__ = name
    return fn


# ---- stateful metrics -------------------------------------------------------------------------
class Metric:
    """Base class: subclasses implement update_state / result / reset_state."""

    def __init__(self, dtype=None, name=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._tracked_variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """A state Variable of this metric (Keras 3: update it with assign/assign_add in
        update_state, read it in result; the default reset_state zeroes it)."""
        from grebe.variables import Variable

        name = name or f"variable_{len(self._tracked_variables)}"
        v = Variable(initializer, shape=shape, dtype=dtype or self.dtype, trainable=False,
                     name=name, path=f"{self.name}/{name}")
        self.__dict__.setdefault("_tracked_variables", []).append(v)
        return v

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name=None):
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        """Zeroes the variables made with add_variable (subclasses with other state
        override it)."""
        tracked = self.__dict__.get("_tracked_variables")
        if not tracked:
            raise NotImplementedError(f"{type(self).__name__} must implement reset_state()")
        for v in tracked:
            v.assign(np.zeros(v.shape, v.dtype))

    def __call__(self, *args, **kwargs):
        """Updates the state and returns the current result, as Keras's metric(...)."""
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def variables(self) -> list:
        return list(self.__dict__.get("_tracked_variables", ())) + \
            [getattr(self, v) for v in getattr(self, "_state_names", ())]

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Reduce(Metric):
    _state_names = ("total", "count")

    def __init__(self, reduction="mean", name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._reduction = reduction
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = _np(values, np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
            return
        sw = _np(sample_weight, np.float64)
        values, sw = _match_rank(values, sw)
        if sw.ndim < values.ndim and values.shape[:sw.ndim] == sw.shape:
            sw = sw.reshape(sw.shape + (1,) * (values.ndim - sw.ndim))
        sw = np.broadcast_to(sw, np.broadcast_shapes(values.shape, sw.shape))
        self.total += float(np.sum(values * sw))
        self.count += float(np.sum(sw))

    def result(self):
        if self._reduction == "sum":
            return _f32(self.total)
        return _f32(self.total / self.count) if self.count else _f32(0.0)


class Mean(Reduce):
    """The (weighted) mean of every value given so far."""

    def __init__(self, name="mean", dtype=None):
        super().__init__("mean", name=name, dtype=dtype)


class Sum(Reduce):
    """The (weighted) sum of every value given so far."""

    def __init__(self, name="sum", dtype=None):
        super().__init__("sum", name=name, dtype=dtype)


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function fn(y_true, y_pred, **kwargs)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric"), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}
