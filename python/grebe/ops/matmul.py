"""Matrix multiply (placeholder on numpy until the native GEMM binding lands)."""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.tensor import Tensor


class MatMul(Function):
    """a (..., M, K) @ b (..., K, N) -> (..., M, N)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        return dy @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ dy


def matmul(a, b) -> Tensor:
    a = a if isinstance(a, Tensor) else Tensor(a)
    b = b if isinstance(b, Tensor) else Tensor(b)
    return MatMul.apply(a, b)
