"""The autograd core: graph walk order, accumulation, no_grad, retain_graph, multi-output."""
import numpy as np
import pytest

import grebe
from grebe.autograd import Function
from helpers import check_op


def test_diamond_graph_accumulates_both_paths():
    # y = (x*x) + (x*3): both branches flow back into x.
    x = grebe.tensor([1.0, -2.0, 3.0], requires_grad=True)
    a = x * x
    b = x * 3.0
    (a + b).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.numpy() + 3)


def test_gradients_accumulate_across_backward_calls():
    x = grebe.tensor([2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [8.0])


def test_graph_is_freed_unless_retained():
    x = grebe.tensor([2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * x.numpy())


def test_no_grad_records_nothing():
    x = grebe.tensor([1.0], requires_grad=True)
    with grebe.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_backward_needs_scalar_or_grad():
    x = grebe.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward(np.ones(3))


def test_detach_cuts_the_graph():
    x = grebe.tensor([3.0], requires_grad=True)
    y = (x * x).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [9.0])


class _SplitHalves(Function):
    @staticmethod
    def forward(ctx, x):
        n = x.shape[0] // 2
        return x[:n].copy(), x[n:].copy()

    @staticmethod
    def backward(ctx, da, db):
        return np.concatenate([da, db])


def test_multi_output_function_with_one_output_unused():
    x = grebe.tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    a, b = _SplitHalves.apply(x)
    (a * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, [2, 2, 0, 0])


def test_broadcast_gradients_reduce_to_input_shapes():
    check_op(lambda a, b: a * b + a, lambda a, b: a * b + a, [(3, 4), (4,)])
    check_op(lambda a, b: a / b - b, lambda a, b: a / b - b, [(2, 1, 3), (4, 1)], low=0.5,
             high=2.0)


def test_integer_tensors_keep_dtype_and_cannot_require_grad():
    labels = grebe.tensor(np.array([1, 2, 3]))
    assert labels.dtype == np.int64
    with pytest.raises(TypeError, match="float32"):
        grebe.tensor(np.array([1, 2]), requires_grad=True)
    assert grebe.tensor([1.5], dtype=None).dtype == np.float32


def test_array_protocol_and_repr():
    t = grebe.tensor([[1.0, 2.0]], requires_grad=True)
    assert np.asarray(t).dtype == np.float32
    assert "requires_grad=True" in repr(t)


def test_fresh_leaf_gradient_is_adopted_but_shared_ones_are_copied():
    # Add passes dy through to both inputs: the two leaves must not share one .grad array.
    a = grebe.tensor([1.0, 2.0], requires_grad=True)
    b = grebe.tensor([3.0, 4.0], requires_grad=True)
    (a + b).backward(np.ones(2, np.float32))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1  # in-place on one leaf's grad leaves the other alone
    np.testing.assert_array_equal(b.grad, [1, 1])
    # The user's upstream array is never adopted.
    up = np.ones(2, np.float32)
    x = grebe.tensor([1.0, 2.0], requires_grad=True)
    (x + 0.0).backward(up)
    assert not np.shares_memory(x.grad, up)
    # A gradient an op also keeps in its context is copied.
    class _KeepsGrad(Function):
        @staticmethod
        def forward(ctx, v):
            return v * 2

        @staticmethod
        def backward(ctx, dy):
            ctx.kept = dy * 2
            return ctx.kept

    w = grebe.tensor([1.0, 1.0], requires_grad=True)
    out = _KeepsGrad.apply(w)
    out.backward(np.ones(2, np.float32))
    ctx_grad = out._ctx.kept
    assert not np.shares_memory(w.grad, ctx_grad)
    # Second accumulation adds in place.
    w2 = grebe.tensor([1.0, 1.0], requires_grad=True)
    (w2 * 3.0).sum().backward()
    (w2 * 3.0).sum().backward()
    np.testing.assert_array_equal(w2.grad, [6, 6])
