"""Dense (and Activation, Identity): Keras weight shapes and config, the fused op's forward and
gradients vs numpy / torch.nn.functional.linear, rank-3 inputs, errors, regularizers."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import grebe
from grebe import layers, ops
from helpers import check_op, run_layer_test

ACTS = {
    None: (lambda z: z, lambda z: z),
    "relu": (lambda z: np.maximum(z, 0), F.relu),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), torch.sigmoid),
    "tanh": (np.tanh, torch.tanh),
    "gelu": (None, F.gelu),
    "silu": (lambda z: z / (1 + np.exp(-z)), F.silu),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(z)), F.elu),
    "leaky_relu": (lambda z: np.where(z >= 0, z, 0.2 * z), lambda z: F.leaky_relu(z, 0.2)),
    "softplus": (lambda z: np.logaddexp(z, 0), F.softplus),
    "softmax": (lambda z: np.exp(z - np.log(np.exp(z).sum(-1, keepdims=True))),
                lambda z: torch.softmax(z, -1)),
    "log_softmax": (lambda z: z - np.log(np.exp(z).sum(-1, keepdims=True)),
                    lambda z: torch.log_softmax(z, -1)),
}


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("xshape", [(5, 7), (2, 3, 7), (1, 7)])
def test_dense_op_vs_torch_linear(act, xshape):
    ref_act, torch_act = ACTS[act]

    def ref(x, w, b):
        z = x @ w + b
        if act == "gelu":
            return torch.nn.functional.gelu(torch.tensor(z)).numpy()
        return ref_act(z)

    check_op(lambda x, w, b: ops.dense(x, w, b, act), ref, [xshape, (7, 4), (4,)],
             torch_fn=lambda x, w, b: torch_act(F.linear(x, w.T, b)))


def test_dense_op_without_bias_and_frozen_inputs():
    check_op(lambda x, w: ops.dense(x, w, None, "relu"), lambda x, w: np.maximum(x @ w, 0),
             [(6, 5), (5, 3)], torch_fn=lambda x, w: F.relu(x @ w))
    # Only the kernel needs a gradient (the first layer's input never does).
    check_op(lambda x, w, b: ops.dense(x, w, b, "tanh"), lambda x, w, b: np.tanh(x @ w + b),
             [(4, 5), (5, 3), (3,)], grad_inputs=[1, 2])


def test_dense_op_errors_name_shapes():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"dense: .* x shape \(2, 3\), kernel shape \(4, 5\)"):
        ops.dense(x, np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"dense: bias must have shape \(5,\), received \(4,\)"):
        ops.dense(x, np.ones((3, 5), np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="cannot be fused"):
        ops.dense(x, np.ones((3, 5), np.float32), None, "mish")


def test_dense_layer_weights_output_and_gradients_vs_torch():
    grebe.random.seed(0)
    layer = layers.Dense(4, activation="relu")
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    assert layer.kernel.name.endswith("kernel") and layer.bias.name.endswith("bias")
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bias, 0)
    limit = np.sqrt(6 / (3 + 4))
    assert np.abs(kernel).max() <= limit
    # Gradients of a loss vs torch.
    xt = grebe.tensor(x, requires_grad=True)
    (layer(xt) ** 2).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(kernel.T.copy(), requires_grad=True)
    tb = torch.tensor(bias, requires_grad=True)
    (F.relu(F.linear(tx, tw, tb)) ** 2).sum().backward()
    np.testing.assert_allclose(layer.kernel.grad, tw.grad.numpy().T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", [None, "relu", "softmax", "gelu", grebe.ops.mish])
def test_run_layer_test_dense(activation):
    run_layer_test(layers.Dense, {"units": 5, "activation": activation}, (4, 3), (4, 5),
                   expected_weight_shapes=[(3, 5), (5,)], expected_num_trainable_weights=2)


def test_dense_rank3_input_applies_to_last_axis():
    layer = run_layer_test(layers.Dense, {"units": 2, "use_bias": False}, (3, 4, 5), (3, 4, 2),
                           expected_weight_shapes=[(5, 2)])
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), x @ layer.get_weights()[0], rtol=1e-5,
                               atol=1e-6)


def test_activation_and_identity_layers():
    run_layer_test(layers.Activation, {"activation": "tanh"}, (2, 3), (2, 3))
    run_layer_test(layers.Identity, {}, (2, 3), (2, 3))
    x = np.array([[-1.0, 0.5]], np.float32)
    np.testing.assert_allclose(layers.Activation("relu")(x).numpy(), [[0, 0.5]])
    assert layers.Activation("softmax").get_config()["activation"] == "softmax"


def test_config_round_trip_is_keras_shaped():
    layer = layers.Dense(3, activation="tanh", use_bias=False, kernel_initializer="he_normal",
                         kernel_regularizer=grebe.regularizers.L2(0.1), name="d1")
    config = layer.get_config()
    json.dumps(config)
    assert config["units"] == 3 and config["activation"] == "tanh"
    assert config["use_bias"] is False and config["name"] == "d1"
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["kernel_regularizer"]["config"] == {"l2": 0.1}
    clone = layers.Dense.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_regularizer, grebe.regularizers.L2)


def test_validation_errors_like_keras():
    with pytest.raises(ValueError, match=r"Dense: expected a positive integer for units. "
                                         r"Received: units=0"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="units=2.5"):
        layers.Dense(2.5)
    with pytest.raises(ValueError, match="Could not interpret activation"):
        layers.Dense(2, activation="nope")
    with pytest.raises(ValueError, match="Could not interpret initializer"):
        layers.Dense(2, kernel_initializer="nope")
    layer = layers.Dense(2)
    with pytest.raises(ValueError, match="last dimension of the inputs should be defined"):
        layer.build((None, None))
    with pytest.raises(ValueError, match="min_ndim=2"):
        layers.Dense(2)(np.ones(3, np.float32))
    layer = layers.Dense(2)
    layer(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected inputs of shape \(\.\.\., 3\), received "
                                         r"\(1, 4\)"):
        layer(np.ones((1, 4), np.float32))


def test_get_set_weights_shape_errors():
    layer = layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"expected shape \(3, 2\), received \(2, 3\)"):
        layer.set_weights([np.ones((2, 3)), np.ones(2)])
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([np.ones((3, 2))])
    layer.set_weights([np.full((3, 2), 0.5), np.array([1.0, -1.0])])
    np.testing.assert_allclose(layer(np.ones((1, 3), np.float32)).numpy(), [[2.5, 0.5]])
    assert layer.count_params() == 8


def test_trainable_false_gets_no_gradients():
    layer = layers.Dense(2, activation="sigmoid")
    x = grebe.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    layer(x)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer(x).sum().backward()
    assert layer.kernel.grad is None and layer.bias.grad is None
    assert x.grad is not None


def test_regularizer_losses():
    layer = layers.Dense(2, kernel_regularizer="l2", bias_regularizer=grebe.regularizers.L1(0.5),
                         bias_initializer="ones", activity_regularizer=grebe.regularizers.L1(0.1))
    x = np.ones((3, 4), np.float32)
    y = layer(x)
    kernel = layer.get_weights()[0]
    values = [float(t.item()) for t in layer.losses]
    assert len(values) == 3
    # Keras's order: the add_loss values (the activity penalty), then the weight penalties.
    np.testing.assert_allclose(values[0], 0.1 * np.abs(y.numpy()).sum(), rtol=1e-5)
    np.testing.assert_allclose(values[1], 0.01 * (kernel ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(values[2], 0.5 * 2, rtol=1e-6)
    sum(layer.losses[1:]).backward()
    np.testing.assert_allclose(layer.kernel.grad, 0.02 * kernel, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, [0.5, 0.5])


def test_dense_in_no_grad_and_repr_shape():
    layer = layers.Dense(3)
    with grebe.no_grad():
        y = layer(np.ones((2, 4), np.float32))
    assert not y.requires_grad
    assert layer.compute_output_shape((None, 7, 4)) == (None, 7, 3)


def test_dense_op_converts_constant_weights():
    x = np.ones((2, 3))
    expect = np.full((2, 2), 3.0) + [1, 2]
    np.testing.assert_allclose(ops.dense(x, np.ones((2, 3)).T, [1, 2]).numpy(), expect)
    np.testing.assert_allclose(
        ops.dense(x, grebe.tensor(np.ones((3, 2), np.int64)), [1, 2]).numpy(), expect)
    np.testing.assert_allclose(ops.dense(np.ones(3), np.ones((3, 2))).numpy(), [3, 3])
