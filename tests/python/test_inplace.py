"""In-place writes between forward and backward never make `.grad` silently wrong: every array an
autograd graph saved for backward is read-only while that graph is alive, so a raw numpy write
(the user's array, `t.data`, `layer.kernel.data`) fails at once; grebe's own writes (`assign`,
`set_weights`, `load_weights`, an optimizer step) go through, and that graph's backward raises a
RuntimeError naming the weight (PyTorch's version-counter rule). After backward (or once the
graph is dropped) the arrays are writable again, and gradients match a numpy reference."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import grebe
from grebe import layers


def _setup():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    x = grebe.tensor(a, requires_grad=True)
    layer = layers.Dense(2)
    layer.build((None, 3))
    return a, x, layer


def _reference_grads(a, kernel, bias):
    # loss = sum((a @ k + b)^2): d/da = 2 (a k + b) k^T, d/dk = a^T 2 (a k + b)
    y = a.astype(np.float64) @ kernel + bias
    return 2 * y @ kernel.T, a.T.astype(np.float64) @ (2 * y)


def _loss(layer, x):
    y = layer(x)
    return (y * y).sum()


def _check_grads_after_backward(a, x, layer, loss):
    kernel = layer.kernel.numpy().astype(np.float64)
    bias = layer.bias.numpy().astype(np.float64)
    loss.backward()
    da, dk = _reference_grads(a, kernel, bias)
    np.testing.assert_allclose(x.grad, da, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.kernel.grad, dk, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("write", [
    "user_array", "tensor_data", "kernel_data"])
def test_raw_numpy_writes_fail_while_the_graph_is_alive(write):
    a, x, layer = _setup()
    loss = _loss(layer, x)
    target = {"user_array": a, "tensor_data": x.data, "kernel_data": layer.kernel.data}[write]
    before = target.copy()
    with pytest.raises(ValueError, match="read-only"):
        target[0, 0] = 123.0
    np.testing.assert_array_equal(target, before)
    _check_grads_after_backward(a, x, layer, loss)
    target[0, 0] = 5.0  # writable again once backward has used it
    assert target[0, 0] == 5.0


@pytest.mark.parametrize("write", ["assign", "set_weights", "optimizer", "load_weights"])
def test_grebe_writes_go_through_and_backward_then_raises(write, tmp_path):
    a, x, layer = _setup()
    new = [w + 1.0 for w in layer.get_weights()]
    path = tmp_path / "w.weights.grebe"
    model = grebe.Sequential([layer])
    model.save_weights(str(path))
    new_file = [w.copy() for w in layer.get_weights()]
    layer.set_weights(new)  # so that load_weights changes them back
    actions = {
        "assign": lambda: layer.kernel.assign(np.zeros((3, 2), np.float32)),
        "set_weights": lambda: layer.set_weights(new_file),
        "optimizer": lambda: grebe.optimizers.SGD(0.1).apply(
            [np.ones((3, 2), np.float32)], [layer.kernel]),
        "load_weights": lambda: model.load_weights(str(path)),
    }
    loss = _loss(layer, x)
    before = layer.kernel.numpy().copy()
    actions[write]()
    assert not np.array_equal(layer.kernel.numpy(), before)  # the write happened
    assert not layer.kernel.data.flags.writeable  # and the graph still holds the kernel
    with pytest.raises(RuntimeError, match=r"backward: .*kernel.* was written in place after "
                                           r"the forward"):
        loss.backward()
    # A fresh forward after the write is fine.
    x.grad = None
    _check_grads_after_backward(a, x, layer, _loss(layer, x))


def test_the_binding_refuses_arrays_read_only_for_other_reasons():
    w = grebe.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    w.data.flags.writeable = False
    with pytest.raises(RuntimeError, match="read-only"):
        w.assign(np.zeros((2, 2), np.float32))
    with pytest.raises(RuntimeError, match="read-only"):
        grebe.optimizers.SGD(0.1).apply([np.ones((2, 2), np.float32)], [w])


def test_saved_outputs_are_protected_too():
    x = grebe.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp's backward uses its output
    with pytest.raises(ValueError, match="read-only"):
        y.data[0] = 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.exp(x.numpy()), rtol=1e-6)


def test_dropping_the_graph_without_backward_releases_the_arrays():
    a, x, layer = _setup()
    loss = _loss(layer, x)
    assert not a.flags.writeable and not layer.kernel.data.flags.writeable
    del loss
    gc.collect()
    assert a.flags.writeable and layer.kernel.data.flags.writeable
    layer.kernel.assign(np.zeros((3, 2), np.float32))


def test_retain_graph_keeps_the_arrays_protected_until_the_last_backward():
    a, x, layer = _setup()
    loss = _loss(layer, x)
    loss.backward(retain_graph=True)
    with pytest.raises(ValueError, match="read-only"):
        a[0, 0] = 1.0
    loss.backward()
    a[0, 0] = 1.0


def test_two_graphs_share_a_weight_until_both_are_done():
    a, x, layer = _setup()
    loss1, loss2 = _loss(layer, x), _loss(layer, x)
    loss1.backward()
    with pytest.raises(ValueError, match="read-only"):
        layer.kernel.data[0, 0] = 0.0
    loss2.backward()
    layer.kernel.data[0, 0] = 0.0


def test_arrays_read_only_from_the_start_stay_read_only():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    a.flags.writeable = False
    x = grebe.tensor(a, requires_grad=True)
    (x * x).sum().backward()
    assert not a.flags.writeable
    np.testing.assert_allclose(x.grad, 2 * a)


def test_no_grad_and_predict_hold_nothing():
    a, x, layer = _setup()
    with grebe.no_grad():
        y = layer(x)
    a[0, 0] = 1.0
    layer.kernel.assign(np.zeros((3, 2), np.float32))
    assert y.shape == (4, 2)
