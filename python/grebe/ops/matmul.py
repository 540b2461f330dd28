"""Matrix multiply on the native SGEMM (grebe._C.matmul), with numpy's matmul semantics.

>>> import grebe, numpy as np
>>> grebe.matmul(np.ones((2, 3)), np.ones((3, 4))).shape
(2, 4)

(..., M, K) @ (..., K, N) -> (..., M, N), batch dimensions broadcast as in numpy; a 1-D `a` is
a row (K,), a 1-D `b` a column (K,), and the added axis is dropped from the result. Inputs of
other numeric dtypes become float32. A transposed view (`x.T`, `swapaxes(-1, -2)`) is passed to
the kernel with a transpose flag instead of being copied; other non-contiguous views are copied.
The backward pass is two more GEMMs with transpose flags: dA = dY @ B^T, dB = A^T @ dY.
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function, _state, unbroadcast
from grebe.ops._util import is_bf16
from grebe.tensor import Tensor

_F32 = np.dtype(np.float32)


def _shapes(a, b) -> str:
    return f"a {tuple(np.shape(a))} and b {tuple(np.shape(b))}"


def _to_f32(x, a, b) -> np.ndarray:
    """x as a float32 ndarray (no copy when it already is one); TypeError if not numeric."""
    if type(x) is np.ndarray and x.dtype is _F32:
        return x
    arr = np.asarray(x)
    if arr.dtype == _F32:
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float32)
    if arr.dtype == object:
        try:
            return arr.astype(np.float32)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"matmul: expected numeric arrays, received dtype {arr.dtype} in "
                    f"{_shapes(a, b)}")


def _op(x: np.ndarray):
    """(array, trans) with array C-contiguous and op(array) == x over the last two axes."""
    if x.flags.c_contiguous:
        return x, False
    t = x.swapaxes(-1, -2)
    if t.flags.c_contiguous:  # x is a transposed view: let the kernel read it transposed
        return t, True
    return np.ascontiguousarray(x), False


def _flat_rows(x: np.ndarray, k: int) -> np.ndarray:
    """(..., M, K) -> (prod(...) * M, K), copying only when x is not C-contiguous."""
    return np.ascontiguousarray(x).reshape(-1, k)


class MatMul(Function):
    """a (..., M, K) @ b (..., K, N) -> (..., M, N) (numpy matmul; 1-D operands as numpy).
    bf16: _C.matmul_bf16 for the product and both gradient products (bfloat16 operands,
    float32 sums)."""

    @staticmethod
    def forward(ctx, a, b, bf16=False):
        a0, b0 = a, b
        mm = _C.matmul_bf16 if bf16 else _C.matmul
        a = _to_f32(a, a0, b0)
        b = _to_f32(b, a0, b0)
        if a.ndim == 2 and b.ndim == 2:  # the common case, kept short: Dense, LSTM steps
            if a.shape[1] != b.shape[0]:
                raise ValueError(f"matmul: inner dimensions differ: {_shapes(a0, b0)}")
            ka, ta = _op(a)
            kb, tb = _op(b)
            ctx.save(ka, ta, kb, tb, None, mm)
            return mm(ka, kb, ta, tb)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must have at least 1 dimension (use multiply "
                             f"for scalars): {_shapes(a0, b0)}")
        a_shape, b_shape = a.shape, b.shape
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if b.ndim == 1:
            b = b.reshape(-1, 1)
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: inner dimensions differ: {_shapes(a0, b0)}")
        M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
        a2_shape, b2_shape = a.shape, b.shape
        try:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions do not broadcast: "
                             f"{_shapes(a0, b0)}") from None
        if b.ndim == 2:  # every row of every matrix of a against one b: a single GEMM
            ka, ta = _flat_rows(a, K), False
            kb, tb = _op(b)
        elif a.ndim == 2:  # one a against a batch of b (the binding broadcasts a)
            ka, ta = _op(a)
            kb, tb = _op(b)
            kb = kb.reshape(-1, *kb.shape[-2:])
        else:
            if a.shape[:-2] != batch:
                a = np.broadcast_to(a, batch + a.shape[-2:])
            if b.shape[:-2] != batch:
                b = np.broadcast_to(b, batch + b.shape[-2:])
            ka, ta = _op(a)
            kb, tb = _op(b)
            ka = ka.reshape(-1, *ka.shape[-2:])
            kb = kb.reshape(-1, *kb.shape[-2:])
        y = mm(ka, kb, ta, tb)
        out_shape = batch + (M, N)
        ctx.save(ka, ta, kb, tb, (a_shape, b_shape, a2_shape, b2_shape, out_shape), mm)
        y = y.reshape(out_shape)
        if len(a_shape) == 1:
            y = y.reshape(out_shape[:-2] + (N,))
        if len(b_shape) == 1:
            y = y.reshape(y.shape[:-1])
        return y

    @staticmethod
    def backward(ctx, dy):
        ka, ta, kb, tb, meta, mm = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        dy = np.asarray(dy, dtype=np.float32)
        if meta is None:  # 2-D: dA = dY @ op(B)^T, dB = op(A)^T @ dY, no copies of A or B
            kd, td = _op(dy)
            da = mm(kd, kb, td, not tb) if need_a else None
            db = mm(ka, kd, not ta, td) if need_b else None
            return da, db
        a_shape, b_shape, a2_shape, b2_shape, out_shape = meta
        N = out_shape[-1]
        dy = np.ascontiguousarray(dy.reshape(out_shape))
        # The kernel-side shape of dY: rows of a flattened (b 2-D) or (batch, M, N).
        kd = dy.reshape(-1, N) if ka.ndim == 2 and kb.ndim == 2 else dy.reshape(
            -1, *out_shape[-2:])
        da = db = None
        if need_a:
            da = mm(kd, kb, False, not tb)  # (rows, K) or (batch, M, K)
            if ka.ndim == 2 and kb.ndim == 3:
                da = da.sum(axis=0)  # a was broadcast over the batch of b
            else:
                da = unbroadcast(da.reshape(out_shape[:-2] + a2_shape[-2:]), a2_shape)
            da = da.reshape(a_shape)
        if need_b:
            if kb.ndim == 2:  # one GEMM over every row sums the batch for free
                db = mm(ka, kd.reshape(-1, N), not ta, False)
            else:
                db = mm(ka, kd, not ta, False)  # (batch, K, N)
                db = unbroadcast(db.reshape(out_shape[:-2] + b2_shape[-2:]), b2_shape)
            db = db.reshape(b_shape)
        return da, db


def matmul(a, b, *, compute_dtype: str = "float32") -> Tensor:
    """a @ b with numpy's matmul rules on the native SGEMM; differentiable in a and b.
    compute_dtype 'bfloat16' (grebe's, for layers under mixed_bfloat16): bfloat16 operands
    with float32 sums, in the product and its gradients; the result is float32.

    >>> import grebe
    >>> grebe.matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy()
    array([[11.]], dtype=float32)
    """
    bf16 = compute_dtype != "float32" and is_bf16(compute_dtype, "matmul")
    if _state.grad_enabled and ((isinstance(a, Tensor) and a.requires_grad) or
                                   (isinstance(b, Tensor) and b.requires_grad)):
        return MatMul.apply(a, b, bf16=bf16)
    # No graph to record: skip Function.apply's bookkeeping (about 2.5 us per call).
    out = MatMul.forward(_NO_GRAD_CTX, a.data if isinstance(a, Tensor) else a,
                         b.data if isinstance(b, Tensor) else b, bf16)
    return Tensor._make(out, False, None, 0)


class _NoGradCtx:
    """Stands in for a Function node when nothing will call backward: saves nothing."""

    def save(self, *values):
        pass


_NO_GRAD_CTX = _NoGradCtx()
