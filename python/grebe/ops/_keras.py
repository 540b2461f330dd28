"""The machinery under grebe.ops's Keras namespace (keras.ops names): input conversion with
Keras's dtype rules, the symbolic fallback (an op called on a KerasTensor records a node of the
functional graph) and three generic differentiable builders:

- `unary(f, df)` / `binary(f, dfa, dfb)`: elementwise ops with their derivative formulas;
- `gather(f, *xs)`: ops whose every output element copies one input element or is zero (flip,
  roll, tile, take, tril, where, concatenation, ...). The backward runs `f` once more on index
  arrays and scatter-adds the upstream gradient through the index map it returns, so one rule
  differentiates all of them.

Dtypes as Keras: float results are float32 (grebe's only float), integer and boolean results
stay integer and boolean; Python int lists become int32 as in `keras.ops.convert_to_tensor`.
"""
from __future__ import annotations

import functools

import numpy as np

from grebe.autograd import Function, unbroadcast
from grebe.tensor import Tensor

_f32 = np.float32

# Set by grebe.models.op_node: records `op(*args, **kwargs)` on KerasTensors as a graph node.
symbolic_hook = None


def is_symbolic(x) -> bool:
    return getattr(x, "_grebe_symbolic", False)


def any_symbolic(obj) -> bool:
    if is_symbolic(obj):
        return True
    if isinstance(obj, (list, tuple)):
        return any(any_symbolic(o) for o in obj)
    if isinstance(obj, dict):
        return any(any_symbolic(o) for o in obj.values())
    return False


def keras_op(fn):
    """Decorator: on symbolic inputs (which make the eager code raise), record a graph node
    instead. Eager calls pay one Python frame."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            if symbolic_hook is None or not (any_symbolic(args) or any_symbolic(kwargs)):
                raise
        return symbolic_hook(op, args, kwargs)
    op.eager = fn
    return op


class SymbolicInput(TypeError):
    pass


def val(x):
    """x as a Tensor (kept, with its graph) or a numpy array with Keras's dtypes."""
    if isinstance(x, Tensor):
        return x
    if is_symbolic(x):
        raise SymbolicInput("symbolic input")
    if isinstance(x, np.ndarray):
        return x.astype(_f32) if x.dtype.kind == "f" and x.dtype != _f32 else x
    if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in x):
        x = [np.asarray(v.data if isinstance(v, Tensor) else v) for v in x]
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return a.astype(_f32)
    if a.dtype == np.int64 and not isinstance(x, np.generic):
        return a.astype(np.int32)  # Python ints: int32 as Keras
    if a.dtype.kind in "iub":
        return a
    if a.dtype.kind == "c":
        raise TypeError(f"grebe.ops: complex values are not supported (dtype {a.dtype})")
    try:
        return a.astype(_f32)
    except (TypeError, ValueError):
        raise TypeError(f"grebe.ops: expected numeric data, received {type(x).__name__}") from None


def raw(x) -> np.ndarray:
    """The numpy values of x (no graph)."""
    v = val(x)
    return v.data if isinstance(v, Tensor) else v


def is_float(v) -> bool:
    return (v.data if isinstance(v, Tensor) else v).dtype.kind == "f"


def needs_grad(v) -> bool:
    return isinstance(v, Tensor) and v.requires_grad


def fl(x):
    """x as a float32 Tensor (kept) or float32 array: the input form of the native ops."""
    v = val(x)
    if isinstance(v, Tensor):
        return v if v.data.dtype == _f32 else v.data.astype(_f32)
    return v if v.dtype == _f32 else v.astype(_f32)


def out(a) -> Tensor:
    """A numpy result as a constant Tensor: floats as float32, integers and booleans kept."""
    a = np.asarray(a)
    if a.dtype.kind == "f" and a.dtype != _f32:
        a = a.astype(_f32)
    return Tensor._make(np.asarray(a, order="C"), False, None, 0)


def np_dtype(dtype, default=None):
    """A Keras dtype name ('float32', 'int32', 'bool', ...) or numpy dtype as numpy's; None
    gives `default`. Floats other than float32 raise: grebe computes in float32 only."""
    if dtype is None:
        return default
    if isinstance(dtype, Tensor):
        dtype = dtype.dtype
    d = np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, str) else dtype)
    if d.kind == "f" and d != _f32:
        if d == np.float64:
            return np.dtype(_f32)  # Keras code asks for float64 rarely; compute in float32
        raise TypeError(f"grebe.ops: only float32 floats are supported, received dtype {dtype!r}")
    return d


# ---- elementwise builders ----------------------------------------------------------------
class Unary(Function):
    """x (...) -> f(x); backward df(x, y, dy)."""

    @staticmethod
    def forward(ctx, x, f, df):
        y = np.asarray(f(x), dtype=_f32)
        ctx.save(x, y, df)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y, df = ctx.saved
        return np.asarray(df(x, y, dy), dtype=_f32)


class Binary(Function):
    """a (...), b (...) -> f(a, b) broadcast; backward dfa/dfb(a, b, y, dy), unbroadcast."""

    @staticmethod
    def forward(ctx, a, b, f, dfa, dfb):
        y = np.asarray(f(a, b), dtype=_f32)
        ctx.save(a, b, y, dfa, dfb)
        return y

    @staticmethod
    def backward(ctx, dy):
        a, b, y, dfa, dfb = ctx.saved
        need = ctx.needs_input_grad
        da = unbroadcast(np.asarray(dfa(a, b, y, dy), _f32), np.shape(a)) if need[0] else None
        db = unbroadcast(np.asarray(dfb(a, b, y, dy), _f32), np.shape(b)) if need[1] else None
        return da, db


def unary(name, f, df=None, float_out=True):
    """A Keras elementwise op from numpy's `f` and its derivative df(x, y, dy) (None: not
    differentiable). Integer inputs give float32 results when `float_out`, else keep."""
    def op(x):
        v = val(x)
        if df is not None and needs_grad(v):
            return Unary.apply(v, f, df)
        a = v.data if isinstance(v, Tensor) else v
        if float_out and a.dtype.kind != "f":
            a = a.astype(_f32)
        with np.errstate(all="ignore"):
            return out(f(a))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}, elementwise" + ("" if df else " (no gradient)") + "."
    return keras_op(op)


def binary(name, f, dfa=None, dfb=None, float_out=False):
    """A Keras broadcasting elementwise op from numpy's `f` and its partial derivatives
    dfa/dfb(a, b, y, dy) (None: not differentiable)."""
    def op(x1, x2):
        a, b = val(x1), val(x2)
        if dfa is not None and (needs_grad(a) or needs_grad(b)):
            try:
                return Binary.apply(fl(a), fl(b), f, dfa, dfb)
            except ValueError:
                raise ValueError(f"{name}: shapes {np.shape(raw(a))} and {np.shape(raw(b))} "
                                 f"cannot be broadcast") from None
        ra, rb = raw(a), raw(b)
        if float_out:
            ra, rb = ra.astype(_f32, copy=False), rb.astype(_f32, copy=False)
        try:
            with np.errstate(all="ignore"):
                return out(f(ra, rb))
        except ValueError:
            raise ValueError(f"{name}: shapes {ra.shape} and {rb.shape} cannot be "
                             f"broadcast") from None
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}, elementwise with broadcasting."
    return keras_op(op)


# ---- structural ops: outputs copy input elements -----------------------------------------
class Gather(Function):
    """xs[i] (s_i) -> f(*xs), every output element a copy of one input element or 0.
    Backward: f on index arrays (1-based, 0 = no source) gives the source of each output
    element; the upstream gradient is scatter-added there (np.bincount, fixed order)."""

    @staticmethod
    def forward(ctx, *xs, f):
        ctx.save(f, [x.shape for x in xs])
        return np.asarray(f(*xs), dtype=_f32, order="C")

    @staticmethod
    def backward(ctx, dy):
        f, shapes = ctx.saved
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        index = [np.arange(o + 1, o + 1 + n, dtype=np.int64).reshape(s)
                 for o, n, s in zip(offsets, sizes, shapes)]
        src = np.asarray(f(*index), dtype=np.int64).reshape(-1)
        g = np.bincount(src, weights=dy.reshape(-1).astype(np.float64),
                        minlength=int(offsets[-1]) + 1)[1:]
        return tuple(g[o:o + n].reshape(s).astype(_f32)
                     for o, n, s in zip(offsets[:-1], sizes, shapes))


def gather(f, *xs, op: str = "gather"):
    """f(*xs) where f only moves elements (pads/masks with 0); differentiable for float
    inputs. Integer/boolean inputs alone give f's numpy result unchanged. Errors name `op`
    and the input shapes."""
    vs = [val(x) for x in xs]
    try:
        if not any(needs_grad(v) for v in vs):
            rs = [raw(v) for v in vs]
            if any(r.dtype.kind == "f" for r in rs) and len(rs) > 1:
                rs = [r.astype(_f32, copy=False) for r in rs]
            return out(f(*rs))
        return Gather.apply(*[fl(v) for v in vs], f=f)
    except (ValueError, IndexError, TypeError) as e:
        if isinstance(e, SymbolicInput):
            raise
        shapes = ", ".join(str(np.shape(raw(v))) for v in vs)
        raise type(e)(f"{op}: {e} (input shapes {shapes})") from None


def norm_axis(op: str, axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an integer, received {axis!r}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for an input of rank {ndim}")
    return int(axis) % max(ndim, 1)
