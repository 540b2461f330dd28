"""Helpers shared by the op modules: argument conversion and error messages that name the op
and the shapes involved."""
from __future__ import annotations

import numpy as np

from grebe.tensor import Tensor

_f32 = np.float32


def as_input(x):
    """A Tensor stays a Tensor; anything else becomes a float32 array (a constant)."""
    if type(x) is Tensor or isinstance(x, Tensor):
        return x
    if type(x) is np.ndarray and x.dtype == _f32:
        return x
    return np.asarray(x, dtype=_f32)


def normalize_tuple(value, n: int, arg: str, who: str, allow_zero: bool = False) -> tuple:
    """An int or a sequence of n ints as a tuple of n ints (Keras's standardize_tuple), each
    >= 1 (>= 0 with allow_zero), else a ValueError naming `who` and the argument."""
    low = 0 if allow_zero else 1
    if type(value) is int and value >= low:  # the fast paths: an op call costs a few us
        return (value,) * n
    if type(value) is tuple and len(value) == n and all(type(v) is int and v >= low
                                                        for v in value):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value_t = (int(value),) * n
    else:
        value_t = value
    try:
        out = tuple(value_t)
    except TypeError:
        out = None
    if out is None or len(out) != n or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low
            for v in out):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{who}: `{arg}` expected a tuple of {n} {kind} integers. "
                         f"Received: {arg}={value!r}")
    return tuple(int(v) for v in out)


def shape_of(x) -> tuple:
    return x.shape if isinstance(x, (Tensor, np.ndarray)) else np.shape(x)


def broadcast_error(op: str, a, b) -> ValueError:
    return ValueError(f"{op}: shapes {shape_of(a)} and {shape_of(b)} cannot be broadcast")


def broadcast_shape(op: str, a, b) -> tuple:
    """The broadcast shape of a and b, or a ValueError naming the op and both shapes."""
    try:
        return np.broadcast_shapes(shape_of(a), shape_of(b))
    except ValueError:
        raise broadcast_error(op, a, b) from None


def norm_axis(op: str, axis: int, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an integer, received {axis!r}")
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for an input of rank {ndim}")
    return int(axis) % max(ndim, 1)


def norm_axes(op: str, axis, ndim: int) -> tuple:
    """axis (None, int or sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        axis = (axis,)
    out = []
    for a in axis:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a!r} is out of range for an input of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {tuple(axis)}")
    return tuple(sorted(out))


def is_bf16(compute_dtype, op: str) -> bool:
    """The ops' `compute_dtype` argument: 'float32' (False) or 'bfloat16' (True: the native
    *_bf16 kernels, which round the matrix-product operands to bfloat16 and sum in float32).
    The layer passes its policy's compute_dtype; ops read no global mode."""
    if compute_dtype == "float32":
        return False
    if compute_dtype == "bfloat16":
        return True
    raise ValueError(f"{op}: compute_dtype must be 'float32' or 'bfloat16', received "
                     f"compute_dtype={compute_dtype!r}")
