"""keras.ops array creation and conversion: zeros/ones/full (and *_like), arange, linspace,
logspace, geomspace, eye, identity, tri, array, copy, meshgrid, vander, window functions,
cast, convert_to_tensor/convert_to_numpy, shape, ndim, size, dtype, is_tensor, stop_gradient.

Creation defaults to float32 (Keras's floatx); arange of integers gives int32.
"""
from __future__ import annotations

import numpy as np

from grebe.ops._keras import (is_symbolic, keras_op, needs_grad, np_dtype, out, raw, val)
from grebe.tensor import Tensor

_f32 = np.dtype(np.float32)


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in (raw(shape).tolist() if isinstance(shape, Tensor) else shape))


@keras_op
def zeros(shape, dtype=None):
    return out(np.zeros(_shape(shape), np_dtype(dtype, _f32)))


@keras_op
def ones(shape, dtype=None):
    return out(np.ones(_shape(shape), np_dtype(dtype, _f32)))


@keras_op
def empty(shape, dtype=None):
    return out(np.zeros(_shape(shape), np_dtype(dtype, _f32)))


@keras_op
def full(shape, fill_value, dtype=None):
    v = raw(fill_value)
    return out(np.full(_shape(shape), v, np_dtype(dtype, v.dtype if v.dtype.kind != "f" else _f32)))


@keras_op
def zeros_like(x, dtype=None):
    a = raw(x)
    return out(np.zeros(a.shape, np_dtype(dtype, a.dtype)))


@keras_op
def ones_like(x, dtype=None):
    a = raw(x)
    return out(np.ones(a.shape, np_dtype(dtype, a.dtype)))


empty_like = zeros_like


@keras_op
def full_like(x, fill_value, dtype=None):
    a = raw(x)
    return out(np.full(a.shape, raw(fill_value), np_dtype(dtype, a.dtype)))


@keras_op
def arange(start, stop=None, step=None, dtype=None):
    """Keras's arange: int32 for integer arguments, float32 otherwise."""
    args = [a for a in (start, stop, step) if a is not None]
    floats = any(isinstance(raw(a).item() if np.ndim(raw(a)) == 0 else a, float) for a in args)
    default = _f32 if floats else np.dtype(np.int32)
    if stop is None:
        start, stop = 0, start
    r = np.arange(raw(start).item(), raw(stop).item(), 1 if step is None else raw(step).item())
    return out(r.astype(np_dtype(dtype, default)))


@keras_op
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    r = np.linspace(raw(start), raw(stop), num, endpoint=endpoint, retstep=retstep, axis=axis)
    if retstep:
        return out(r[0].astype(np_dtype(dtype, _f32))), out(r[1])
    return out(r.astype(np_dtype(dtype, _f32)))


@keras_op
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    r = np.logspace(raw(start), raw(stop), num, endpoint=endpoint, base=base, axis=axis)
    return out(r.astype(np_dtype(dtype, _f32)))


@keras_op
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    r = np.geomspace(raw(start), raw(stop), num, endpoint=endpoint, axis=axis)
    return out(r.astype(np_dtype(dtype, _f32)))


@keras_op
def eye(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras's names)
    return out(np.eye(int(N), None if M is None else int(M), int(k), dtype=np_dtype(dtype, _f32)))


@keras_op
def identity(n, dtype=None):
    return out(np.identity(int(n), dtype=np_dtype(dtype, _f32)))


@keras_op
def tri(N, M=None, k=0, dtype=None):  # noqa: N803
    return out(np.tri(int(N), None if M is None else int(M), int(k), dtype=np_dtype(dtype, _f32)))


@keras_op
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A Tensor from array-like data (a Tensor stays itself when the dtype matches)."""
    v = val(x)
    d = np_dtype(dtype)
    if isinstance(v, Tensor) and (d is None or v.dtype == d):
        return v
    if isinstance(v, Tensor) and needs_grad(v) and d is not None:
        return cast(v, d)
    a = raw(v)
    return out(a if d is None else a.astype(d))


@keras_op
def array(x, dtype=None):
    return out(np.array(raw(x), dtype=np_dtype(dtype)))


@keras_op
def copy(x):
    v = val(x)
    if needs_grad(v):
        from grebe.ops.arithmetic import multiply
        return multiply(v, 1.0)
    return out(np.array(raw(v)))


def convert_to_numpy(x) -> np.ndarray:
    """The values as a numpy array (a copy of a Tensor's data)."""
    if is_symbolic(x):
        raise TypeError("convert_to_numpy: a symbolic KerasTensor has no values")
    return np.array(x.data if isinstance(x, Tensor) else x)


@keras_op
def cast(x, dtype):
    """x as `dtype`; float32 to float32 keeps the gradient, other casts carry none."""
    v = val(x)
    d = np_dtype(dtype)
    if isinstance(v, Tensor) and v.dtype == d:
        return v
    return out(raw(v).astype(d))


@keras_op
def saturate_cast(x, dtype):
    d = np_dtype(dtype)
    a = raw(x)
    if d.kind in "iu":
        info = np.iinfo(d)
        a = np.clip(np.nan_to_num(a), info.min, info.max)
    return out(a.astype(d))


def shape(x) -> tuple:
    """The shape as a tuple of ints (None for unknown sizes of a symbolic tensor)."""
    if is_symbolic(x) or isinstance(x, Tensor):
        return tuple(x.shape)
    return tuple(np.shape(x))


def ndim(x) -> int:
    return len(shape(x))


@keras_op
def size(x):
    return out(np.int32(int(np.prod(raw(x).shape, dtype=np.int64))))


def dtype(x) -> str:
    """The dtype name ('float32', 'int32', 'bool', ...)."""
    if is_symbolic(x):
        return x.dtype
    return str(raw(x).dtype)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


@keras_op
def stop_gradient(variable):
    """The same values with no gradient flowing back."""
    v = val(variable)
    return v.detach() if isinstance(v, Tensor) else out(v)


@keras_op
def meshgrid(*x, indexing="xy"):
    return [out(g) for g in np.meshgrid(*[raw(a) for a in x], indexing=indexing)]


@keras_op
def vander(x, N=None, increasing=False):  # noqa: N803
    return out(np.vander(raw(x), N, increasing))


def _window(name, f):
    def op(x):
        return out(f(int(raw(x))).astype(_f32))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}: the window of length x (numpy's {name})."
    return keras_op(op)


bartlett = _window("bartlett", np.bartlett)
blackman = _window("blackman", np.blackman)
hamming = _window("hamming", np.hamming)
hanning = _window("hanning", np.hanning)


@keras_op
def kaiser(x, beta):
    return out(np.kaiser(int(raw(x)), float(beta)).astype(_f32))


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "annotations", "is_symbolic", "keras_op", "needs_grad", "np_dtype", "out", "raw", "val",
    "np", "Tensor")]
