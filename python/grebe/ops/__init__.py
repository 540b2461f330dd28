"""Differentiable ops. Two layers in one namespace:

- grebe's op library: each op a Function (forward/backward pair) calling grebe._C or numpy,
  one family per module (arithmetic, math, reduce, shape_ops, activation, dense, conv, pool,
  normalization, dropout, loss, rnn), used by the layers;
- Keras 3's `keras.ops` over it: `grebe.ops.numpy`, `grebe.ops.nn`, `grebe.ops.linalg`,
  `grebe.ops.core` and `grebe.ops.image`, all re-exported flat (`grebe.ops.relu`,
  `grebe.ops.take`, `grebe.ops.shape` ...) with Keras's signatures, dtypes and symbolic calls
  (on KerasTensors they record a node of the functional graph).
"""
import importlib as _importlib

import numpy as _np

from grebe.tensor import Tensor as _Tensor
from grebe.tensor import define_operators as _define_operators

from grebe.ops import arithmetic as _ar
from grebe.ops import math as _m
from grebe.ops import reduce as _r
from grebe.ops import shape_ops as _s
from grebe.ops import activation as _a
from grebe.ops.matmul import matmul as _matmul
from grebe.ops.dense import dense  # noqa: F401
from grebe.ops.conv import conv1d, conv2d, conv2d_relu_maxpool  # noqa: F401
from grebe.ops.pool import (avg_pool1d, avg_pool2d, global_avg_pool,  # noqa: F401
                            global_max_pool, max_pool1d, max_pool2d)
from grebe.ops.normalization import batch_norm, layer_norm  # noqa: F401
from grebe.ops.conv_transpose import conv1d_transpose, conv2d_transpose  # noqa: F401
from grebe.ops.depthwise_conv import depthwise_conv1d, depthwise_conv2d  # noqa: F401
from grebe.ops.upsampling import resize_bilinear  # noqa: F401
from grebe.ops.dropout import dropout  # noqa: F401
from grebe.ops.loss import (sigmoid_cross_entropy, softmax_cross_entropy,  # noqa: F401
                            sparse_softmax_cross_entropy)
from grebe.ops.rnn import gru, lstm, simple_rnn  # noqa: F401
from grebe.ops.conv_lstm import conv_lstm  # noqa: F401
from grebe.ops.shape_ops import flatten, getitem, permute  # noqa: F401



def _int_aware(fast, np_fn):
    """A Tensor operator: the native float op, or numpy when both operands are integer or
    boolean (Keras keeps `int_tensor + 1` an integer tensor)."""
    T = _Tensor

    def op(a, b):
        if (a.data.dtype.kind != "f") if type(a) is T else \
                (type(b) is T and b.data.dtype.kind != "f"):
            ra = a.data if type(a) is T else a  # Python scalars stay weakly typed (NEP 50)
            rb = b.data if type(b) is T else b
            if _np.asarray(ra).dtype.kind in "iub" and _np.asarray(rb).dtype.kind in "iub":
                return T._make(_np.asarray(np_fn(ra, rb), order="C"), False, None, 0)
        return fast(a, b)
    op.__name__ = fast.__name__
    return op


# The Tensor operators (+, *, @, .sum(), ...) call the native ops directly, not the Keras
# wrappers; grebe.tensor sits below ops and takes them from here.
_define_operators(
    add=_int_aware(_ar.add, _np.add), subtract=_int_aware(_ar.subtract, _np.subtract),
    multiply=_int_aware(_ar.multiply, _np.multiply), divide=_ar.divide,
    negative=_ar.negative, power=_int_aware(_ar.power, _np.power), matmul=_matmul, abs=_m.abs, getitem=_s.getitem,
    sum=_r.sum, mean=_r.mean, max=_r.max, min=_r.min, reshape=_s.reshape,
    transpose=_s.transpose, exp=_m.exp, log=_m.log, sqrt=_m.sqrt, relu=_a.relu,
    sigmoid=_a.sigmoid, tanh=_a.tanh, softmax=_a.softmax, log_softmax=_a.log_softmax,
    clip=_m.clip)

# ---- Keras 3's keras.ops namespace, loaded on first use (keeps `import grebe` fast) --------
# The submodule attributes whose names are Keras functions (conv, matmul) must not shadow them.
for _name in ("conv", "matmul"):
    globals().pop(_name, None)
_KERAS_MODULES = ("numpy", "nn", "linalg", "core", "signal", "image")
_KERAS_FLAT = ("numpy", "nn", "linalg", "core", "signal", "rearrange_axes")


def _load_keras_namespace() -> None:
    g = globals()
    for mod in _KERAS_FLAT:
        m = _importlib.import_module(f"grebe.ops.{mod}")
        for n in m.__all__:
            g[n] = getattr(m, n)
    g["image"] = _importlib.import_module("grebe.ops.image")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _KERAS_MODULES:
        return _importlib.import_module(f"grebe.ops.{name}")
    if "_keras_loaded" not in globals():
        globals()["_keras_loaded"] = True
        _load_keras_namespace()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module 'grebe.ops' has no attribute '{name}'")


def __dir__():
    _load_keras_namespace()
    return sorted(n for n in globals() if not n.startswith("_"))
