"""exp, log, sqrt, abs, square, maximum, minimum, clip: values and gradients."""
import numpy as np
import pytest
import torch

import grebe
from grebe import ops
from helpers import check_op


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), ()])
def test_unary(shape):
    check_op(ops.exp, np.exp, [shape], torch_fn=torch.exp)
    check_op(ops.log, np.log, [shape], low=0.2, high=3.0, torch_fn=torch.log)
    check_op(ops.sqrt, np.sqrt, [shape], low=0.2, high=3.0, torch_fn=torch.sqrt)
    check_op(ops.abs, np.abs, [shape], torch_fn=torch.abs)
    check_op(ops.square, np.square, [shape], torch_fn=torch.square)


def test_abs_gradient_at_zero_is_zero():
    x = grebe.tensor([0.0, -1.0, 2.0], requires_grad=True)
    abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, -1.0, 1.0])


@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1), (1, 3)]])
def test_maximum_minimum(shapes):
    check_op(ops.maximum, np.maximum, shapes, torch_fn=torch.maximum)
    check_op(ops.minimum, np.minimum, shapes, torch_fn=torch.minimum)


def test_maximum_ties_split_gradient_like_torch():
    a = grebe.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = grebe.tensor([1.0, 5.0, 0.0], requires_grad=True)
    ops.maximum(a, b).sum().backward()
    ta = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tb = torch.tensor([1.0, 5.0, 0.0], requires_grad=True)
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(a.grad, ta.grad.numpy())
    np.testing.assert_array_equal(b.grad, tb.grad.numpy())
    assert a.grad[0] == 0.5


def test_clip():
    check_op(lambda x: ops.clip(x, -0.5, 0.3), lambda x: np.clip(x, -0.5, 0.3), [(4, 5)],
             torch_fn=lambda x: torch.clamp(x, -0.5, 0.3))
    check_op(lambda x: x.clip(None, 0.2), lambda x: np.minimum(x, 0.2), [(6,)])
    # The bounds themselves pass the gradient (as torch.clamp).
    x = grebe.tensor([-1.0, 0.0, 1.0, 2.0], requires_grad=True)
    ops.clip(x, 0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 0])
    with pytest.raises(ValueError, match="clip"):
        ops.clip(x, 2.0, 1.0)


def test_maximum_error_names_shapes():
    with pytest.raises(ValueError, match=r"maximum: shapes \(2, 3\) and \(4,\)"):
        ops.maximum(np.ones((2, 3)), grebe.tensor(np.ones(4)))
