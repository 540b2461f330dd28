"""Differentiable ops: each a Function (forward/backward pair) calling grebe._C or numpy.

One op family per module; this package re-exports them all as `grebe.ops.<name>`.
"""
import sys as _sys
from grebe.ops.arithmetic import add, divide, multiply, negative, subtract  # noqa: F401
from grebe.ops.reduce import sum  # noqa: F401,A001
from grebe.ops.matmul import matmul  # noqa: F401

# The Tensor operators (+, *, @, .sum(), ...) call into this package.
_sys.modules["grebe.tensor"]._ops = _sys.modules[__name__]
