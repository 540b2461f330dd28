"""keras.ops.core: control flow (cond, switch, fori_loop, while_loop, scan, map,
associative_scan, vectorized_map, vectorize) as Python loops over grebe ops, so gradients flow
through every iteration; custom_gradient.

>>> from grebe import ops
>>> ops.fori_loop(0, 4, lambda i, x: x + i, 0)
6
"""
from __future__ import annotations

import numpy as np

from grebe import autograd
from grebe.autograd import Function
from grebe.ops._keras import fl, keras_op, out, raw
from grebe.tensor import Tensor

_f32 = np.float32


def _truth(pred) -> bool:
    a = raw(pred)
    if a.size != 1:
        raise ValueError(f"cond: the predicate must be a scalar, received shape {a.shape}")
    return bool(a.reshape(()))


def cond(pred, true_fn, false_fn):
    """true_fn() if pred else false_fn()."""
    return true_fn() if _truth(pred) else false_fn()


def switch(index, branches, *operands):
    """branches[index](*operands), the index clipped into range as Keras does."""
    i = int(np.clip(int(raw(index)), 0, len(branches) - 1))
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    """val = body_fun(i, val) for i in range(lower, upper)."""
    v = init_val
    for i in range(int(raw(lower)), int(raw(upper))):
        v = body_fun(i, v)
    return v


def while_loop(cond, body, loop_vars, maximum_iterations=None):  # noqa: A002 (Keras's name)
    """Runs `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`; a single (non-tuple)
    loop_vars is passed and returned as itself."""
    single = not isinstance(loop_vars, (tuple, list))
    v = (loop_vars,) if single else tuple(loop_vars)
    n = 0
    while (maximum_iterations is None or n < maximum_iterations) and _truth(cond(*v)):
        r = body(*v)
        v = (r,) if single else tuple(r) if isinstance(r, (tuple, list)) else (r,)
        n += 1
    return v[0] if single else type(loop_vars)(v) if isinstance(loop_vars, tuple) else list(v)


def _stack(items):
    from grebe.ops.np_shape import stack
    if not items:
        return None
    first = items[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([it[k] for it in items]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([it[k] for it in items]) for k in first}
    return stack([it if isinstance(it, Tensor) else out(it) for it in items])


def _length(xs) -> int:
    if isinstance(xs, (tuple, list)):
        return _length(xs[0])
    if isinstance(xs, dict):
        return _length(next(iter(xs.values())))
    return np.shape(raw(xs))[0] if not isinstance(xs, Tensor) else xs.shape[0]


def _index(xs, i):
    if isinstance(xs, (tuple, list)):
        return type(xs)(_index(x, i) for x in xs)
    if isinstance(xs, dict):
        return {k: _index(v, i) for k, v in xs.items()}
    return (xs if isinstance(xs, Tensor) else out(raw(xs)))[i]


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """(carry, stacked ys) of `carry, y = f(carry, x)` over the leading axis of xs."""
    n = _length(xs) if xs is not None else int(length)
    order = range(n - 1, -1, -1) if reverse else range(n)
    carry, ys = init, []
    for i in order:
        carry, y = f(carry, None if xs is None else _index(xs, i))
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, (_stack(ys) if ys and ys[0] is not None else None)


def map(f, xs):  # noqa: A001
    """f applied to each slice along the leading axis of xs, results stacked."""
    return _stack([f(_index(xs, i)) for i in range(_length(xs))])


def vectorized_map(function, elements):
    return map(function, elements)


def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive scan: out[i] = f(out[i-1], elems[i]) along `axis` (sequential)."""
    from grebe.ops.np_shape import moveaxis
    multi = isinstance(elems, (tuple, list))
    parts = list(elems) if multi else [elems]
    parts = [moveaxis(p, axis, 0) for p in parts]
    n = _length(parts[0])
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    acc, outs = None, {}
    for i in order:
        x = [p[i] for p in parts]
        x = type(elems)(x) if multi else x[0]
        acc = x if acc is None else f(acc, x)
        outs[i] = acc
    res = _stack([outs[i] for i in range(n)])
    if multi:
        return type(elems)(moveaxis(r, 0, axis) for r in res)
    return moveaxis(res, 0, axis)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """numpy's vectorize on the values (no gradient)."""
    vf = np.vectorize(pyfunc, excluded=excluded or set(), signature=signature)

    def wrapped(*args, **kwargs):
        return out(vf(*[raw(a) if isinstance(a, Tensor) else a for a in args], **kwargs))
    return wrapped


class _Custom(Function):
    """Runs f's forward under no_grad; backward calls the grad function it returned."""

    @staticmethod
    def forward(ctx, *xs, f):
        with autograd.no_grad():
            y, grad_fn = f(*[Tensor(x) for x in xs])
        ctx.save(grad_fn, len(xs))
        return np.asarray(raw(y), _f32)

    @staticmethod
    def backward(ctx, dy):
        grad_fn, n = ctx.saved
        try:
            g = grad_fn(upstream=Tensor(dy))
        except TypeError:
            g = grad_fn(Tensor(dy))
        g = g if isinstance(g, (tuple, list)) else (g,)
        return tuple(None if a is None else np.asarray(raw(a), _f32) for a in g)[:n]


def custom_gradient(f):
    """Decorator: f(*x) returns (y, grad_fn) and grad_fn(upstream) returns dL/dx (one per x)."""
    def wrapped(*args):
        return _Custom.apply(*[fl(a) for a in args], f=f)
    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    return keras_op(wrapped)


__all__ = ["cond", "switch", "fori_loop", "while_loop", "scan", "map", "vectorized_map",
           "associative_scan", "vectorize", "custom_gradient"]
