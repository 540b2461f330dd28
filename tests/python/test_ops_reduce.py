"""sum, mean, max, min over axes, keepdims; max/min tie convention."""
import numpy as np
import pytest
import torch

import grebe
from grebe import ops
from helpers import check_op

AXES = [None, 0, 1, -1, (0, 2), (1,)]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_mean(axis, keepdims):
    tax = tuple(range(3)) if axis is None else axis
    check_op(lambda x: ops.sum(x, axis, keepdims), lambda x: np.sum(x, axis, keepdims=keepdims),
             [(2, 3, 4)], torch_fn=lambda x: torch.sum(x, tax, keepdim=keepdims))
    check_op(lambda x: ops.mean(x, axis, keepdims), lambda x: np.mean(x, axis, keepdims=keepdims),
             [(2, 3, 4)], torch_fn=lambda x: torch.mean(x, tax, keepdim=keepdims))


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_max_min(axis, keepdims):
    tax = tuple(range(3)) if axis is None else axis
    check_op(lambda x: ops.max(x, axis, keepdims), lambda x: np.max(x, axis, keepdims=keepdims),
             [(2, 3, 4)], torch_fn=lambda x: torch.amax(x, tax, keepdim=keepdims))
    check_op(lambda x: ops.min(x, axis, keepdims), lambda x: np.min(x, axis, keepdims=keepdims),
             [(2, 3, 4)], torch_fn=lambda x: torch.amin(x, tax, keepdim=keepdims))


def test_max_ties_share_gradient_evenly():
    x = grebe.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    t = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    torch.amax(t, 1).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy())


def test_tensor_methods_and_scalar_results():
    x = grebe.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert x.sum().shape == () and x.sum().item() == 15
    assert x.mean(axis=0).shape == (3,)
    assert x.max().item() == 5 and x.min().item() == 0
    assert x.sum(axis=(0, 1), keepdims=True).shape == (1, 1)


def test_axis_errors():
    x = grebe.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="sum: axis 2 is out of range"):
        ops.sum(x, 2)
    with pytest.raises(ValueError, match="mean: repeated axis"):
        ops.mean(x, (0, -2))
    with pytest.raises(ValueError, match="max: cannot reduce an empty input"):
        ops.max(np.zeros((0, 3), np.float32))
