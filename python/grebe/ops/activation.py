"""Activation ops. The common ones (relu, sigmoid, tanh, gelu, silu, ..., softmax, log_softmax)
run one native pass forward and one backward (grebe._C.activation_* / softmax_*); the rest are
short numpy compositions inside a single Function.

Gradient conventions follow PyTorch: relu'(0) = 0; relu6 and hard_sigmoid have zero gradient at
their kinks. gelu is exact (erf) unless approximate=True (tanh form). softmax and log_softmax
subtract the row max first (log-sum-exp), so huge logits stay finite.
"""
from __future__ import annotations

import warnings

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import as_input, norm_axes
from grebe.tensor import Tensor

_f32 = np.float32

# The native kernels' activations (csrc/kernels/elementwise.h, enum Act, exported by the
# bindings), by name, as the plain ints the kernels take (cheaper per call than the enum).
Act = _C.Act
ACT_CODES = {name: int(code) for name, code in Act.__members__.items()}
# Codes whose gradient is computed from the output y (else from the input x), as C++ says.
GRAD_FROM_OUTPUT = frozenset(c for c in ACT_CODES.values() if _C.act_grad_uses_output(c))

_act_fwd = _C.activation_forward
_act_bwd = _C.activation_backward
_softmax_fwd = _C.softmax_forward
_softmax_bwd = _C.softmax_backward


def _f32c(x):
    """x as a C-contiguous float32 array (no copy when it already is one)."""
    return np.asarray(x, dtype=_f32, order="C")


class NativeActivation(Function):
    """x (...) -> act(x), one native pass each way; `code` selects act, `alpha` its parameter."""

    @staticmethod
    def forward(ctx, x, code, alpha):
        x = _f32c(x)
        y = _act_fwd(x, code, alpha, None)
        if code in GRAD_FROM_OUTPUT:
            ctx.save(None, y, code, alpha)
        else:
            ctx.save(x, None, code, alpha)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y, code, alpha = ctx.saved
        return _act_bwd(_f32c(dy), x, y, code, alpha, None)


def _native(x, name, alpha=0.0) -> Tensor:
    return NativeActivation.apply(as_input(x), ACT_CODES[name], float(alpha))


def relu(x) -> Tensor:
    """max(x, 0)."""
    return _native(x, "relu")


def relu6(x) -> Tensor:
    """min(max(x, 0), 6)."""
    return _native(x, "relu6")


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    """x where x >= 0, else negative_slope * x (Keras 3 default slope 0.2)."""
    return _native(x, "leaky_relu", negative_slope)


def elu(x, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha * (e^x - 1)."""
    return _native(x, "elu", alpha)


def selu(x) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants (1.0507..., 1.6732...)."""
    return _native(x, "selu")


def with_logits(y: Tensor, logits: Tensor, kind: str) -> Tensor:
    """Carries `logits` on y = softmax(logits) (kind 'softmax', last axis) or sigmoid(logits)
    (kind 'sigmoid'), as Keras's `_keras_logits`: a crossentropy loss on y takes the logits
    instead (log-sum-exp, no log of a rounded probability) without recomputing them."""
    y._keras_logits = logits
    y._logits_kind = kind
    return y


def sigmoid(x) -> Tensor:
    """1 / (1 + e^-x). The output carries x as its logits (with_logits)."""
    x = as_input(x)
    return with_logits(NativeActivation.apply(x, ACT_CODES["sigmoid"], 0.0), x, "sigmoid")


def hard_sigmoid(x) -> Tensor:
    """relu6(x + 3) / 6 (Keras 3 and PyTorch)."""
    return _native(x, "hard_sigmoid")


def tanh(x) -> Tensor:
    return _native(x, "tanh")


def gelu(x, approximate: bool = False) -> Tensor:
    """x * Phi(x) (exact, erf), or the tanh approximation when approximate=True."""
    return _native(x, "gelu_tanh" if approximate else "gelu")


def silu(x) -> Tensor:
    """x * sigmoid(x)."""
    return _native(x, "silu")


swish = silu


def softplus(x) -> Tensor:
    """log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|)."""
    return _native(x, "softplus")


def linear(x) -> Tensor:
    """The identity (no op is recorded)."""
    return x if isinstance(x, Tensor) else Tensor(x)


# ---- numpy compositions ------------------------------------------------------------------
class Exponential(Function):
    """x (...) -> e^x."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x, dtype=_f32)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        return dy * ctx.saved[0]


def exponential(x) -> Tensor:
    return Exponential.apply(as_input(x))


class Softsign(Function):
    """x (...) -> x / (1 + |x|)."""

    @staticmethod
    def forward(ctx, x):
        d = 1 + np.abs(x)
        ctx.save(d)
        return (x / d).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        d = ctx.saved[0]
        return dy / (d * d)


def softsign(x) -> Tensor:
    return Softsign.apply(as_input(x))


class HardSilu(Function):
    """x (...) -> x * relu6(x + 3) / 6 (hard swish)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return (x * np.clip(x + 3, 0, 6) / 6).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        x = ctx.saved[0]
        g = np.where(x < -3, _f32(0), np.where(x > 3, _f32(1), (2 * x + 3) / 6))
        return (dy * g).astype(_f32, copy=False)


def hard_silu(x) -> Tensor:
    return HardSilu.apply(as_input(x))


hard_swish = hard_silu


class Mish(Function):
    """x (...) -> x * tanh(softplus(x))."""

    @staticmethod
    def forward(ctx, x):
        sp = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        t = np.tanh(sp)
        ctx.save(x, t)
        return (x * t).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        x, t = ctx.saved
        sig = 1 / (1 + np.exp(-x))
        return (dy * (t + x * (1 - t * t) * sig)).astype(_f32, copy=False)


def mish(x) -> Tensor:
    return Mish.apply(as_input(x))


class LogSigmoid(Function):
    """x (...) -> log(sigmoid(x)) = -softplus(-x), stable for large |x|."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return (np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))).astype(_f32, copy=False)

    @staticmethod
    def backward(ctx, dy):
        x = ctx.saved[0]
        return (dy / (1 + np.exp(x))).astype(_f32, copy=False)


def log_sigmoid(x) -> Tensor:
    return LogSigmoid.apply(as_input(x))


# ---- softmax -------------------------------------------------------------------------------
class Softmax(Function):
    """x (..., N) -> softmax (or log_softmax when log) over the last axis."""

    @staticmethod
    def forward(ctx, x, log):
        y = _softmax_fwd(_f32c(x), log, None)
        ctx.save(y, log)
        return y

    @staticmethod
    def backward(ctx, dy):
        y, log = ctx.saved
        return _softmax_bwd(_f32c(dy), y, log, None)


def _softmax(x, axis, log: bool, name: str) -> Tensor:
    x = as_input(x)
    ndim = x.ndim
    if ndim == 0:
        raise ValueError(f"{name}: expected an input of rank >= 1, received a scalar")
    if axis == -1 or axis == ndim - 1:  # the common case, without axis normalization
        y = Softmax.apply(x, log)
        return y if log else with_logits(y, x, "softmax")
    from grebe.ops.shape_ops import reshape, transpose

    axes = norm_axes(name, axis, ndim)
    if axes == (ndim - 1,):
        y = Softmax.apply(x, log)
        return y if log else with_logits(y, x, "softmax")
    # Other axes: move them last, merge them, and undo both afterwards.
    rest = tuple(a for a in range(x.ndim) if a not in axes)
    perm = rest + axes
    moved = transpose(x, perm)
    lead = tuple(moved.shape[:len(rest)])
    flat = reshape(moved, lead + (-1,))
    y = reshape(Softmax.apply(flat, log), moved.shape)
    return transpose(y, tuple(np.argsort(perm)))


def softmax(x, axis=-1) -> Tensor:
    """e^x / sum(e^x) over `axis` (an int or a tuple of axes), max-shifted for stability.
    Over an axis of size 1 it is always 1: that warns, as Keras does (a 1-unit softmax layer
    trained with categorical_crossentropy sits at loss 0 forever)."""
    warn_if_softmax_is_constant(np.shape(x.data if isinstance(x, Tensor) else x), axis)
    return _softmax(x, axis, False, "softmax")


def warn_if_softmax_is_constant(shape: tuple, axis=-1) -> None:
    """Keras's warning for a softmax over axes of size 1 (its value is always 1); ops.dense
    calls it too for its fused softmax."""
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if shape and all(type(a) is int and -len(shape) <= a < len(shape) and shape[a] == 1
                     for a in axes):
        warnings.warn(f"You are using a softmax over axis {axis} of a tensor of shape "
                      f"{tuple(shape)}. This axis has size 1. The softmax operation will "
                      f"always return the value 1, which is likely not what you intended. Did "
                      f"you mean to use a sigmoid instead?", UserWarning, stacklevel=3)


def log_softmax(x, axis=-1) -> Tensor:
    """x - logsumexp(x) over `axis`, computed without overflow for huge logits."""
    return _softmax(x, axis, True, "log_softmax")
