"""Activation ops vs numpy (float64 finite differences) and PyTorch; softmax stability; the
gradient conventions at kinks; the portable kernels agree with the vector ones."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import grebe
from grebe import _C, ops
from grebe.ops.activation import ACT_CODES
from helpers import check_op

SHAPES = [(7,), (3, 5), (2, 3, 17), ()]
erf = np.vectorize(math.erf)


def _sig(x):
    return 1 / (1 + np.exp(-x))


CASES = {
    "relu": (ops.relu, lambda x: np.maximum(x, 0), F.relu),
    "relu6": (ops.relu6, lambda x: np.clip(x, 0, 6), F.relu6),
    "leaky_relu": (ops.leaky_relu, lambda x: np.where(x >= 0, x, 0.2 * x),
                   lambda x: F.leaky_relu(x, 0.2)),
    "elu": (lambda x: ops.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
            lambda x: F.elu(x, 0.7)),
    "selu": (ops.selu, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(x)), F.selu),
    "sigmoid": (ops.sigmoid, _sig, torch.sigmoid),
    "hard_sigmoid": (ops.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, F.hardsigmoid),
    "tanh": (ops.tanh, np.tanh, torch.tanh),
    "gelu": (lambda x: ops.gelu(x, approximate=False),
             lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))), F.gelu),
    "gelu_tanh": (lambda x: ops.gelu(x, approximate=True),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
                  lambda x: F.gelu(x, approximate="tanh")),
    "silu": (ops.silu, lambda x: x * _sig(x), F.silu),
    "softplus": (ops.softplus, lambda x: np.logaddexp(x, 0), F.softplus),
    "softsign": (ops.softsign, lambda x: x / (1 + np.abs(x)), F.softsign),
    "hard_silu": (ops.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6, F.hardswish),
    "mish": (ops.mish, lambda x: x * np.tanh(np.logaddexp(x, 0)), F.mish),
    "log_sigmoid": (ops.log_sigmoid, lambda x: -np.logaddexp(-x, 0), F.logsigmoid),
    "exponential": (ops.exponential, np.exp, torch.exp),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_activation(name, shape):
    fn, ref, tfn = CASES[name]
    # -7..7 crosses every kink (0, +-3, 6); values within the finite-difference step of a kink
    # are moved off it (the kinks themselves are tested against torch below).
    x = np.random.default_rng(1).uniform(-7, 7, size=shape).astype(np.float32)
    for k in (0.0, -3.0, 3.0, 6.0):
        x = np.where(np.abs(x - k) < 0.01, x + 0.05, x).astype(np.float32)
    check_op(fn, ref, [shape], torch_fn=tfn, inputs=[x])


def test_linear_and_swish_alias():
    x = grebe.tensor([1.0, -2.0])
    assert ops.linear(x) is x
    assert ops.swish is ops.silu


def test_relu_family_gradient_at_kinks_like_torch():
    vals = [0.0, 6.0, -3.0, 3.0, -1.0, 2.0]
    for fn, tfn in [(ops.relu, F.relu), (ops.relu6, F.relu6), (ops.hard_sigmoid, F.hardsigmoid),
                    (ops.leaky_relu, lambda x: F.leaky_relu(x, 0.2))]:
        x = grebe.tensor(vals, requires_grad=True)
        fn(x).sum().backward()
        t = torch.tensor(vals, requires_grad=True)
        tfn(t).sum().backward()
        np.testing.assert_allclose(x.grad, t.grad.numpy(), err_msg=str(fn))


@pytest.mark.parametrize("shape", [(4, 10), (3, 1), (2, 3, 9), (5,)])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_log_softmax(shape, axis):
    def ref_sm(x):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def ref_lsm(x):
        m = x.max(axis=axis, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))

    check_op(lambda x: ops.softmax(x, axis), ref_sm, [shape], low=-3, high=3,
             torch_fn=lambda x: torch.softmax(x, axis))
    check_op(lambda x: ops.log_softmax(x, axis), ref_lsm, [shape], low=-3, high=3,
             torch_fn=lambda x: torch.log_softmax(x, axis))


def test_softmax_over_a_tuple_of_axes():
    def ref(x):
        e = np.exp(x - x.max(axis=(1, 2), keepdims=True))
        return e / e.sum(axis=(1, 2), keepdims=True)
    check_op(lambda x: ops.softmax(x, (1, 2)), ref, [(2, 3, 4)])


def test_softmax_huge_logits_stay_finite():
    x = grebe.tensor([[1e30, 0.0, -1e30], [1000.0, 1000.0, -5.0], [-1e4, -1e4, -1e4]],
                     requires_grad=True)
    y = ops.softmax(x)
    assert np.isfinite(y.numpy()).all()
    np.testing.assert_allclose(y.numpy()[0], [1, 0, 0])
    np.testing.assert_allclose(y.numpy()[1], [0.5, 0.5, 0], atol=1e-7)
    np.testing.assert_allclose(y.numpy()[2], [1 / 3] * 3, rtol=1e-6)
    ly = ops.log_softmax(x)
    assert np.isfinite(ly.numpy()).all()
    t = torch.tensor(x.numpy(), requires_grad=True)
    np.testing.assert_allclose(ly.numpy(), torch.log_softmax(t, -1).detach().numpy(), rtol=1e-6)
    (ly * grebe.tensor(np.arange(9.0).reshape(3, 3))).sum().backward()
    assert np.isfinite(x.grad).all()


def test_activation_of_non_contiguous_and_integer_inputs():
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T - 5
    np.testing.assert_allclose(ops.relu(x).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(ops.sigmoid(np.array([0, 1])).numpy(), _sig(np.array([0, 1])),
                               rtol=1e-6)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "elu",
                                  "selu"])
def test_portable_kernel_matches_vector_kernel(name):
    x = np.random.default_rng(0).uniform(-8, 8, 1003).astype(np.float32)
    x[:50] /= 100  # near 0, where e^x - 1 loses digits unless computed with care
    code = ACT_CODES[name]
    vec = _C.activation_forward(x, code, 0.7, None)
    ref = _C.activation_forward_reference(x, code, 0.7)
    np.testing.assert_allclose(vec, ref, rtol=3e-6, atol=2e-7)


def test_native_binding_errors_are_clear():
    with pytest.raises(TypeError, match="activation_forward: x must be float32"):
        _C.activation_forward(np.ones(3), 1, 0.0, None)
    with pytest.raises(ValueError, match=r"softmax_backward: y must have the shape of dy"):
        _C.softmax_backward(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), False, None)
    with pytest.raises(ValueError, match="unknown activation code 99"):
        _C.activation_forward(np.ones(3, np.float32), 99, 0.0, None)
