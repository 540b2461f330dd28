"""keras.ops products: matmul, dot, tensordot, einsum, inner, outer, vdot, kron, cross, trace,
cdist, correlate.

matmul of floats is grebe's native GEMM; einsum is one Function whose backward is an einsum per
operand; the rest compose those two.
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.ops.matmul import matmul as _matmul
from grebe.ops import reduce as _r
from grebe.ops._keras import fl, gather, is_float, keras_op, needs_grad, out, raw, val

_f32 = np.float32


@keras_op
def matmul(x1, x2):
    a, b = val(x1), val(x2)
    if is_float(a) or is_float(b):
        return _matmul(fl(a), fl(b))
    return out(np.matmul(raw(a), raw(b)))


def _parse(subscripts: str, shapes):
    """Explicit 'ab,bc->ac' form of an einsum spec; ellipses become fresh capital letters."""
    s = subscripts.replace(" ", "")
    ins, _, outs = s.partition("->")
    ins = ins.split(",")
    if "..." in s:
        nd = max(len(sh) - len(i.replace("...", "")) for i, sh in zip(ins, shapes) if "..." in i)
        ell = "".join(chr(ord("A") + k) for k in range(nd))
        fixed = []
        for i, sh in zip(ins, shapes):
            if "..." in i:
                k = len(sh) - len(i.replace("...", ""))
                i = i.replace("...", ell[nd - k:])
            fixed.append(i)
        ins = fixed
        outs = outs.replace("...", ell) if "->" in s else None
    if outs is None or "->" not in s:
        letters = "".join(ins)
        ell_part = "".join(sorted(c for c in set(letters) if c.isupper()))
        outs = ell_part + "".join(sorted(c for c in set(letters)
                                         if letters.count(c) == 1 and c.islower()))
    return ins, outs


class Einsum(Function):
    """operands -> einsum(spec); the gradient of operand i is the einsum of dy with the other
    operands onto operand i's subscripts (a ones vector stands in for its summed-only axes)."""

    @staticmethod
    def forward(ctx, *ops, ins, outs):
        ctx.save(ops, ins, outs)
        return np.asarray(np.einsum(",".join(ins) + "->" + outs, *ops), _f32)

    @staticmethod
    def backward(ctx, dy):
        ops, ins, outs = ctx.saved
        grads = []
        for i, sub in enumerate(ins):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(ins, ops)) if j != i]
            have = set(outs) | {c for s, _ in others for c in s}
            missing = [c for c in dict.fromkeys(sub) if c not in have]
            terms = [outs] + [s for s, _ in others] + list(missing)
            arrays = [dy] + [o for _, o in others] + \
                [np.ones(ops[i].shape[sub.index(c)], _f32) for c in missing]
            target = sub
            if len(set(sub)) != len(sub):  # a repeated index (a diagonal): go through a mask
                raise NotImplementedError("einsum: gradients of repeated indices in one "
                                          "operand are not supported")
            g = np.einsum(",".join(terms) + "->" + target, *arrays)
            grads.append(np.ascontiguousarray(g, dtype=_f32))
        return tuple(grads)


@keras_op
def einsum(subscripts, *operands, **kwargs):
    vs = [val(o) for o in operands]
    ins, outs = _parse(subscripts, [np.shape(raw(v)) for v in vs])
    if not any(needs_grad(v) for v in vs):
        rs = [raw(v) for v in vs]
        r = np.einsum(",".join(ins) + "->" + outs, *rs)
        return out(r)
    return Einsum.apply(*[fl(v) for v in vs], ins=ins, outs=outs)


@keras_op
def tensordot(x1, x2, axes=2):
    a, b = val(x1), val(x2)
    na, nb = np.ndim(raw(a)), np.ndim(raw(b))
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, int) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, int) else list(ax_b)
    ax_a = [x % na for x in ax_a]
    ax_b = [x % nb for x in ax_b]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    outs = [c for k, c in enumerate(sa) if k not in ax_a] + \
        [c for k, c in enumerate(sb) if k not in ax_b]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(outs), a, b)


@keras_op
def dot(x1, x2):
    """numpy's dot: products of scalars, vectors, matrices and the last/second-last axes."""
    a, b = val(x1), val(x2)
    na, nb = np.ndim(raw(a)), np.ndim(raw(b))
    if na == 0 or nb == 0:
        from grebe.ops.np_math import multiply
        return multiply(a, b)
    if nb == 1:
        return tensordot(a, b, ([na - 1], [0]))
    return tensordot(a, b, ([na - 1], [nb - 2]))


@keras_op
def inner(x1, x2):
    a, b = val(x1), val(x2)
    if np.ndim(raw(a)) == 0 or np.ndim(raw(b)) == 0:
        from grebe.ops.np_math import multiply
        return multiply(a, b)
    return tensordot(a, b, ([-1], [-1]))


@keras_op
def outer(x1, x2):
    return einsum("i,j->ij", gather(np.ravel, x1), gather(np.ravel, x2))


@keras_op
def vdot(x1, x2):
    return einsum("i,i->", gather(np.ravel, x1), gather(np.ravel, x2))


@keras_op
def kron(x1, x2):
    a, b = val(x1), val(x2)
    sa, sb = np.shape(raw(a)), np.shape(raw(b))
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    la, lb = "abcdefgh"[:n], "ijklmnop"[:n]
    from grebe.ops.np_shape import reshape
    e = einsum(f"{la},{lb}->" + "".join(p + q for p, q in zip(la, lb)),
               reshape(a, sa), reshape(b, sb))
    return reshape(e, tuple(p * q for p, q in zip(sa, sb)))


@keras_op
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors along the given axes (composed, differentiable)."""
    from grebe.ops.np_shape import moveaxis, stack
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(x1, axisa, -1), moveaxis(x2, axisb, -1)
    if raw(a).shape[-1] != 3 or raw(b).shape[-1] != 3:
        raise ValueError(f"cross: expected vectors of length 3, received shapes "
                         f"{raw(a).shape} and {raw(b).shape} (only 3-vectors are supported)")
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


@keras_op
def trace(x, offset=0, axis1=0, axis2=1):
    from grebe.ops.np_shape import diagonal
    d = diagonal(x, offset, axis1, axis2)
    return _r.sum(d, -1) if needs_grad(d) else out(np.sum(raw(d), -1))


@keras_op
def cdist(x, y):
    """Euclidean distances between the rows of x (..., m, d) and y (..., n, d)."""
    from grebe.ops import math as _m
    from grebe.ops.np_shape import expand_dims
    d = expand_dims(fl(x), -2) - expand_dims(fl(y), -3)
    return _m.sqrt(_r.sum(_m.square(d), -1))


@keras_op
def correlate(x1, x2, mode="valid"):
    return out(np.correlate(raw(x1), raw(x2), mode=mode).astype(_f32))


__all__ = ["matmul", "einsum", "tensordot", "dot", "inner", "outer", "vdot", "kron", "cross",
           "trace", "cdist", "correlate"]
