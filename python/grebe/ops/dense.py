"""The fused Dense op: y = act(x @ kernel + bias) in one GEMM whose epilogue adds the bias
(and applies ReLU), plus at most one native pass for another activation; backward is one pass
for act' and the bias gradient, then the two GEMMs it needs (dx = dz @ W^T, dW = x^T @ dz).

>>> import grebe, numpy as np
>>> x = grebe.tensor(np.ones((2, 3), np.float32))
>>> w = grebe.tensor(np.ones((3, 4), np.float32), requires_grad=True)
>>> grebe.ops.dense(x, w, None, "relu").shape
(2, 4)
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import as_input, is_bf16
from grebe.ops.activation import (ACT_CODES, GRAD_FROM_OUTPUT, NativeActivation, Softmax, _f32c,
                                  with_logits)
from grebe.tensor import Tensor

_f32 = np.float32
# The epilogue after the GEMM: an Act code (an elementwise kernel), or a row softmax, which is
# no Act (the row kernels softmax_forward/backward) and is named by a string.
ROW_SOFTMAX, ROW_LOG_SOFTMAX = "softmax", "log_softmax"
_LINEAR, _RELU, _SIGMOID = ACT_CODES["linear"], ACT_CODES["relu"], ACT_CODES["sigmoid"]
FUSED_ACTIVATIONS = dict(ACT_CODES, softmax=ROW_SOFTMAX, log_softmax=ROW_LOG_SOFTMAX)
FUSED_ACTIVATIONS.pop("gelu_tanh")
FUSED_ACTIVATIONS.update(swish=ACT_CODES["silu"])

_sgemm = _C.sgemm


def _gemm(a, b, trans_a=False, trans_b=False, bias=None, relu=False, sgemm=_sgemm):
    """op(a) @ op(b) (+ bias, relu) for 2-D float32 arrays, natively (`sgemm`: _C.sgemm, or
    _C.sgemm_bf16 for bfloat16 operands with float32 sums)."""
    return sgemm(a, b, trans_a, trans_b, 1.0, 0.0, None, bias, relu)


class Dense(Function):
    """x (..., K), kernel (K, N), bias (N,) or None -> act(x @ kernel + bias) (..., N).
    bf16: the three GEMMs (forward, dx, dW) take bfloat16-rounded operands, float32 sums; the
    bias, activation and softmax stay float32."""

    @staticmethod
    def forward(ctx, x, w, b, code, alpha, bf16=False):
        # w and b are C-contiguous float32 (Tensors are; dense() converts anything else).
        if x.dtype != _f32 or not x.flags.c_contiguous:
            x = _f32c(x)
        K, N = w.shape
        x2 = x if x.ndim == 2 else x.reshape(-1, K)
        sgemm = _C.sgemm_bf16 if bf16 else _sgemm
        z = sgemm(x2, w, False, False, 1.0, 0.0, None, b, code == _RELU)
        src = z  # what backward needs: y, or z = x @ W + b for acts whose gradient needs it
        if code == ROW_SOFTMAX or code == ROW_LOG_SOFTMAX:
            y = src = _C.softmax_forward(z, code == ROW_LOG_SOFTMAX, z)
        elif code == _LINEAR or code == _RELU:
            y = z
        elif code in GRAD_FROM_OUTPUT:
            y = src = _C.activation_forward(z, code, alpha, z)  # in place
        else:
            y = _C.activation_forward(z, code, alpha, None)
        ctx.save(x2, w, b is not None, src, code, alpha, x.shape, sgemm)
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (N,))

    @staticmethod
    def backward(ctx, dy):
        x2, w, has_bias, src, code, alpha, xshape, sgemm = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dy = _f32c(dy)
        if dy.ndim != 2:
            dy = dy.reshape(-1, w.shape[1])
        need_b = need_b and has_bias
        if code == _LINEAR and not need_b:
            dz, db = dy, None
        elif code == ROW_SOFTMAX or code == ROW_LOG_SOFTMAX:
            dz = _C.softmax_backward(dy, src, code == ROW_LOG_SOFTMAX, None)
            db = _C.bias_act_backward(dz, None, None, _LINEAR, 0.0, True)[1] if need_b else None
        elif code in GRAD_FROM_OUTPUT:
            dz, db = _C.bias_act_backward(dy, None, src, code, alpha, need_b)
        else:
            dz, db = _C.bias_act_backward(dy, src, None, code, alpha, need_b)
        dx = None
        if need_x:
            dx = _gemm(dz, w, trans_b=True, sgemm=sgemm)
            if len(xshape) != 2:
                dx = dx.reshape(xshape)
        dw = _gemm(x2, dz, trans_a=True, sgemm=sgemm) if need_w else None
        return dx, dw, db


_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


def _weight(w):
    """A kernel or bias that is not a Tensor (a Tensor subclass, a numpy array, a list) as
    something whose data is C-contiguous float32, as the GEMM needs."""
    if isinstance(w, Tensor):
        if w.data.dtype == _f32 and w.data.flags.c_contiguous:
            return w
        return Tensor(np.asarray(w.data, dtype=_f32, order="C"))  # an integer Tensor: no grad
    return np.asarray(w, dtype=_f32, order="C")


def dense(x, kernel, bias=None, activation=None, alpha: float | None = None, *,
          compute_dtype: str = "float32") -> Tensor:
    """act(x @ kernel + bias) applied over the last axis of x (rank >= 1; leading axes are
    kept). activation: None/'linear', 'relu', 'sigmoid', 'tanh', 'gelu', 'silu'/'swish',
    'softmax', 'log_softmax', 'elu', 'selu', 'softplus', 'relu6', 'leaky_relu', 'hard_sigmoid'.
    alpha: leaky_relu's negative slope (default 0.2) or elu's alpha (default 1.0).
    compute_dtype: 'float32', or 'bfloat16' for bfloat16 GEMM operands with float32 sums
    (forward and backward; the output is float32)."""
    bf16 = is_bf16(compute_dtype, "dense")
    if alpha is None:
        alpha = _DEFAULT_ALPHA.get(activation, 0.0) if activation else 0.0
    x = as_input(x)
    if type(kernel) is not Tensor or kernel.data.dtype != _f32:
        kernel = _weight(kernel)
    if bias is not None and (type(bias) is not Tensor or bias.data.dtype != _f32):
        bias = _weight(bias)
    code = FUSED_ACTIVATIONS.get(activation or "linear")
    if code is None:
        raise ValueError(f"dense: activation {activation!r} cannot be fused; known: "
                         f"{sorted(FUSED_ACTIVATIONS)}")
    xs, ks = x.shape, kernel.shape
    if len(ks) != 2:
        raise ValueError(f"dense: kernel must be 2-D (in, out), received shape {ks}")
    if not xs or xs[-1] != ks[0]:
        raise ValueError(f"dense: the last axis of x must match the kernel's input size: x "
                         f"shape {xs}, kernel shape {ks}")
    if bias is not None and bias.shape != (ks[1],):
        raise ValueError(f"dense: bias must have shape ({ks[1]},), received {bias.shape}")
    if code == ROW_SOFTMAX and ks[1] == 1:
        from grebe.ops.activation import warn_if_softmax_is_constant
        warn_if_softmax_is_constant(xs[:-1] + (1,))
    if len(xs) == 1:
        from grebe.ops.shape_ops import reshape
        return reshape(dense(reshape(x, (1, -1)), kernel, bias, activation, alpha,
                             compute_dtype=compute_dtype), (kernel.shape[1],))
    if code == ROW_SOFTMAX:  # the output carries z = x @ kernel + bias as its logits
        z = Dense.apply(x, kernel, bias, _LINEAR, 0.0, bf16)
        return with_logits(Softmax.apply(z, False), z, "softmax")
    if code == _SIGMOID:
        z = Dense.apply(x, kernel, bias, _LINEAR, 0.0, bf16)
        return with_logits(NativeActivation.apply(z, _SIGMOID, 0.0), z, "sigmoid")
    return Dense.apply(x, kernel, bias, code, float(alpha), bf16)
