"""keras.ops.linalg: inv, det, slogdet/logdet, solve, norm, cholesky, qr, svd, eig/eigh,
lstsq, pinv, lu_factor, matrix_rank, solve_triangular, cholesky_inverse (batched over leading
axes, as numpy's linalg).

Differentiable: inv, det, logdet, slogdet (the log-abs part), solve, norm, pinv, lstsq and
cholesky_inverse (composed of inv and matmul). The factorizations (cholesky, qr, svd, eig,
eigh, lu_factor) return values without a gradient.
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.ops import math as _m
from grebe.ops.matmul import matmul as _matmul
from grebe.ops import reduce as _r
from grebe.ops._keras import fl, keras_op, needs_grad, out, raw, val

_f32 = np.float32


def _square(op, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{op}: expected square matrices (..., n, n), received shape {a.shape}")


def _mT(a):
    return np.swapaxes(a, -1, -2)


class Inv(Function):
    """a (..., n, n) -> a^-1; backward: -a^-T dy a^-T."""

    @staticmethod
    def forward(ctx, a):
        y = np.linalg.inv(a).astype(_f32)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        y = ctx.saved[0]
        return -(_mT(y) @ dy @ _mT(y))


class Slogdet(Function):
    """a (..., n, n) -> log|det a|; backward: dy * a^-T."""

    @staticmethod
    def forward(ctx, a):
        sign, logabs = np.linalg.slogdet(a.astype(np.float64))
        ctx.save(a)
        return logabs.astype(_f32)

    @staticmethod
    def backward(ctx, dy):
        a = ctx.saved[0].astype(np.float64)
        return (np.asarray(dy)[..., None, None] * _mT(np.linalg.inv(a))).astype(_f32)


class Det(Function):
    """a (..., n, n) -> det a; backward: dy * det a * a^-T."""

    @staticmethod
    def forward(ctx, a):
        d = np.linalg.det(a.astype(np.float64))
        ctx.save(a, d)
        return d.astype(_f32)

    @staticmethod
    def backward(ctx, dy):
        a, d = ctx.saved
        g = (np.asarray(dy) * d)[..., None, None] * _mT(np.linalg.inv(a.astype(np.float64)))
        return g.astype(_f32)


@keras_op
def inv(x):
    v = fl(x)
    _square("inv", raw(v))
    return Inv.apply(v) if needs_grad(v) else out(np.linalg.inv(raw(v)))


@keras_op
def det(x):
    v = fl(x)
    _square("det", raw(v))
    return Det.apply(v)


@keras_op
def logdet(x):
    """log det x for a positive-definite x (log|det| as the gradient)."""
    v = fl(x)
    _square("logdet", raw(v))
    return Slogdet.apply(v)


@keras_op
def slogdet(x):
    v = fl(x)
    _square("slogdet", raw(v))
    return out(np.linalg.slogdet(raw(v))[0].astype(_f32)), Slogdet.apply(v)


@keras_op
def solve(a, b):
    """x with a x = b (b (..., n) or (..., n, k)); gradients through inv and matmul."""
    av, bv = fl(a), fl(b)
    if np.ndim(raw(bv)) == np.ndim(raw(av)) - 1:
        from grebe.ops.np_shape import expand_dims, squeeze
        return squeeze(_matmul(inv(av), expand_dims(bv, -1)), -1)
    return _matmul(inv(av), bv)


@keras_op
def solve_triangular(a, b, lower=False):
    av = raw(a)
    tri = np.tril(av) if lower else np.triu(av)
    return solve(tri if not needs_grad(val(a)) else a, b)


class Cholesky(Function):
    """a (..., n, n) symmetric positive-definite -> lower L with L L^T = a. Backward (Murray
    2016): P = Phi(L^T dL) (lower triangle, halved diagonal), da = L^-T P L^-1, symmetrized."""

    @staticmethod
    def forward(ctx, a):
        try:
            lo = np.linalg.cholesky(a.astype(np.float64))
        except np.linalg.LinAlgError:
            raise ValueError("cholesky: the matrix is not positive definite") from None
        ctx.save(lo)
        return lo.astype(_f32)

    @staticmethod
    def backward(ctx, dy):
        lo = ctx.saved[0]
        p = np.tril(_mT(lo) @ dy)
        p = p - 0.5 * np.eye(lo.shape[-1]) * p
        li = np.linalg.inv(lo)
        g = _mT(li) @ p @ li
        return (0.5 * (g + _mT(g))).astype(_f32)


class Eigh(Function):
    """a (..., n, n) symmetric -> (w, v) ascending eigenvalues and eigenvectors. Backward:
    v (diag(dw) + sym(v^T dv) / (w_j - w_i)) v^T (distinct eigenvalues)."""

    @staticmethod
    def forward(ctx, a):
        w, v = np.linalg.eigh(a.astype(np.float64))
        ctx.save(w, v)
        return w.astype(_f32), v.astype(_f32)

    @staticmethod
    def backward(ctx, dw, dv):
        w, v = ctx.saved
        e = w[..., None, :] - w[..., :, None]
        idx = np.arange(w.shape[-1])
        e[..., idx, idx] = np.inf
        inner = (_mT(v) @ dv) / e
        inner[..., idx, idx] = dw
        g = v @ inner @ _mT(v)
        return (0.5 * (g + _mT(g))).astype(_f32)


@keras_op
def cholesky(x, upper=False):
    v = fl(x)
    _square("cholesky", raw(v))
    lo = Cholesky.apply(v)
    if not upper:
        return lo
    from grebe.ops.np_shape import swapaxes
    return swapaxes(lo, -1, -2)


@keras_op
def cholesky_inverse(x, upper=False):
    """(L L^T)^-1 from a Cholesky factor L (or U^T U from U with upper=True)."""
    from grebe.ops.np_shape import swapaxes
    v = fl(x)
    vt = swapaxes(v, -1, -2)
    a = _matmul(vt, v) if upper else _matmul(v, vt)
    return inv(a)


@keras_op
def qr(x, mode="reduced"):
    q, r = np.linalg.qr(raw(x), mode=mode)
    return out(q), out(r)


@keras_op
def svd(x, full_matrices=True, compute_uv=True):
    r = np.linalg.svd(raw(x), full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out(a) for a in r) if compute_uv else out(r)


@keras_op
def eig(x):
    w, v = np.linalg.eig(raw(x))
    if np.iscomplexobj(w) and np.abs(w.imag).max(initial=0) > 0:
        raise ValueError("eig: the matrix has complex eigenvalues, which grebe cannot hold")
    return out(w.real), out(v.real)


@keras_op
def eigh(x):
    v = fl(x)
    _square("eigh", raw(v))
    return Eigh.apply(v)


@keras_op
def lu_factor(x):
    """(lu, pivots): the packed LU factors with partial pivoting (LAPACK getrf's form)."""
    a = np.array(raw(x), np.float64)
    n = a.shape[-1]
    piv = np.zeros(a.shape[:-1], np.int32)
    flat, pflat = a.reshape(-1, n, n), piv.reshape(-1, n)
    for m, p in zip(flat, pflat):
        for k in range(n):
            i = k + int(np.argmax(np.abs(m[k:, k])))
            p[k] = i
            if i != k:
                m[[k, i]] = m[[i, k]]
            if m[k, k] != 0:
                m[k + 1:, k] /= m[k, k]
                m[k + 1:, k + 1:] -= np.outer(m[k + 1:, k], m[k, k + 1:])
    return out(a), out(piv)


@keras_op
def matrix_rank(x, tol=None):
    return out(np.asarray(np.linalg.matrix_rank(raw(x), tol)).astype(np.int32))


@keras_op
def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse; for full column rank, (x^T x)^-1 x^T (differentiable)."""
    v = fl(x)
    a = raw(v)
    if needs_grad(v) and np.linalg.matrix_rank(a) == min(a.shape[-2:]):
        from grebe.ops.np_shape import swapaxes
        vt = swapaxes(v, -1, -2)
        if a.shape[-2] >= a.shape[-1]:
            return _matmul(inv(_matmul(vt, v)), vt)
        return _matmul(vt, inv(_matmul(v, vt)))
    return out(np.linalg.pinv(a, rcond=1e-15 if rcond is None else rcond))


@keras_op
def lstsq(a, b, rcond=None):
    """The least-squares solution of a x = b."""
    av, bv = val(a), val(b)
    if needs_grad(av) or needs_grad(bv):
        p = pinv(av)
        if np.ndim(raw(bv)) == 1:
            from grebe.ops.np_shape import expand_dims, squeeze
            return squeeze(_matmul(p, expand_dims(fl(bv), -1)), -1)
        return _matmul(p, fl(bv))
    return out(np.linalg.lstsq(raw(av), raw(bv), rcond=rcond)[0])


@keras_op
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector norms (axis an int or None with a vector) and matrix norms ('fro', 1, inf, ...)."""
    v = fl(x)
    a = raw(v)
    if axis is None:
        axis = tuple(range(a.ndim)) if (ord is None or a.ndim == 1) else (-2, -1)
    if isinstance(axis, int):
        axis = (axis,)
    axis = tuple(axis)
    if not needs_grad(v):
        if len(axis) == a.ndim and ord is None:
            return out(np.sqrt(np.sum(a.astype(np.float64) ** 2, keepdims=keepdims)))
        return out(np.linalg.norm(a, ord=ord, axis=axis if len(axis) > 1 else axis[0],
                                  keepdims=keepdims))
    if len(axis) != 1 and ord not in (None, "fro", 1, -1, np.inf, -np.inf):
        return out(np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims))
    if ord in (None, "fro", 2) and (ord != 2 or len(axis) == 1):
        return _m.sqrt(_r.sum(_m.square(v), axis, keepdims))
    if len(axis) == 1:
        p = np.inf if ord in ("inf",) else ord
        if p == np.inf:
            return _r.max(_m.abs(v), axis, keepdims)
        if p == -np.inf:
            return _r.min(_m.abs(v), axis, keepdims)
        if p == 0:
            return out(np.sum(a != 0, axis=axis, keepdims=keepdims).astype(_f32))
        s = _r.sum(_m.abs(v) ** float(p), axis, keepdims)
        return s ** (1.0 / float(p))
    r, c = axis
    if ord in (1, -1):
        s = _r.sum(_m.abs(v), r, True)
        red = _r.max if ord == 1 else _r.min
        y = red(s, c, True)
    else:
        s = _r.sum(_m.abs(v), c, True)
        red = _r.max if ord == np.inf else _r.min
        y = red(s, r, True)
    if not keepdims:
        from grebe.ops.np_shape import squeeze
        y = squeeze(y, axis)
    return y


__all__ = ["inv", "det", "logdet", "slogdet", "solve", "solve_triangular", "cholesky",
           "cholesky_inverse", "qr", "svd", "eig", "eigh", "lu_factor", "matrix_rank", "pinv",
           "lstsq", "norm"]
