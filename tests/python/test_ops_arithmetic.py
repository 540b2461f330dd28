"""Arithmetic ops: values and gradients vs finite differences and PyTorch, with broadcasting."""
import numpy as np
import pytest
import torch

import grebe
from grebe import ops
from helpers import check_op

SHAPES = [[(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1, 3), (4, 1)], [(5,), ()], [(), (2, 3)]]


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("name,ref,tfn", [
    ("add", lambda a, b: a + b, torch.add),
    ("subtract", lambda a, b: a - b, torch.sub),
    ("multiply", lambda a, b: a * b, torch.mul),
])
def test_binary_ops(name, ref, tfn, shapes):
    check_op(getattr(ops, name), ref, shapes, torch_fn=tfn)


@pytest.mark.parametrize("shapes", SHAPES)
def test_divide(shapes):
    check_op(ops.divide, lambda a, b: a / b, shapes, torch_fn=torch.div, low=0.5, high=2.0)


def test_negative_and_operators():
    check_op(ops.negative, lambda a: -a, [(3, 2)], torch_fn=torch.neg)
    check_op(lambda a, b: 2.0 - a * b / 3.0 + 1.0, lambda a, b: 2.0 - a * b / 3.0 + 1.0,
             [(4, 3), (3,)])
    check_op(lambda a: 1.0 / a, lambda a: 1.0 / a, [(5,)], low=0.5, high=2.0)


@pytest.mark.parametrize("p", [2.0, 3.0, 0.5, -1.5, 0.0, 1.0])
def test_power_scalar_exponent(p):
    check_op(lambda a: a ** p, lambda a: a ** p, [(3, 4)], low=0.5, high=2.0,
             torch_fn=lambda a: a ** p)


def test_power_tensor_exponent_and_rpow():
    check_op(ops.power, np.power, [(3, 4), (4,)], low=0.5, high=2.0, torch_fn=torch.pow)
    check_op(lambda a: 2.0 ** a, lambda a: 2.0 ** a, [(5,)], torch_fn=lambda a: 2.0 ** a)


def test_power_at_zero_base_follows_torch():
    a = grebe.tensor([0.0, 0.0, 2.0], requires_grad=True)
    b = grebe.tensor([2.0, 0.0, 3.0], requires_grad=True)
    ops.power(a, b).sum().backward()
    ta = torch.tensor([0.0, 0.0, 2.0], requires_grad=True)
    tb = torch.tensor([2.0, 0.0, 3.0], requires_grad=True)
    torch.pow(ta, tb).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy())
    np.testing.assert_allclose(b.grad, tb.grad.numpy())


def test_constants_mix_with_tensors_and_results_are_float32():
    x = grebe.tensor([1.0, 2.0], requires_grad=True)
    y = ops.add(x, np.array([1, 2]))  # integer constant
    assert y.dtype == np.float32 and y.requires_grad
    assert ops.multiply(3, x).dtype == np.float32
    assert (x + 1).dtype == np.float32


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power"])
def test_broadcast_errors_name_op_and_shapes(name):
    a = grebe.tensor(np.ones((3, 4), np.float32))
    b = grebe.tensor(np.ones((5,), np.float32))
    with pytest.raises(ValueError, match=rf"{name}: shapes \(3, 4\) and \(5,\) cannot be "
                                         rf"broadcast"):
        getattr(ops, name)(a, b)
