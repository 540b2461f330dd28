"""keras.ops segment reductions, counting and searching, differences: segment_sum/max/min/prod,
bincount, histogram, digitize, searchsorted, unique, isin, diff, trapezoid, corrcoef.
"""
from __future__ import annotations

import numpy as np

from grebe.ops._keras import fl, gather, keras_op, needs_grad, out, raw, val
from grebe.ops.np_shape import scatter

_f32 = np.float32


def _segments(data, segment_ids, num_segments):
    ids = raw(segment_ids).astype(np.int64).reshape(-1)
    n = int(ids.max()) + 1 if num_segments is None and ids.size else int(num_segments or 0)
    return ids, n


@keras_op
def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sums of data rows per segment id (rows with an id outside [0, n) are dropped)."""
    ids, n = _segments(data, segment_ids, num_segments)
    keep = (ids >= 0) & (ids < n)
    v = val(data)
    shape = (n,) + tuple(np.shape(raw(v))[1:])
    rows = gather(lambda a: a[keep], v) if not keep.all() else v
    return scatter(ids[keep][:, None], rows, shape)


def _segment_pick(name, better):
    """segment_max/min: the winning row element per segment and feature (a gather, so the
    gradient goes to it); empty segments give 0."""
    def op(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
        ids, n = _segments(data, segment_ids, num_segments)
        a = raw(data)
        flat = a.reshape(a.shape[0], -1)
        best = np.full((n, flat.shape[1]), -1, np.int64)
        for r in range(flat.shape[0]):
            s = ids[r]
            if 0 <= s < n:
                cur = best[s]
                take = (cur < 0) | better(flat[r], flat[np.maximum(cur, 0),
                                                       np.arange(flat.shape[1])])
                best[s] = np.where(take, r, cur)
        cols = np.arange(flat.shape[1])

        def f(z):
            zf = z.reshape(z.shape[0], -1)
            picked = np.where(best >= 0, zf[np.maximum(best, 0), cols], 0)
            return picked.reshape((n,) + z.shape[1:])
        return gather(f, data)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}: per-segment extreme of the data rows."
    return keras_op(op)


segment_max = _segment_pick("segment_max", np.greater)
segment_min = _segment_pick("segment_min", np.less)


@keras_op
def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    ids, n = _segments(data, segment_ids, num_segments)
    a = raw(data)
    r = np.ones((n,) + a.shape[1:], a.dtype)
    keep = (ids >= 0) & (ids < n)
    np.multiply.at(r, ids[keep], a[keep])
    return out(r)


@keras_op
def bincount(x, weights=None, minlength=0, sparse=False):
    a = raw(x).astype(np.int64)
    w = None if weights is None else raw(weights)
    if a.ndim == 2:
        n = max(int(a.max()) + 1 if a.size else 0, minlength)
        return out(np.stack([np.bincount(r, None if w is None else w[i], n)
                             for i, r in enumerate(a)]).astype(np.int32 if w is None else _f32))
    r = np.bincount(a, w, minlength)
    return out(r.astype(np.int32) if w is None else r)


@keras_op
def histogram(x, bins=10, range=None):  # noqa: A002
    counts, edges = np.histogram(raw(x), bins=bins, range=range)
    return out(counts.astype(np.int32)), out(edges)


@keras_op
def digitize(x, bins):
    return out(np.digitize(raw(x), raw(bins)).astype(np.int32))


@keras_op
def searchsorted(sorted_sequence, values, side="left"):
    return out(np.searchsorted(raw(sorted_sequence), raw(values), side=side).astype(np.int32))


@keras_op
def unique(x, sorted=True, return_index=False, return_inverse=False,  # noqa: A002
           return_counts=False, axis=None, size=None, fill_value=None):
    r = np.unique(raw(x), return_index=return_index, return_inverse=return_inverse,
                  return_counts=return_counts, axis=axis)
    if isinstance(r, tuple):
        vals, extra = r[0], [out(e.astype(np.int32)) for e in r[1:]]
    else:
        vals, extra = r, []
    if size is not None:
        fill = vals.min() if fill_value is None and vals.size else (fill_value or 0)
        vals = np.concatenate([vals[:size], np.full(max(size - len(vals), 0), fill,
                                                      vals.dtype)])
    return (out(vals), *extra) if extra else out(vals)


@keras_op
def isin(x1, x2, assume_unique=False, invert=False):
    return out(np.isin(raw(x1), raw(x2), assume_unique=assume_unique, invert=invert))


@keras_op
def diff(a, n=1, axis=-1):
    """n-th differences along `axis` (differentiable: differences of two gathers)."""
    from grebe.ops.np_math import subtract
    v = val(a)
    for _ in range(int(n)):
        hi = gather(lambda z: np.delete(z, 0, axis=axis), v)
        lo = gather(lambda z: np.delete(z, -1, axis=axis), v)
        v = subtract(hi, lo)
    return v if n else out(raw(v))


@keras_op
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The trapezoid-rule integral of y along `axis` (differentiable in y)."""
    from grebe.ops.np_math import add, multiply
    from grebe.ops.np_reduce import sum as _sum
    yv = fl(y)
    hi = gather(lambda z: np.delete(z, 0, axis=axis), yv)
    lo = gather(lambda z: np.delete(z, -1, axis=axis), yv)
    if x is None:
        d = np.asarray(dx, _f32)
    else:
        d = np.diff(raw(x), axis=axis if np.ndim(raw(x)) > 1 else -1).astype(_f32)
        if np.ndim(raw(x)) == 1 and np.ndim(raw(yv)) > 1:
            shape = [1] * np.ndim(raw(yv))
            shape[axis] = -1
            d = d.reshape(shape)
    return _sum(multiply(add(hi, lo), d * np.float32(0.5)), axis)


@keras_op
def corrcoef(x):
    return out(np.corrcoef(raw(x)).astype(_f32))


__all__ = ["segment_sum", "segment_max", "segment_min", "segment_prod", "bincount", "histogram",
           "digitize", "searchsorted", "unique", "isin", "diff", "trapezoid", "corrcoef"]
