"""Keras 3's layer protocol: Variables (assign*, value, path), add_loss / losses, masks that
compute_mask returns (lists included) and symbolic `_keras_mask`, foreign tensors refused,
zero_grad. References: plain numpy arithmetic and PyTorch's autograd."""
import numpy as np
import pytest
import torch

import grebe
from grebe import layers
from grebe.variables import Variable


def test_variable_assign_family_and_arithmetic():
    v = Variable(np.array([1.0, 2.0, 3.0]), name="v")
    ref = np.array([1.0, 2.0, 3.0], np.float32)
    v.assign_add([1.0, 1.0, 1.0]); ref += 1
    v.assign_sub(np.array([0.5, 0.0, 2.0])); ref -= [0.5, 0.0, 2.0]
    np.testing.assert_array_equal(v.numpy(), ref)
    before = v.numpy()
    v.assign([7.0, 8.0, 9.0])
    np.testing.assert_array_equal(before, ref)  # numpy() is a copy, as in Keras
    np.testing.assert_array_equal((v * 2 + 1).numpy(), [15.0, 17.0, 19.0])
    assert v.value is v
    with pytest.raises(ValueError, match=r"expected shape \(3,\), received \(2,\)"):
        v.assign([1.0, 2.0])
    with pytest.raises(ValueError, match="assign_add"):
        v.assign_add(np.ones((2, 2)))


def test_variable_from_initializer_and_int_dtype():
    v = Variable("ones", shape=(2, 3), name="w")
    np.testing.assert_array_equal(v.numpy(), np.ones((2, 3)))
    c = Variable(0, dtype="int64", name="count")
    c.assign_add(3)
    assert c.numpy() == 3 and not c.trainable and c.dtype == np.int64
    with pytest.raises(ValueError, match="needs shape"):
        Variable("zeros")


def test_add_weight_keras_signature_makes_variables_with_path():
    class Lin(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 2), initializer="ones", name="kernel")
            self.t = self.add_weight(shape=(2,), initializer="zeros", trainable=False)

        def call(self, x):
            self.t.assign_add(grebe.ops.sum(x @ self.w, axis=0))
            return x @ self.w

    layer = Lin(name="lin")
    layer(np.ones((3, 4), np.float32))
    assert isinstance(layer.w, Variable) and layer.w.path == "lin/kernel"
    assert layer.w.name == "kernel"
    assert layer.trainable_weights == [layer.w] and layer.non_trainable_weights == [layer.t]
    np.testing.assert_array_equal(layer.t.numpy(), [12.0, 12.0])


def test_value_grad_matches_torch_and_zero_grad():
    model = grebe.Sequential([grebe.Input((3,)), layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    out = model(x)
    (out * out).sum().backward()
    k, b = model.trainable_weights
    tk = torch.tensor(k.numpy(), requires_grad=True)
    tb = torch.tensor(b.numpy(), requires_grad=True)
    ((torch.tensor(x) @ tk + tb) ** 2).sum().backward()
    np.testing.assert_allclose(k.value.grad, tk.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.value.grad, tb.grad.numpy(), rtol=1e-5, atol=1e-6)
    model.zero_grad()
    assert k.grad is None and b.grad is None


class _ActReg(layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, x):
        self.add_loss(self.rate * grebe.ops.sum(x))
        return x


def test_add_loss_is_reset_each_top_level_call_and_collected_recursively():
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = _ActReg(0.5)
            self.dense = layers.Dense(2, kernel_regularizer=grebe.regularizers.L2(1e-3))

        def call(self, x):
            return self.dense(self.inner(x))

    layer = Outer()
    assert layer.losses == []
    layer(np.ones((2, 3), np.float32))
    layer(np.full((2, 3), 2.0, np.float32))
    losses = layer.losses
    assert len(losses) == 2  # the add_loss of the last call + the kernel regularizer
    np.testing.assert_allclose(float(losses[0].data), 0.5 * 12.0)
    kernel = layer.dense.kernel.numpy()
    np.testing.assert_allclose(float(losses[1].data), 1e-3 * np.sum(kernel ** 2), rtol=1e-5)


def test_fit_adds_add_loss_to_the_compiled_loss_and_trains_without_one():
    inputs = grebe.Input((3,))
    outputs = _ActReg(0.1)(layers.Dense(3, kernel_initializer="ones")(inputs))
    model = grebe.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), np.float32)
    y = np.zeros((4, 3), np.float32)
    logs = model.test_on_batch(x, y, return_dict=True)
    pred = x @ np.ones((3, 3))
    assert logs["loss"] == pytest.approx(np.mean(pred ** 2) + 0.1 * pred.sum(), rel=1e-5)
    model.compile(optimizer="sgd")  # no loss: the add_loss term alone
    first = model.train_on_batch(x, y)
    second = model.train_on_batch(x, y)
    assert second < first


def test_compute_mask_list_and_symbolic_keras_mask():
    class Split(layers.Layer):
        def call(self, x):
            return [x[:, :2], x[:, 2:]]

        def compute_mask(self, x, mask=None):
            return None if mask is None else [mask[:, :2], mask[:, 2:]]

    tokens = np.array([[1, 2, 0, 0], [3, 0, 0, 4]])
    emb = layers.Embedding(10, 3, mask_zero=True)(tokens)
    a, b = Split()(emb)
    np.testing.assert_array_equal(np.asarray(a._keras_mask), tokens[:, :2] != 0)
    np.testing.assert_array_equal(np.asarray(b._keras_mask), tokens[:, 2:] != 0)

    class Act(layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True

        def call(self, x):
            return grebe.ops.relu(x)

    inp = grebe.Input((None,), dtype="int32")
    x = layers.Embedding(10, 3, mask_zero=True)(inp)
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    assert Act()(x)._keras_mask.shape == (None, None)
    assert layers.Dense(2)(grebe.Input((4,)))._keras_mask is None


def test_foreign_tensor_from_call_raises_naming_layer_and_type():
    class TorchLayer(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 2))

        def call(self, x):
            return torch.tensor(np.asarray(x)) @ torch.tensor(self.w.numpy())

    with pytest.raises(TypeError, match=r"'torch_layer' \(TorchLayer\).*torch\.Tensor"):
        TorchLayer()(np.ones((2, 3), np.float32))

    class NumpyLayer(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 2))

        def call(self, x):
            return np.tanh(x @ self.w)

    with pytest.raises(TypeError, match="numpy array, so no gradient reaches"):
        NumpyLayer()(np.ones((2, 3), np.float32))
    with grebe.no_grad():  # inference: nothing to cut
        NumpyLayer()(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="add_loss gave a torch.Tensor"):
        _ActReg().add_loss(torch.ones(()))


def test_foreign_or_numpy_loss_value_raises_naming_the_loss():
    def torch_loss(y_true, y_pred):
        return torch.tensor(np.asarray(y_pred)).mean()

    def numpy_loss(y_true, y_pred):
        return np.mean(np.square(np.asarray(y_pred) - y_true), axis=-1)

    model = grebe.Sequential([grebe.Input((2,)), layers.Dense(1)])
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    model.compile(optimizer="sgd", loss=torch_loss)
    with pytest.raises(TypeError, match=r"Loss 'torch_loss' returned a torch\.Tensor"):
        model.train_on_batch(x, y)
    model.compile(optimizer="sgd", loss=numpy_loss)
    with pytest.raises(TypeError, match="Loss 'numpy_loss' returned a numpy array"):
        model.train_on_batch(x, y)
    assert np.isfinite(model.evaluate(x, y, verbose=0))  # no gradient needed: allowed


def test_tensor_equality_is_elementwise_and_truth_follows_numpy():
    a = grebe.tensor(np.array([[1], [2]]))
    b = grebe.tensor(np.array([[1], [3]]))
    np.testing.assert_array_equal((a == b).numpy(), [[True], [False]])
    np.testing.assert_array_equal((a != np.array([[1], [3]])).numpy(), [[False], [True]])
    assert bool(grebe.tensor([2.0]) == 2.0)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a == b)
    assert (a == None) is False and a in [a]  # noqa: E711  identity still works
