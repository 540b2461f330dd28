"""DepthwiseConv1D/2D, SeparableConv1D/2D and Conv1D/Conv2D(groups=): the Keras layer contract
(run_layer_test), values and gradients against PyTorch (a grouped conv) and finite
differences, outputs against Keras 3 (torch backend) with the same weights, error wording."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import grebe
from grebe import layers, ops
from grebe.ops.conv import _pads
from helpers import check_op, run_layer_test

os.environ.setdefault("KERAS_BACKEND", "torch")


def compare_torch(fn, torch_fn, shapes, seed=0, tol=1e-4):
    """fn (grebe) against torch_fn (float32 torch): the output and every input gradient."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [grebe.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    up = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(up)
    yt.backward(torch.from_numpy(up))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"gradient of input {i}")


def torch_depthwise2d(x, k, b, strides, padding, dilation):
    """Depthwise conv as torch's grouped conv (groups = C), padded by TensorFlow's 'same'."""
    R, S, C, M = k.shape
    pt, pb, pl, pr = _pads("ref", padding, tuple(x.shape[1:3]), (R, S), strides, dilation)
    xp = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (pl, pr, pt, pb))
    w = k.reshape(R, S, C * M).permute(2, 0, 1)[:, None]  # (C*M, 1, R, S), o = c*M + m
    return torch.nn.functional.conv2d(xp, w, b, stride=strides, dilation=dilation,
                                      groups=C).permute(0, 2, 3, 1)


DEPTHWISE_CASES = [  # (H, W, C, M, R, S, strides, padding, dilation)
    (8, 8, 32, 1, 3, 3, (1, 1), "same", (1, 1)),
    (9, 7, 5, 2, 3, 3, (2, 2), "same", (1, 1)),
    (9, 7, 17, 1, 3, 3, (2, 2), "valid", (1, 1)),
    (8, 8, 20, 1, 3, 3, (1, 1), "same", (2, 2)),
    (6, 7, 70, 1, 5, 5, (1, 1), "same", (1, 1)),
    (5, 6, 3, 3, 2, 3, (1, 2), "valid", (1, 1)),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES)
def test_depthwise_conv2d_matches_torch(case):
    H, W, C, M, R, S, strides, padding, dil = case
    compare_torch(lambda x, k, b: ops.depthwise_conv2d(x, k, b, strides, padding, dil),
                  lambda x, k, b: torch_depthwise2d(x, k, b, strides, padding, dil),
                  [(5, H, W, C), (R, S, C, M), (C * M,)])


@pytest.mark.parametrize("M,padding", [(1, "same"), (2, "valid")])
def test_depthwise_conv2d_finite_differences(M, padding):
    def ref(x, k, b):
        t = [torch.from_numpy(a) for a in (x, k, b)]
        return torch_depthwise2d(*t, (2, 1), padding, (1, 1)).numpy()

    check_op(lambda x, k, b: ops.depthwise_conv2d(x, k, b, (2, 1), padding), ref,
             [(2, 5, 4, 3), (3, 2, 3, M), (3 * M,)])


def test_depthwise_conv1d_matches_torch():
    compare_torch(lambda x, k, b: ops.depthwise_conv1d(x, k, b, 2, "same"),
                  lambda x, k, b: torch_depthwise2d(x[:, None], k[None], b, (1, 2), "same",
                                                    (1, 1))[:, 0],
                  [(3, 11, 6), (3, 6, 2), (12,)])


@pytest.mark.parametrize("groups,relu", [(2, False), (3, True), (4, False)])
def test_grouped_conv2d_matches_torch(groups, relu):
    def ref(x, k, b):
        pt, pb, pl, pr = _pads("ref", "same", tuple(x.shape[1:3]), (3, 3), (1, 2), (1, 1))
        xp = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (pl, pr, pt, pb))
        y = torch.nn.functional.conv2d(xp, k.permute(3, 2, 0, 1), b, stride=(1, 2),
                                       groups=groups)
        return (torch.relu(y) if relu else y).permute(0, 2, 3, 1)

    compare_torch(lambda x, k, b: ops.conv2d(x, k, b, (1, 2), "same",
                                             activation="relu" if relu else None,
                                             groups=groups),
                  ref, [(3, 7, 8, 12), (3, 3, 12 // groups, 4 * groups), (4 * groups,)])


def test_grouped_conv1d_finite_differences():
    def ref(x, k, b):
        t = [torch.from_numpy(a) for a in (x, k, b)]
        y = torch.nn.functional.conv1d(t[0].permute(0, 2, 1), t[1].permute(2, 1, 0), t[2],
                                       groups=2)
        return y.permute(0, 2, 1).numpy()

    check_op(lambda x, k, b: ops.conv1d(x, k, b, groups=2), ref, [(2, 5, 4), (3, 2, 4), (4,)])


@pytest.mark.parametrize("cls,kwargs,input_shape,output_shape,weights", [
    (layers.DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2, padding="same"),
     (2, 6, 6, 3), (2, 6, 6, 6), [(3, 3, 3, 2), (6,)]),
    (layers.DepthwiseConv2D, dict(kernel_size=(3, 2), strides=2, activation="relu",
                                  use_bias=False), (2, 7, 6, 4), (2, 3, 3, 4), [(3, 2, 4, 1)]),
    (layers.DepthwiseConv1D, dict(kernel_size=3, depth_multiplier=3), (2, 8, 2), (2, 6, 6),
     [(3, 2, 3), (6,)]),
    (layers.SeparableConv2D, dict(filters=5, kernel_size=3, padding="same", depth_multiplier=2),
     (2, 6, 6, 3), (2, 6, 6, 5), [(3, 3, 3, 2), (1, 1, 6, 5), (5,)]),
    (layers.SeparableConv1D, dict(filters=4, kernel_size=3, strides=2, activation="tanh"),
     (2, 9, 3), (2, 4, 4), [(3, 3, 1), (1, 3, 4), (4,)]),
    (layers.Conv2D, dict(filters=6, kernel_size=3, groups=3, padding="same"),
     (2, 5, 5, 6), (2, 5, 5, 6), [(3, 3, 2, 6), (6,)]),
    (layers.Conv1D, dict(filters=4, kernel_size=3, groups=2, activation="relu"),
     (2, 7, 4), (2, 5, 4), [(3, 2, 4), (4,)]),
])
def test_layer_contract(cls, kwargs, input_shape, output_shape, weights):
    run_layer_test(cls, kwargs, input_shape, output_shape, expected_weight_shapes=weights)


@pytest.mark.parametrize("name,kwargs,input_shape", [
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same"), (2, 7, 6, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="same"), (2, 8, 8, 20)),
    ("DepthwiseConv1D", dict(kernel_size=5, padding="valid", dilation_rate=2), (2, 12, 4)),
    ("SeparableConv2D", dict(filters=6, kernel_size=3, depth_multiplier=2, strides=2),
     (2, 9, 9, 3)),
    ("SeparableConv1D", dict(filters=3, kernel_size=3, padding="same"), (2, 9, 4)),
    ("Conv2D", dict(filters=6, kernel_size=3, groups=3, padding="same"), (2, 6, 6, 9)),
    ("Conv1D", dict(filters=4, kernel_size=2, groups=4), (2, 6, 8)),
])
def test_matches_keras(name, kwargs, input_shape):
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal(input_shape).astype(np.float32)
    ours = getattr(layers, name)(**kwargs)
    ours(x)
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs.build(input_shape)
    assert [tuple(w.shape) for w in theirs.get_weights()] == \
        [w.shape for w in ours.get_weights()]
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)),
                               rtol=1e-4, atol=1e-4)


def test_errors_name_the_layer_and_values():
    with pytest.raises(ValueError, match=r"depth_multiplier=0"):
        layers.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"filters=-1"):
        layers.SeparableConv2D(-1, 3)
    with pytest.raises(ValueError, match=r"depthwise_conv2d: input has 3 channels but kernel "
                                         r"expects 4"):
        ops.depthwise_conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 4, 1)))
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layers.DepthwiseConv2D(3)(np.zeros((1, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"does not fit|larger than the input"):
        layers.DepthwiseConv2D(5)(np.zeros((1, 3, 3, 2), np.float32))


def test_separable_model_trains():
    """A small MobileNet-style block (depthwise + pointwise) learns the digits."""
    (x, y), _ = grebe.datasets.digits.load_data(test_split=0.25, seed=0)
    x = x.reshape(-1, 8, 8, 1).astype(np.float32)
    grebe.utils.set_random_seed(0)
    model = grebe.Sequential([
        layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        layers.SeparableConv2D(16, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=5, batch_size=32, verbose=0).history
    assert h["loss"][-1] < 0.3 * h["loss"][0] and h["accuracy"][-1] > 0.9


@pytest.mark.parametrize("make", [
    lambda r: grebe.layers.Conv2DTranspose(2, 3, activity_regularizer=r),
    lambda r: grebe.layers.DepthwiseConv2D(3, activity_regularizer=r),
    lambda r: grebe.layers.SeparableConv2D(2, 3, activity_regularizer=r)])
def test_activity_regularizer_reaches_the_loss(make):
    """The activity penalty goes through add_loss: layer.losses holds l2 * sum(y ** 2)."""
    layer = make(grebe.regularizers.L2(0.01))
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype(np.float32)
    y = layer(x).numpy()
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.01 * float((y.astype(np.float64) ** 2)
                                                                   .sum()), rtol=1e-4)
