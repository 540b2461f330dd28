"""keras.ops shape manipulation and indexing: reshape, transpose, flips, rolls, tiles, joins and
splits, take/take_along_axis, where, triangles and diagonals, slices and scatters.

Float inputs that require grad go through the native shape ops or the generic gather op
(grebe.ops._keras.gather: every output element copies an input element, so the gradient is a
scatter-add through the index map); other inputs are plain numpy with dtypes kept.
"""
from __future__ import annotations

import builtins

import numpy as np

from grebe.ops import shape_ops as _s
from grebe.autograd import Function
from grebe.ops._keras import (fl, gather, is_float, keras_op, needs_grad, norm_axis, out, raw,
                              val)

_f32 = np.float32


def _grad(*vs) -> bool:
    """Use the native op (clear errors, gradients): any float input."""
    return builtins.any(needs_grad(v) or is_float(v) for v in vs)


@keras_op
def reshape(x, newshape):
    v = val(x)
    if isinstance(newshape, (int, np.integer)):
        newshape = (int(newshape),)
    newshape = tuple(-1 if d is None else int(d) for d in newshape)
    if _grad(v):
        return _s.reshape(v, newshape)
    try:
        return out(raw(v).reshape(newshape))
    except ValueError:
        raise ValueError(f"reshape: cannot reshape an input of shape {raw(v).shape} into "
                         f"shape {newshape}") from None


@keras_op
def transpose(x, axes=None):
    v = val(x)
    return _s.transpose(v, axes) if _grad(v) else out(np.transpose(raw(v), axes))


@keras_op
def expand_dims(x, axis):
    v = val(x)
    if _grad(v) and isinstance(axis, (int, np.integer)):
        return _s.expand_dims(v, axis)
    return gather(lambda a: np.expand_dims(a, axis), v)


@keras_op
def squeeze(x, axis=None):
    v = val(x)
    return _s.squeeze(v, axis) if _grad(v) else out(np.squeeze(raw(v), axis))


def _vals(xs, op):
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    return [val(x) for x in xs]


@keras_op
def concatenate(xs, axis=0):
    vs = _vals(xs, "concatenate")
    if axis is None:
        return gather(lambda *a: np.concatenate([b.reshape(-1) for b in a]), *vs)
    if _grad(*vs):
        return _s.concatenate([fl(v) for v in vs], axis)
    return gather(lambda *a: np.concatenate(a, axis=axis), *vs)


@keras_op
def stack(x, axis=0):
    vs = _vals(x, "stack")
    if _grad(*vs):
        return _s.stack([fl(v) for v in vs], axis)
    return gather(lambda *a: np.stack(a, axis=axis), *vs)


def _pieces(v, fn):
    """Splits via fn(array) -> list of arrays, one gather op per piece."""
    n = len(fn(raw(v)))
    return [gather(lambda a, i=i: fn(a)[i], v) for i in range(n)]


@keras_op
def split(x, indices_or_sections, axis=0):
    v = val(x)
    if isinstance(indices_or_sections, (int, np.integer)):
        n = raw(v).shape[norm_axis("split", axis, raw(v).ndim)]
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f"split: cannot split axis {axis} of length {n} into "
                             f"{indices_or_sections} equal sections")
    if _grad(v):
        return _s.split(v, indices_or_sections, axis)
    return [out(p) for p in np.split(raw(v), indices_or_sections, axis)]


@keras_op
def array_split(x, indices_or_sections, axis=0):
    return _pieces(val(x), lambda a: np.array_split(a, indices_or_sections, axis))


@keras_op
def hsplit(x, indices_or_sections):
    return _pieces(val(x), lambda a: np.hsplit(a, indices_or_sections))


@keras_op
def vsplit(x, indices_or_sections):
    return _pieces(val(x), lambda a: np.vsplit(a, indices_or_sections))


@keras_op
def dsplit(x, indices_or_sections):
    return _pieces(val(x), lambda a: np.dsplit(a, indices_or_sections))


@keras_op
def unstack(x, num=None, axis=0):
    v = val(x)
    n = raw(v).shape[axis]
    if num is not None and num != n:
        raise ValueError(f"unstack: num={num} does not match axis {axis} of length {n}")
    return [gather(lambda a, i=i: np.take(a, i, axis=axis), v) for i in range(n)]


def _joiner(name, f):
    def op(xs):
        return gather(lambda *a: f(a), *_vals(xs, name))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name} (numpy's)."
    return keras_op(op)


hstack = _joiner("hstack", np.hstack)
vstack = _joiner("vstack", np.vstack)
dstack = _joiner("dstack", np.dstack)


@keras_op
def append(x1, x2, axis=None):
    return gather(lambda a, b: np.append(a, b, axis=axis), x1, x2)


def _mover(name, f):
    def op(x, *args, **kwargs):
        return gather(lambda a: f(a, *args, **kwargs), x, op=name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}: moves elements (differentiable)."
    return keras_op(op)


flip = _mover("flip", lambda a, axis=None: np.flip(a, axis))
fliplr = _mover("fliplr", np.fliplr)
flipud = _mover("flipud", np.flipud)
roll = _mover("roll", lambda a, shift, axis=None: np.roll(a, shift, axis))
rot90 = _mover("rot90", lambda a, k=1, axes=(0, 1): np.rot90(a, k, axes))
tile = _mover("tile", lambda a, repeats: np.tile(a, repeats))
moveaxis = _mover("moveaxis", lambda a, source, destination: np.moveaxis(a, source, destination))
swapaxes = _mover("swapaxes", lambda a, axis1, axis2: np.swapaxes(a, axis1, axis2))
ravel = _mover("ravel", lambda a: np.ravel(a))
diagonal = _mover("diagonal", lambda a, offset=0, axis1=0, axis2=1: np.diagonal(
    a, offset, axis1, axis2).copy())
diag = _mover("diag", lambda a, k=0: np.diag(a, k))
diagflat = _mover("diagflat", lambda a, k=0: np.diagflat(a, k))
tril = _mover("tril", lambda a, k=0: np.tril(a, k))
triu = _mover("triu", lambda a, k=0: np.triu(a, k))


@keras_op
def repeat(x, repeats, axis=None):
    r = raw(repeats) if not isinstance(repeats, (int, np.integer)) else int(repeats)
    return gather(lambda a: np.repeat(a, r, axis), x)


@keras_op
def broadcast_to(x, shape):
    shape = tuple(int(d) for d in shape)
    return gather(lambda a: np.broadcast_to(a, shape), x)


@keras_op
def take(x, indices, axis=None):
    """Elements at `indices` along `axis` (flattened when None); negative indices count from
    the end. Differentiable in x."""
    idx = raw(indices)
    if idx.dtype.kind not in "iu":
        idx = idx.astype(np.int64)
    n = raw(x).size if axis is None else raw(x).shape[axis]
    if idx.size and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"take: index out of range for an axis of length {n} "
                         f"(indices {idx.min()}..{idx.max()})")
    return gather(lambda a: np.take(a, idx, axis=axis), x)


@keras_op
def take_along_axis(x, indices, axis=None):
    idx = raw(indices).astype(np.int64)
    a0 = raw(x)
    if axis is not None:
        ax = norm_axis("take_along_axis", axis, a0.ndim)
        shape = np.broadcast_shapes(a0.shape[:ax] + (1,) + a0.shape[ax + 1:],
                                    idx.shape[:ax] + (1,) + idx.shape[ax + 1:])
        idx = np.broadcast_to(idx, shape[:ax] + (idx.shape[ax],) + shape[ax + 1:])
        tgt = shape[:ax] + (a0.shape[ax],) + shape[ax + 1:]
        return gather(lambda a: np.take_along_axis(np.broadcast_to(a, tgt), idx, ax), x)
    return gather(lambda a: np.take_along_axis(a, idx, axis), x)


@keras_op
def get_item(x, key):
    v = val(x)
    if isinstance(key, list):
        key = tuple(key)
    return _s.getitem(v, key) if _grad(v) else out(raw(v)[_s._index_part(key) if not
                                                   isinstance(key, tuple) else tuple(
                                                       _s._index_part(k) for k in key)])


@keras_op
def where(condition, x1=None, x2=None):
    """x1 where condition else x2; with one argument the indices of the true elements."""
    cond = raw(condition)
    if x1 is None and x2 is None:
        return tuple(out(i.astype(np.int32)) for i in np.nonzero(cond))
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither")
    c = cond.astype(bool)
    return gather(lambda a, b: np.where(c, a, b), x1, x2, op="where: shapes of condition "
                  f"{c.shape} and")


@keras_op
def select(condlist, choicelist, default=0):
    conds = [raw(c).astype(bool) for c in condlist]
    return gather(lambda d, *cs: np.select(conds, cs, d), default, *choicelist)


@keras_op
def pad(x, pad_width, mode="constant", constant_values=None):
    v = val(x)
    if _grad(v):
        return _s.pad(v, pad_width, mode, constant_values or 0.0)
    kw = {"constant_values": constant_values or 0} if mode == "constant" else {}
    return out(np.pad(raw(v), pad_width, mode=mode, **kw))


@keras_op
def slice(inputs, start_indices, shape):  # noqa: A001
    start = [int(s) for s in raw(start_indices).reshape(-1)]
    idx = tuple(builtins.slice(s, s + int(n)) for s, n in zip(start, shape))
    return gather(lambda a: a[idx], inputs)


def _scatter_into(base, start_or_idx, updates, setter):
    def f(a, u):
        r = np.array(a)
        setter(r, u)
        return r
    return gather(f, base, updates)


@keras_op
def slice_update(inputs, start_indices, updates):
    u = raw(updates)
    start = [int(s) for s in raw(start_indices).reshape(-1)]
    idx = tuple(builtins.slice(s, s + n) for s, n in zip(start, u.shape))

    def setter(r, upd):
        r[idx] = upd
    return _scatter_into(inputs, start, updates, setter)


@keras_op
def scatter_update(inputs, indices, updates, reduction=None):
    """inputs with the elements at `indices` (rows of coordinates) set to `updates`."""
    idx = raw(indices).astype(np.int64)
    loc = tuple(idx[..., i] for i in range(idx.shape[-1]))
    if reduction not in (None, "add"):
        a, u = raw(inputs).copy(), raw(updates)
        ufunc = {"max": np.maximum, "min": np.minimum, "mul": np.multiply}[reduction]
        ufunc.at(a, loc, u)
        return out(a)
    if reduction == "add":
        from grebe.ops.np_math import add
        return add(inputs, scatter(indices, updates, raw(inputs).shape))

    def setter(r, upd):
        r[loc] = upd
    return _scatter_into(inputs, idx, updates, setter)


class _ScatterAdd(Function):
    """values (n, ...) -> zeros(shape) with values added at rows of coordinates `loc`."""

    @staticmethod
    def forward(ctx, values, loc, shape):
        ctx.save(loc)
        y = np.zeros(shape, _f32)
        np.add.at(y, loc, values)
        return y

    @staticmethod
    def backward(ctx, dy):
        return np.ascontiguousarray(dy[ctx.saved[0]])


@keras_op
def scatter(indices, values, shape):
    """zeros(shape) with `values` added at `indices` (duplicates add up, as Keras)."""
    idx = raw(indices).astype(np.int64)
    loc = tuple(idx[..., i] for i in range(idx.shape[-1]))
    v = val(values)
    shape = tuple(int(d) for d in shape)
    if needs_grad(v):
        return _ScatterAdd.apply(fl(v), loc, shape)
    a = raw(v)
    y = np.zeros(shape, a.dtype)
    np.add.at(y, loc, a)
    return out(y)


@keras_op
def nonzero(x):
    return tuple(out(i.astype(np.int32)) for i in np.nonzero(raw(x)))


@keras_op
def unravel_index(indices, shape):
    return tuple(out(i.astype(np.int32)) for i in np.unravel_index(raw(indices), shape))


__all__ = ["reshape", "transpose", "expand_dims", "squeeze", "concatenate", "stack", "split",
           "array_split", "hsplit", "vsplit", "dsplit", "unstack", "hstack", "vstack", "dstack",
           "append", "flip", "fliplr", "flipud", "roll", "rot90", "tile", "moveaxis", "swapaxes",
           "ravel", "diagonal", "diag", "diagflat", "tril", "triu", "repeat", "broadcast_to",
           "take", "take_along_axis", "get_item", "where", "select", "pad", "slice",
           "slice_update", "scatter_update", "scatter", "nonzero", "unravel_index"]
