"""Variable: Keras 3's `keras.Variable` — a named, in-place-assignable Tensor that layers make
with `add_weight` and metrics with `add_variable`.

A Variable *is* a Tensor (a float32 numpy array with autograd bookkeeping), so it goes into every
op and operator as is; `.value` is that same Tensor, and `.value.grad` its accumulated gradient
(the torch-backend idiom `[v.value.grad for v in model.trainable_weights]`).

>>> import grebe
>>> v = grebe.Variable([1.0, 2.0], name="total")
>>> v.assign_add([1.0, 1.0]); v.numpy()
array([2., 3.], dtype=float32)
>>> (v * 2).numpy()
array([4., 6.], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from grebe.inplace import write_arrays
from grebe.tensor import Tensor


class Variable(Tensor):
    """Variable(initializer, shape=None, dtype=None, trainable=True, name=None).

    `initializer` is an array-like value, or an initializer (a name such as "zeros", an
    Initializer, a callable taking (shape, dtype)) used with `shape`."""

    __slots__ = ("path",)

    def __init__(self, initializer=None, shape=None, dtype=None, trainable: bool = True,
                 name: str | None = None, path: str | None = None, **kwargs):
        unknown = set(kwargs) - {"autocast", "aggregation", "synchronization"}
        if unknown:
            raise TypeError(f"Variable: unrecognized keyword arguments {sorted(unknown)}")
        if initializer is None:
            raise ValueError("Variable: give an initial value or an initializer (with shape)")
        if isinstance(initializer, (str, dict)) or (callable(initializer) and
                                                     not isinstance(initializer, Tensor)):
            if shape is None:
                raise ValueError(f"Variable {name!r}: an initializer ({initializer!r}) needs "
                                 f"shape=...")
            from grebe import initializers

            value = initializers.get(initializer)(tuple(int(s) for s in shape))
        else:
            value = initializer.data if isinstance(initializer, Tensor) else initializer
        value = np.array(value, dtype=_dtype(dtype, value), copy=True, order="C")
        if shape is not None and tuple(value.shape) != tuple(int(s) for s in shape):
            raise ValueError(f"Variable {name!r}: the initial value has shape {value.shape}, "
                             f"expected shape {tuple(shape)}")
        trainable = bool(trainable) and value.dtype == np.float32
        super().__init__(value, requires_grad=trainable, name=name or "variable")
        self.trainable = trainable
        self.path = path or self.name

    # ---- Keras's Variable API ----------------------------------------------------------------
    @property
    def value(self) -> Tensor:
        """The variable itself (a Tensor): `.value.grad` is its gradient."""
        return self

    def assign(self, value) -> "Variable":
        """Overwrites the values in place (same shape); returns the variable."""
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.data.shape and value.size != 1:
            raise ValueError(f"Variable '{self.path}'.assign: expected shape {self.data.shape}, "
                             f"received {value.shape}")
        return self._write(lambda: self.data.__setitem__(Ellipsis, value), "assign")

    def assign_add(self, value) -> "Variable":
        delta = _raw_broadcast(self, value, "assign_add")
        return self._write(lambda: self.data.__iadd__(delta), "assign_add")

    def assign_sub(self, value) -> "Variable":
        delta = _raw_broadcast(self, value, "assign_sub")
        return self._write(lambda: self.data.__isub__(delta), "assign_sub")

    def _write(self, write, how: str) -> "Variable":
        """A grebe write: allowed while a graph holds the array, which it marks as changed, so
        that graph's backward raises instead of using the new values (grebe.inplace)."""
        write_arrays([self.data], [f"variable '{self.path}' ({how})"], write)
        return self

    def numpy(self) -> np.ndarray:
        """A copy of the values (Keras returns a new array: later assigns do not change it)."""
        return self.data.copy()

    def __repr__(self) -> str:
        return (f"<Variable path={self.path}, shape={self.data.shape}, dtype={self.data.dtype}, "
                f"value={np.array2string(self.data, threshold=20)}>")


def _dtype(dtype, value):
    if dtype is not None:
        return np.dtype(dtype)
    a = np.asarray(value)
    return a.dtype if a.dtype.kind in "iub" else np.float32


def _raw_broadcast(var, value, op):
    value = np.asarray(value.data if isinstance(value, Tensor) else value)
    try:
        np.broadcast_shapes(value.shape, var.data.shape)
    except ValueError:
        raise ValueError(f"Variable '{var.path}'.{op}: cannot add a value of shape {value.shape} "
                         f"to a variable of shape {var.data.shape}") from None
    return value.astype(var.data.dtype, copy=False)
