"""Batch and layer normalization: the ops' values and gradients against float64 numpy (finite
differences) and PyTorch; BatchNormalization in training and inference against torch and the
Keras moving-average formula; frozen (trainable=False) behaviour; LayerNormalization."""
import numpy as np
import pytest

import grebe
from grebe import layers, ops
from helpers import check_op, run_layer_test, torch_or_none

torch = torch_or_none()
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
EPS = 1e-3


def np_bn_train(x, gamma, beta, axis=-1, eps=EPS):
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


def np_bn_infer(x, mean, var, beta, gamma, eps=EPS):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def torch_bn_train(x, g, b):
    """torch's functional batch norm on the channels-first view of a channels-last tensor."""
    perm = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
    inv = (0,) + tuple(range(2, x.ndim)) + (1,)
    y = torch.nn.functional.batch_norm(x.permute(perm), None, None, g, b, training=True,
                                       eps=EPS)
    return y.permute(inv)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5), (3, 5, 2)])
def test_batch_norm_op_gradients_and_torch(shape):
    c = shape[-1]
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(shape).astype(np.float32) * 2 + 1,
              rng.uniform(0.5, 1.5, c).astype(np.float32),
              rng.standard_normal(c).astype(np.float32)]
    check_op(lambda x, g, b: ops.batch_norm(x, g, b), np_bn_train, [], inputs=inputs,
             torch_fn=torch_bn_train if torch else None, rtol=1e-4, atol=1e-4)


def test_batch_norm_op_other_axis_and_no_affine():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    g, b = np.ones(4, np.float32), np.zeros(4, np.float32)
    check_op(lambda x: ops.batch_norm(x, axis=1), lambda x: np_bn_train(x, g, b, axis=1), [],
             inputs=[x])
    check_op(lambda x, g, b: ops.batch_norm(x, g, b, axis=1),
             lambda x, g, b: np_bn_train(x, g, b, axis=1), [],
             inputs=[x, rng.uniform(0.5, 2, 4).astype(np.float32),
                     rng.standard_normal(4).astype(np.float32)])
    y, mean, var = ops.batch_norm(x, axis=1, return_stats=True)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-5)


def test_batch_normalization_op_gradients_of_all_inputs():
    rng = np.random.default_rng(2)
    c = 4
    inputs = [rng.standard_normal((5, 3, c)).astype(np.float32),
              rng.standard_normal(c).astype(np.float32),
              rng.uniform(0.5, 2.0, c).astype(np.float32),
              rng.standard_normal(c).astype(np.float32),
              rng.uniform(0.5, 1.5, c).astype(np.float32)]
    check_op(lambda x, m, v, b, g: ops.batch_normalization(x, m, v, offset=b, scale=g),
             np_bn_infer, [], inputs=inputs)


def test_batch_norm_is_stable_for_a_large_mean():
    rng = np.random.default_rng(3)
    x = (1000.0 + 0.01 * rng.standard_normal((4096, 8))).astype(np.float32)
    _, mean, var = ops.batch_norm(x, return_stats=True)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(var, x64.var(axis=0), rtol=1e-4)
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-7)


def test_batch_norm_thread_count_invariance():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 13, 13, 64)).astype(np.float32)
    g = rng.uniform(0.5, 1.5, 64).astype(np.float32)
    before = grebe.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 3):
            grebe.set_num_threads(t)
            xg, gg = grebe.tensor(x, requires_grad=True), grebe.tensor(g, requires_grad=True)
            y = ops.batch_norm(xg, gg)
            y.backward(x)
            outs.append([y.numpy(), xg.grad, gg.grad])
    finally:
        grebe.set_num_threads(before)
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)


# ---- BatchNormalization layer -------------------------------------------------------------

def test_keras_defaults_weights_and_order():
    bn = layers.BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True,
                                                                       True)
    bn.build((None, 5, 5, 3))
    names = [w.name.split("/")[-1] for w in bn.weights]
    assert names == ["gamma", "beta", "moving_mean", "moving_variance"]
    np.testing.assert_array_equal(bn.get_weights()[0], np.ones(3))
    np.testing.assert_array_equal(bn.get_weights()[1], np.zeros(3))
    np.testing.assert_array_equal(bn.get_weights()[2], np.zeros(3))
    np.testing.assert_array_equal(bn.get_weights()[3], np.ones(3))
    assert [w.name.split("/")[-1] for w in bn.non_trainable_weights] == ["moving_mean",
                                                                         "moving_variance"]
    bn2 = layers.BatchNormalization(center=False, scale=False)
    bn2.build((None, 4))
    assert [w.name.split("/")[-1] for w in bn2.weights] == ["moving_mean", "moving_variance"]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs,shape", [({}, (4, 3)), ({}, (2, 5, 5, 3)), ({}, (3, 6, 2)),
                                          ({"axis": 1}, (4, 3, 5)),
                                          ({"center": False}, (4, 3)),
                                          ({"scale": False, "momentum": 0.9}, (2, 4, 4, 3))])
def test_batchnormalization_layer(kwargs, shape, training):
    axis = kwargs.get("axis", -1)
    c = shape[axis]
    n_train = int(kwargs.get("center", True)) + int(kwargs.get("scale", True))
    run_layer_test(layers.BatchNormalization, kwargs, shape, shape, training=training,
                   expected_weight_shapes=[(c,)] * (n_train + 2),
                   expected_num_trainable_weights=n_train,
                   expected_num_non_trainable_weights=2)


@needs_torch
@pytest.mark.parametrize("shape", [(8, 5, 5, 3), (16, 4)])
def test_train_and_eval_vs_torch_and_keras_moving_formula(shape):
    rng = np.random.default_rng(5)
    c = shape[-1]
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.9)
    bn.build((None,) + shape[1:])
    bn.set_weights([gamma, beta, np.zeros(c), np.ones(c)])
    tbn = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(
        c, eps=1e-3, momentum=0.1)  # torch momentum = 1 - Keras momentum
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(gamma))
        tbn.bias.copy_(torch.tensor(beta))
    perm = (0, 3, 1, 2) if len(shape) == 4 else (0, 1)
    inv = (0, 2, 3, 1) if len(shape) == 4 else (0, 1)
    mm, mv = np.zeros(c), np.ones(c)
    for step in range(3):
        x = (rng.standard_normal(shape) * 2 + step).astype(np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        xg = grebe.tensor(x, requires_grad=True)
        y = bn(xg, training=True)
        y.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        tbn.train()
        for p in tbn.parameters():
            p.grad = None
        yt = tbn(xt.permute(perm)).permute(inv)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(bn.gamma.grad, tbn.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(bn.beta.grad, tbn.bias.grad.numpy(), rtol=1e-4, atol=1e-4)
        bn.gamma.grad = bn.beta.grad = None
        # The moving mean matches torch; the moving variance follows Keras (biased batch
        # variance), where torch uses the unbiased one.
        axes = tuple(range(len(shape) - 1))
        mm = mm * 0.9 + x.astype(np.float64).mean(axis=axes) * 0.1
        mv = mv * 0.9 + x.astype(np.float64).var(axis=axes) * 0.1
        np.testing.assert_allclose(bn.moving_mean.numpy(), tbn.running_mean.numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.moving_variance.numpy(), mv, rtol=1e-5)
    # Inference with the same moving statistics.
    with torch.no_grad():
        tbn.running_var.copy_(torch.tensor(bn.moving_variance.numpy()))
    tbn.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    yt = tbn(torch.tensor(x).permute(perm)).permute(inv).detach().numpy()
    for training in (None, False):
        np.testing.assert_allclose(bn(x, training=training).numpy(), yt, rtol=1e-5, atol=1e-5)


def test_inference_uses_moving_statistics_and_leaves_them():
    bn = layers.BatchNormalization(epsilon=0.0)
    bn.build((None, 2))
    bn.set_weights([np.array([2.0, 1.0]), np.array([0.5, 0.0]), np.array([1.0, -1.0]),
                    np.array([4.0, 1.0])])
    x = np.array([[3.0, 0.0], [5.0, 1.0]], np.float32)
    before = [w.copy() for w in bn.get_weights()]
    y = bn(x)  # training=None: inference
    np.testing.assert_allclose(y.numpy(), [[2.5, 1.0], [4.5, 2.0]])
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_batchnorm_runs_in_inference_mode():
    """Keras 3: trainable=False means inference mode even with training=True, no updates,
    no gradients to gamma/beta; the input gradient is gamma / sqrt(moving_var + eps)."""
    rng = np.random.default_rng(6)
    bn = layers.BatchNormalization()
    x = rng.standard_normal((8, 4)).astype(np.float32) * 3 + 2
    bn(x, training=True)  # moves the statistics once
    bn.gamma.assign(rng.uniform(0.5, 1.5, 4))
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    weights = [w.copy() for w in bn.get_weights()]
    xg = grebe.tensor(x, requires_grad=True)
    y = bn(xg, training=True)
    g, b, mm, mv = weights
    np.testing.assert_allclose(y.numpy(), np_bn_infer(x, mm, mv, b, g), rtol=1e-5, atol=1e-5)
    for a, w in zip(weights, bn.get_weights()):
        np.testing.assert_array_equal(a, w)
    y.sum().backward()
    assert bn.gamma.grad is None and bn.beta.grad is None
    np.testing.assert_allclose(xg.grad, np.broadcast_to(g / np.sqrt(mv + EPS), x.shape),
                               rtol=1e-6)
    bn.trainable = True
    bn(x, training=True)
    assert not np.array_equal(bn.get_weights()[2], mm)  # unfrozen: updates again


def test_batchnormalization_errors_and_config():
    with pytest.raises(ValueError, match="axis"):
        layers.BatchNormalization(axis=3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="known size"):
        layers.BatchNormalization().build((None, None))
    bn = layers.BatchNormalization()
    bn(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="BatchNormalization: expected axis -1 of size 3"):
        bn(np.zeros((2, 4), np.float32))
    cfg = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, beta_initializer="ones",
                                    gamma_regularizer="l2").get_config()
    assert cfg["momentum"] == 0.9 and cfg["epsilon"] == 1e-5 and cfg["axis"] == -1
    assert cfg["beta_initializer"]["class_name"] == "Ones"
    clone = layers.BatchNormalization.from_config(cfg)
    assert clone.get_config() == cfg


def test_training_step_moves_loss():
    """Dense -> BatchNormalization -> Dense fits a small regression: gradients reach all."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 5)).astype(np.float32) * 4 + 3
    t = (x @ rng.standard_normal((5, 1))).astype(np.float32)
    d1, bn, d2 = layers.Dense(8), layers.BatchNormalization(), layers.Dense(1)
    losses = []
    for _ in range(60):
        y = d2(bn(d1(x), training=True))
        loss = ((y - t) * (y - t)).mean()
        for la in (d1, bn, d2):
            for w in la.trainable_weights:
                w.grad = None
        loss.backward()
        for la in (d1, bn, d2):
            for w in la.trainable_weights:
                w.data -= 0.05 * w.grad
        losses.append(float(loss.numpy()))
    assert losses[-1] < 0.2 * losses[0]


# ---- LayerNormalization -------------------------------------------------------------------

def np_ln(x, g, b, k=1, eps=EPS):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


@pytest.mark.parametrize("shape,k", [((4, 6), 1), ((2, 3, 5), 1), ((2, 3, 4), 2)])
def test_layer_norm_op_gradients_and_torch(shape, k):
    rng = np.random.default_rng(8)
    p = shape[len(shape) - k:]
    inputs = [rng.standard_normal(shape).astype(np.float32),
              rng.uniform(0.5, 1.5, p).astype(np.float32),
              rng.standard_normal(p).astype(np.float32)]
    axes = tuple(range(len(shape) - k, len(shape)))
    check_op(lambda x, g, b: ops.layer_norm(x, g, b, axis=axes),
             lambda x, g, b: np_ln(x, g, b, k), [], inputs=inputs,
             torch_fn=(lambda x, g, b: torch.nn.functional.layer_norm(x, p, g, b, eps=EPS))
             if torch else None)


@pytest.mark.parametrize("kwargs,shape,weights", [
    ({}, (4, 6), [(6,), (6,)]), ({"axis": [1, 2]}, (2, 3, 4), [(3, 4), (3, 4)]),
    ({"center": False}, (2, 3, 5), [(5,)]), ({"scale": False, "epsilon": 1e-5}, (3, 4), [(4,)])])
def test_layernormalization_layer(kwargs, shape, weights):
    run_layer_test(layers.LayerNormalization, kwargs, shape, shape,
                   expected_weight_shapes=weights, expected_num_trainable_weights=len(weights))


def test_layernormalization_values_and_errors():
    x = np.random.default_rng(9).standard_normal((3, 7)).astype(np.float32)
    ln = layers.LayerNormalization()
    np.testing.assert_allclose(ln(x).numpy(), np_ln(x, 1.0, 0.0), rtol=1e-5, atol=1e-5)
    assert [w.name.split("/")[-1] for w in ln.weights] == ["gamma", "beta"]
    with pytest.raises(ValueError, match="trailing"):
        layers.LayerNormalization(axis=1)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="rms_scaling"):
        layers.LayerNormalization(rms_scaling=True)
