"""Shape and indexing ops: reshape, transpose, expand_dims, squeeze, flatten, concatenate, stack,
split, getitem, where, pad.

Outputs are C-contiguous (a transpose or a strided slice is copied), so every kernel downstream
can take their raw pointer; reshapes of contiguous data stay views.
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function, unbroadcast
from grebe.ops._util import as_input, norm_axis, shape_of
from grebe.tensor import Tensor

_f32 = np.float32


# ---- reshape family ----------------------------------------------------------------------
class Reshape(Function):
    """x (...) -> x with `shape` (same size, a view)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.save(x.shape)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        return dy.reshape(ctx.saved[0])


def reshape(x, shape) -> Tensor:
    """x with a new shape of the same size; one dimension may be -1."""
    x = as_input(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(d) for d in shape)
    if shape == x.shape:
        return Reshape.apply(x, shape)
    known = 1
    for d in shape:
        known *= d if d != -1 else 1
    if shape.count(-1) > 1 or any(d < -1 for d in shape) or \
            (-1 in shape and (known == 0 or x.size % known)) or \
            (-1 not in shape and known != x.size):
        raise ValueError(f"reshape: cannot reshape an input of shape {x.shape} (size {x.size})"
                         f" into shape {shape}")
    return Reshape.apply(x, shape)


def expand_dims(x, axis) -> Tensor:
    """x with a new axis of length 1 at `axis` (negative counts from the end of the result)."""
    x = as_input(x)
    axis = norm_axis("expand_dims", axis, x.ndim + 1)
    return Reshape.apply(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None) -> Tensor:
    """x without its length-1 axes (or only `axis`, which must have length 1)."""
    x = as_input(x)
    if axis is None:
        return Reshape.apply(x, tuple(d for d in x.shape if d != 1))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = {norm_axis("squeeze", a, x.ndim) for a in axes}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: cannot squeeze axis {a} of length {x.shape[a]} "
                             f"(input shape {x.shape})")
    return Reshape.apply(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def flatten(x, start_axis: int = 0) -> Tensor:
    """x with the axes from `start_axis` on merged into one: flatten(x, 1) keeps the batch."""
    x = as_input(x)
    start = norm_axis("flatten", start_axis, x.ndim) if x.ndim else 0
    lead = x.shape[:start]
    return Reshape.apply(x, lead + (int(np.prod(x.shape[start:], dtype=np.int64)),))


class Transpose(Function):
    """x (...) -> the axes permuted by `axes` (a copy: outputs are C-contiguous)."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.save(axes)
        return np.asarray(np.transpose(x, axes), order="C")

    @staticmethod
    def backward(ctx, dy):
        return np.asarray(np.transpose(dy, np.argsort(ctx.saved[0])), order="C")


def transpose(x, axes=None) -> Tensor:
    """Permutes the axes (default: reversed). Also available as `permute`."""
    x = as_input(x)
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    axes = tuple(int(a) for a in axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)) or \
            any(not -x.ndim <= a < x.ndim for a in axes):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of an "
                         f"input of shape {x.shape}")
    return Transpose.apply(x, tuple(a % x.ndim for a in axes))


permute = transpose


# ---- joining and splitting ---------------------------------------------------------------
class Concatenate(Function):
    """xs[i] (..., n_i, ...) -> (..., sum n_i, ...) along `axis`."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.save(axis, np.cumsum([x.shape[axis] for x in xs])[:-1])
        return np.concatenate(xs, axis=axis).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        axis, offsets = ctx.saved
        return tuple(np.asarray(g, order="C") for g in np.split(dy, offsets, axis=axis))


def _check_list(op, xs):
    if isinstance(xs, (Tensor, np.ndarray)) or not len(xs):
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    return [as_input(x) for x in xs]


def concatenate(xs, axis: int = 0) -> Tensor:
    """Joins tensors along an existing axis; the other axes must match."""
    xs = _check_list("concatenate", xs)
    ndim = xs[0].ndim
    axis = norm_axis("concatenate", axis, ndim)
    for x in xs[1:]:
        if x.ndim != ndim or x.shape[:axis] + x.shape[axis + 1:] != \
                xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
            raise ValueError(f"concatenate: shapes {xs[0].shape} and {x.shape} do not match "
                             f"outside axis {axis}")
    return Concatenate.apply(*xs, axis=axis)


class Stack(Function):
    """xs[i] (...) -> (..., len(xs), ...) with the new axis at `axis`."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.save(axis, len(xs))
        return np.stack(xs, axis=axis).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        axis, n = ctx.saved
        return tuple(np.asarray(np.take(dy, i, axis=axis), order="C") for i in range(n))


def stack(xs, axis: int = 0) -> Tensor:
    """Joins same-shape tensors along a new axis."""
    xs = _check_list("stack", xs)
    for x in xs[1:]:
        if x.shape != xs[0].shape:
            raise ValueError(f"stack: all inputs must have the same shape, received "
                             f"{xs[0].shape} and {x.shape}")
    axis = norm_axis("stack", axis, xs[0].ndim + 1)
    return Stack.apply(*xs, axis=axis)


class Split(Function):
    """x (..., n, ...) -> pieces along `axis` at `indices` (numpy's array_split points)."""

    @staticmethod
    def forward(ctx, x, indices, axis):
        ctx.save(axis)
        return tuple(np.asarray(p, order="C") for p in np.split(x, indices, axis=axis))

    @staticmethod
    def backward(ctx, *dys):
        return np.concatenate(dys, axis=ctx.saved[0])


def split(x, indices_or_sections, axis: int = 0) -> list:
    """Splits into equal sections (an int that divides the axis) or at the given indices."""
    x = as_input(x)
    axis = norm_axis("split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: cannot split axis {axis} of length {n} into {k} equal "
                             f"sections (input shape {x.shape})")
        indices = tuple(range(n // k, n, n // k))
    else:
        indices = tuple(int(i) for i in indices_or_sections)
    return list(Split.apply(x, indices, axis))


# ---- indexing ----------------------------------------------------------------------------
def _index_part(i):
    if isinstance(i, Tensor):
        i = i.data
    if isinstance(i, list):
        i = np.asarray(i)
    if isinstance(i, np.ndarray) and i.dtype.kind not in "iub":
        raise TypeError(f"getitem: index arrays must be integer or boolean, received dtype "
                        f"{i.dtype}")
    return i


def _is_int_array(i) -> bool:
    return isinstance(i, np.ndarray) and i.dtype.kind in "iu"


class GetItem(Function):
    """x (...) -> x[idx]. Backward scatters dy into zeros: by assignment for basic (and
    boolean) indexing, where no element is picked twice; by np.add.at for integer arrays,
    where repeated indices must add up."""

    @staticmethod
    def forward(ctx, x, idx, scatter_add):
        ctx.save(x.shape, idx, scatter_add)
        y = x[idx]
        return np.asarray(y, order="C") if type(y) is np.ndarray else np.asarray(y, dtype=_f32)

    @staticmethod
    def backward(ctx, dy):
        shape, idx, scatter_add = ctx.saved
        dx = np.zeros(shape, dtype=_f32)
        if scatter_add:
            np.add.at(dx, idx, dy)
        else:
            dx[idx] = dy
        return dx


def getitem(x, idx) -> Tensor:
    """numpy indexing: ints, slices (negative steps too), None, Ellipsis, integer and boolean
    arrays. `x[idx]` on a Tensor calls this."""
    x = as_input(x)
    t = type(idx)
    if t is int or t is slice:  # the common cases skip the index inspection below
        scatter_add = False
    elif t is tuple and all(type(i) is slice or type(i) is int for i in idx):
        scatter_add = False
    else:
        idx = tuple(_index_part(i) for i in idx) if t is tuple else _index_part(idx)
        parts = idx if type(idx) is tuple else (idx,)
        scatter_add = any(_is_int_array(i) for i in parts)
    try:
        return GetItem.apply(x, idx, scatter_add)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (input shape {shape_of(x)})") from None


class Where(Function):
    """cond (...), a (...), b (...) -> a where cond else b (broadcast shape)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        try:
            y = np.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: shapes {np.shape(cond)}, {a.shape} and {b.shape} cannot "
                             f"be broadcast") from None
        ctx.save(cond, a.shape, b.shape)
        return y.astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        cond, sa, sb = ctx.saved
        zero = _f32(0)
        da = unbroadcast(np.where(cond, dy, zero), sa) if ctx.needs_input_grad[1] else None
        db = unbroadcast(np.where(cond, zero, dy), sb) if ctx.needs_input_grad[2] else None
        return None, da, db


def where(condition, x1, x2) -> Tensor:
    """Elementwise choice: x1 where condition is true, else x2 (no gradient to condition)."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    return Where.apply(cond.astype(bool, copy=False), as_input(x1), as_input(x2))


# ---- padding -----------------------------------------------------------------------------
_PAD_MODES = ("constant", "reflect", "symmetric", "edge", "wrap")


class Pad(Function):
    """x (...) -> x padded by `widths` ((before, after) per axis). Backward: a slice for
    constant padding; otherwise every output element adds into the input element it copies,
    found by padding an index map the same way."""

    @staticmethod
    def forward(ctx, x, widths, mode, value):
        ctx.save(x.shape, widths, mode)
        if mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=value).astype(_f32)
        return np.pad(x, widths, mode=mode).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        shape, widths, mode = ctx.saved
        if mode == "constant":
            inner = tuple(slice(b, b + n) for (b, _), n in zip(widths, shape))
            return np.asarray(dy[inner], order="C")
        size = int(np.prod(shape, dtype=np.int64))
        src = np.pad(np.arange(size).reshape(shape), widths, mode=mode)
        dx = np.bincount(src.reshape(-1), weights=dy.reshape(-1), minlength=size)
        return dx.astype(_f32).reshape(shape)


def pad(x, pad_width, mode: str = "constant", constant_values=0.0) -> Tensor:
    """Pads with numpy's pad_width forms (an int, (before, after), or one pair per axis)."""
    x = as_input(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {list(_PAD_MODES)}, received mode={mode!r}")
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit an input of shape "
                         f"{x.shape}: expected one (before, after) pair per axis") from None
    if (widths < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, received {pad_width!r}")
    widths = tuple((int(b), int(a)) for b, a in widths)
    if mode in ("reflect", "symmetric", "wrap") and any(
            (b or a) and n == 0 for (b, a), n in zip(widths, x.shape)):
        raise ValueError(f"pad: mode {mode!r} cannot pad an empty axis (input shape {x.shape})")
    return Pad.apply(x, widths, mode, float(constant_values or 0.0))


__all__ = ["reshape", "expand_dims", "squeeze", "flatten", "transpose", "permute",
           "concatenate", "stack", "split", "getitem", "where", "pad"]
