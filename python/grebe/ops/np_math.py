"""keras.ops elementwise math: arithmetic with Keras's dtypes, unary functions with their
derivatives, comparisons, logical and bitwise ops (see grebe.ops._keras for the builders).

>>> from grebe import ops
>>> ops.add([1, 2], [3, 4]).dtype, ops.add([1, 2], [0.5, 1]).dtype
(dtype('int32'), dtype('float32'))
"""
from __future__ import annotations

import math as _math

import numpy as np

from grebe.ops import arithmetic as _ar
from grebe.ops import math as _m
from grebe.ops._keras import (binary, fl, is_float, keras_op, needs_grad, out, raw, unary,
                              val)

_f32 = np.float32
_LN2 = np.log(2.0)
_LN10 = np.log(10.0)


def _fast_or_numpy(name, fast, npf):
    """Arithmetic: the native op for floats, numpy (integer dtypes kept) otherwise."""
    def op(x1, x2):
        a, b = val(x1), val(x2)
        if is_float(a) or is_float(b):
            return fast(fl(a), fl(b))
        return out(npf(raw(a), raw(b)))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Keras's ops.{name}: broadcasting; integer inputs keep an integer result."
    return keras_op(op)


add = _fast_or_numpy("add", _ar.add, np.add)
subtract = _fast_or_numpy("subtract", _ar.subtract, np.subtract)
multiply = _fast_or_numpy("multiply", _ar.multiply, np.multiply)
maximum = _fast_or_numpy("maximum", _m.maximum, np.maximum)
minimum = _fast_or_numpy("minimum", _m.minimum, np.minimum)


@keras_op
def divide(x1, x2):
    """x1 / x2, always a float result (Keras's true division)."""
    return _ar.divide(fl(x1), fl(x2))


true_divide = divide


@keras_op
def power(x1, x2):
    a, b = val(x1), val(x2)
    if is_float(a) or is_float(b):
        return _ar.power(fl(a), fl(b))
    return out(np.power(raw(a), raw(b)))


@keras_op
def negative(x):
    v = val(x)
    return _ar.negative(v) if is_float(v) else out(-raw(v))


@keras_op
def abs(x):  # noqa: A001
    v = val(x)
    return _m.abs(v) if is_float(v) else out(np.abs(raw(v)))


absolute = abs


@keras_op
def square(x):
    v = val(x)
    return _m.square(v) if is_float(v) else out(np.square(raw(v)))


@keras_op
def sqrt(x):
    return _m.sqrt(fl(x))


@keras_op
def exp(x):
    return _m.exp(fl(x))


@keras_op
def log(x):
    return _m.log(fl(x))


@keras_op
def clip(x, x_min, x_max):
    v = val(x)
    if is_float(v):
        return _m.clip(v, x_min, x_max)
    return out(np.clip(raw(v), x_min, x_max))


@keras_op
def divide_no_nan(x1, x2):
    """x1 / x2, and 0 where x2 == 0 (no gradient through those elements)."""
    a, b = fl(x1), fl(x2)
    zero = np.broadcast_to(raw(b) == 0, np.broadcast_shapes(np.shape(raw(a)), np.shape(raw(b))))
    q = _ar.divide(a, _where_const(zero, 1.0, b))
    return _where_const(zero, 0.0, q)


def _where_const(cond, const, x):
    from grebe.ops.shape_ops import where
    return where(cond, np.asarray(const, _f32), x)


def _zero(x, y, dy):
    return np.zeros_like(x, dtype=_f32)


# Unary functions with derivatives df(x, y, dy).
sin = unary("sin", np.sin, lambda x, y, dy: dy * np.cos(x))
cos = unary("cos", np.cos, lambda x, y, dy: -dy * np.sin(x))
tan = unary("tan", np.tan, lambda x, y, dy: dy * (1 + y * y))
arcsin = unary("arcsin", np.arcsin, lambda x, y, dy: dy / np.sqrt(1 - x * x))
arccos = unary("arccos", np.arccos, lambda x, y, dy: -dy / np.sqrt(1 - x * x))
arctan = unary("arctan", np.arctan, lambda x, y, dy: dy / (1 + x * x))
sinh = unary("sinh", np.sinh, lambda x, y, dy: dy * np.cosh(x))
cosh = unary("cosh", np.cosh, lambda x, y, dy: dy * np.sinh(x))
tanh = unary("tanh", np.tanh, lambda x, y, dy: dy * (1 - y * y))
arcsinh = unary("arcsinh", np.arcsinh, lambda x, y, dy: dy / np.sqrt(x * x + 1))
arccosh = unary("arccosh", np.arccosh, lambda x, y, dy: dy / np.sqrt(x * x - 1))
arctanh = unary("arctanh", np.arctanh, lambda x, y, dy: dy / (1 - x * x))
exp2 = unary("exp2", np.exp2, lambda x, y, dy: dy * y * _LN2)
expm1 = unary("expm1", np.expm1, lambda x, y, dy: dy * (y + 1))
log1p = unary("log1p", np.log1p, lambda x, y, dy: dy / (1 + x))
log2 = unary("log2", np.log2, lambda x, y, dy: dy / (x * _LN2))
log10 = unary("log10", np.log10, lambda x, y, dy: dy / (x * _LN10))
reciprocal = unary("reciprocal", lambda x: 1 / x, lambda x, y, dy: -dy * y * y)
rsqrt = unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda x, y, dy: -0.5 * dy * y * y * y)
cbrt = unary("cbrt", np.cbrt, lambda x, y, dy: dy / (3 * np.maximum(y * y, 1e-30)))
deg2rad = unary("deg2rad", np.deg2rad, lambda x, y, dy: dy * (np.pi / 180))
rad2deg = unary("rad2deg", np.rad2deg, lambda x, y, dy: dy * (180 / np.pi))
sinc = unary("sinc", np.sinc, lambda x, y, dy: dy * np.where(
    x == 0, 0, (np.cos(np.pi * x) - y) / np.where(x == 0, 1, x)))
fabs = unary("fabs", np.fabs, lambda x, y, dy: dy * np.sign(x))
_erf = np.vectorize(_math.erf, otypes=[np.float64])
erf = unary("erf", _erf, lambda x, y, dy: dy * (2 / np.sqrt(np.pi)) * np.exp(-x * x))
erfc = unary("erfc", np.vectorize(_math.erfc, otypes=[np.float64]),
             lambda x, y, dy: -dy * (2 / np.sqrt(np.pi)) * np.exp(-x * x))


def _erfinv(y):
    """Inverse of erf: Giles's single-precision approximation, refined by two Newton steps."""
    y = np.asarray(y, np.float64)
    w = -np.log(np.maximum((1 - y) * (1 + y), 1e-300))
    small = w < 5
    ws = w - 2.5
    wl = np.sqrt(np.maximum(w, 0)) - 3
    ps = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
          -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]
    pl = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
          -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]
    p = np.where(small, ps[0], pl[0])
    for cs, cl in zip(ps[1:], pl[1:]):
        p = np.where(small, cs, cl) + p * np.where(small, ws, wl)
    x = p * y
    for _ in range(2):
        x = x - (_erf(x) - y) / ((2 / np.sqrt(np.pi)) * np.exp(-x * x))
    return np.where(np.abs(y) == 1, np.sign(y) * np.inf, x)


erfinv = unary("erfinv", _erfinv, lambda x, y, dy: dy * (np.sqrt(np.pi) / 2) * np.exp(y * y))
i0 = unary("i0", np.i0, None)

# Piecewise-constant: zero gradient, as Keras's backends give.
sign = unary("sign", np.sign, _zero, float_out=False)
floor = unary("floor", np.floor, _zero)
ceil = unary("ceil", np.ceil, _zero)
trunc = unary("trunc", np.trunc, _zero, float_out=False)
signbit = unary("signbit", np.signbit, None, float_out=False)


@keras_op
def round(x, decimals=0):  # noqa: A001
    v = val(x)
    if needs_grad(v):
        return unary("round", lambda a: np.round(a, decimals), _zero)(v)
    return out(np.round(raw(v), decimals))


# Binary functions with partial derivatives (a, b, y, dy).
arctan2 = binary("arctan2", np.arctan2,
                 lambda a, b, y, dy: dy * b / (a * a + b * b),
                 lambda a, b, y, dy: -dy * a / (a * a + b * b), float_out=True)
hypot = binary("hypot", np.hypot, lambda a, b, y, dy: dy * a / y,
               lambda a, b, y, dy: dy * b / y, float_out=True)
logaddexp = binary("logaddexp", np.logaddexp, lambda a, b, y, dy: dy * np.exp(a - y),
                   lambda a, b, y, dy: dy * np.exp(b - y), float_out=True)
logaddexp2 = binary("logaddexp2", np.logaddexp2, lambda a, b, y, dy: dy * np.exp2(a - y),
                    lambda a, b, y, dy: dy * np.exp2(b - y), float_out=True)
fmax = binary("fmax", np.fmax, lambda a, b, y, dy: dy * (a >= b), lambda a, b, y, dy: dy * (b > a))
fmin = binary("fmin", np.fmin, lambda a, b, y, dy: dy * (a <= b), lambda a, b, y, dy: dy * (b < a))
mod = binary("mod", np.mod, lambda a, b, y, dy: dy,
             lambda a, b, y, dy: -dy * np.floor_divide(a, b))
fmod = binary("fmod", np.fmod, lambda a, b, y, dy: dy, lambda a, b, y, dy: -dy * np.trunc(a / b))
floor_divide = binary("floor_divide", np.floor_divide)
heaviside = binary("heaviside", np.heaviside, float_out=True)
nextafter = binary("nextafter", np.nextafter, float_out=True)
ldexp = binary("ldexp", lambda a, b: a * np.exp2(b))
gcd = binary("gcd", np.gcd)
lcm = binary("lcm", np.lcm)

# Comparisons and logic: boolean results, no gradient.
equal = binary("equal", np.equal)
not_equal = binary("not_equal", np.not_equal)
greater = binary("greater", np.greater)
greater_equal = binary("greater_equal", np.greater_equal)
less = binary("less", np.less)
less_equal = binary("less_equal", np.less_equal)
logical_and = binary("logical_and", np.logical_and)
logical_or = binary("logical_or", np.logical_or)
logical_xor = binary("logical_xor", np.logical_xor)
logical_not = unary("logical_not", np.logical_not, float_out=False)
isfinite = unary("isfinite", np.isfinite, float_out=False)
isinf = unary("isinf", np.isinf, float_out=False)
isnan = unary("isnan", np.isnan, float_out=False)
isneginf = unary("isneginf", np.isneginf, float_out=False)
isposinf = unary("isposinf", np.isposinf, float_out=False)
isreal = unary("isreal", np.isreal, float_out=False)
bitwise_and = binary("bitwise_and", np.bitwise_and)
bitwise_or = binary("bitwise_or", np.bitwise_or)
bitwise_xor = binary("bitwise_xor", np.bitwise_xor)
bitwise_not = unary("bitwise_not", np.invert, float_out=False)
bitwise_invert = unary("bitwise_invert", np.invert, float_out=False)
bitwise_left_shift = binary("bitwise_left_shift", np.left_shift)
bitwise_right_shift = binary("bitwise_right_shift", np.right_shift)
left_shift = binary("left_shift", np.left_shift)
right_shift = binary("right_shift", np.right_shift)


@keras_op
def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return out(np.isclose(raw(x1), raw(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


@keras_op
def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return out(np.allclose(raw(x1), raw(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


@keras_op
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    v = val(x)
    if needs_grad(v):
        a = raw(v)
        keep = np.isfinite(a)
        fill = np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)
        from grebe.ops.shape_ops import where
        return where(keep, v, fill)
    return out(np.nan_to_num(raw(v), nan=nan, posinf=posinf, neginf=neginf))


# Complex numbers are outside grebe: real inputs behave as numpy's.
@keras_op
def real(x):
    v = val(x)
    return v if needs_grad(v) else out(np.real(raw(v)))


@keras_op
def imag(x):
    return out(np.zeros_like(raw(x)))


@keras_op
def conj(x):
    v = val(x)
    return v if needs_grad(v) else out(raw(v))


conjugate = conj


@keras_op
def angle(x):
    return out(np.angle(raw(x)).astype(_f32))


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "annotations", "binary", "fl", "is_float", "keras_op", "needs_grad", "out", "raw", "unary",
    "val", "np")]
