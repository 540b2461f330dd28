"""Conv1DTranspose / Conv2DTranspose and ops.conv*_transpose: the Keras layer contract
(run_layer_test), values and gradients against PyTorch (a full transposed convolution cropped
by Keras's padding rule) and finite differences, outputs against Keras 3 itself (torch
backend) with the same weights, and Keras's error wording."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import grebe
from grebe import layers, ops
from grebe.ops.conv_transpose import conv_transpose_padding
from helpers import check_op, run_layer_test

os.environ.setdefault("KERAS_BACKEND", "torch")

CASES_2D = [  # (H, W, C, F, R, S, strides, padding, output_padding, dilation)
    (5, 5, 3, 4, 3, 3, (2, 2), "same", None, (1, 1)),
    (5, 6, 3, 2, 3, 3, (2, 2), "valid", None, (1, 1)),
    (4, 5, 2, 3, 4, 4, (2, 2), "same", (1, 1), (1, 1)),
    (4, 5, 2, 3, 3, 2, (3, 2), "valid", (2, 1), (1, 1)),
    (6, 5, 2, 3, 3, 3, (1, 1), "same", None, (2, 2)),
    (3, 3, 1, 2, 1, 1, (3, 3), "same", None, (1, 1)),
    (4, 4, 5, 2, 2, 2, (1, 1), "same", (0, 0), (1, 1)),
    (1, 7, 3, 3, 1, 5, (1, 2), "valid", None, (1, 1)),
]


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


def as_ref(torch_fn):
    """A float64 numpy reference (for check_op's finite differences) from a torch function."""
    return lambda *arrays: torch_fn(*[torch.from_numpy(a) for a in arrays]).detach().numpy()


def torch_transpose2d(x, k, b, strides, padding, output_padding, dilation):
    """The reference: torch's full transposed convolution (no padding), cropped (or zero
    extended) to Keras's output window [pad, pad + length) on each axis."""
    _, H, W, _ = x.shape
    R, S = k.shape[:2]
    full = torch.nn.functional.conv_transpose2d(x.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1),
                                                None, stride=strides, dilation=dilation)
    ops_ = output_padding or (None, None)
    lh, pt = conv_transpose_padding(H, R, strides[0], dilation[0], padding, ops_[0])
    lw, pl = conv_transpose_padding(W, S, strides[1], dilation[1], padding, ops_[1])
    full = torch.nn.functional.pad(full, (0, max(0, pl + lw - full.shape[3]),
                                          0, max(0, pt + lh - full.shape[2])))
    y = full[:, :, pt:pt + lh, pl:pl + lw].permute(0, 2, 3, 1)
    return y if b is None else y + b


@pytest.mark.parametrize("case", CASES_2D)
def test_conv2d_transpose_matches_torch(case):
    H, W, C, F, R, S, strides, padding, out_pad, dil = case
    compare_torch(lambda x, k, b: ops.conv2d_transpose(x, k, b, strides, padding, out_pad, dil),
                  lambda x, k, b: torch_transpose2d(x, k, b, strides, padding, out_pad, dil),
                  [(2, H, W, C), (R, S, F, C), (F,)])


@pytest.mark.parametrize("strides,padding,out_pad", [(2, "same", None), (3, "valid", (1, 2))])
def test_conv2d_transpose_finite_differences(strides, padding, out_pad):
    s2 = (strides, strides)

    def ref(x, k, b):
        return torch_transpose2d(x, k, b, s2, padding, out_pad, (1, 1))

    check_op(lambda x, k, b: ops.conv2d_transpose(x, k, b, strides, padding, out_pad),
             as_ref(ref), [(1, 3, 2, 2), (3, 2, 2, 2), (2,)])


def test_conv1d_transpose_matches_torch():
    for strides, padding, out_pad in [(2, "same", None), (3, "valid", 1), (1, "same", None)]:
        def ref(x, k, b):
            return torch_transpose2d(x[:, None], k[None], b, (1, strides), padding,
                                     None if out_pad is None else (0, out_pad), (1, 1))[:, 0]

        compare_torch(lambda x, k, b: ops.conv1d_transpose(x, k, b, strides, padding, out_pad),
                      ref, [(2, 7, 3), (3, 4, 3), (4,)])


@pytest.mark.parametrize("cls,kwargs,input_shape,output_shape", [
    (layers.Conv2DTranspose, dict(filters=4, kernel_size=3, strides=2, padding="same"),
     (2, 5, 5, 3), (2, 10, 10, 4)),
    (layers.Conv2DTranspose, dict(filters=2, kernel_size=(3, 2), strides=(2, 3),
                                  output_padding=(1, 2), activation="relu"),
     (2, 4, 3, 3), (2, 10, 10, 2)),
    (layers.Conv2DTranspose, dict(filters=3, kernel_size=3, dilation_rate=2, use_bias=False),
     (1, 4, 4, 2), (1, 8, 8, 3)),
    (layers.Conv1DTranspose, dict(filters=4, kernel_size=3, strides=2), (2, 7, 3), (2, 15, 4)),
    (layers.Conv1DTranspose, dict(filters=4, kernel_size=4, strides=2, padding="same",
                                  output_padding=1, activation="tanh"), (2, 7, 3), (2, 13, 4)),
])
def test_layer_contract(cls, kwargs, input_shape, output_shape):
    k = kwargs["kernel_size"]
    k = (k,) * (len(input_shape) - 2) if isinstance(k, int) else k
    shapes = [k + (kwargs["filters"], input_shape[-1])]
    if kwargs.get("use_bias", True):
        shapes.append((kwargs["filters"],))
    run_layer_test(cls, kwargs, input_shape, output_shape, expected_weight_shapes=shapes)


@pytest.mark.parametrize("name,kwargs,input_shape", [
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 5, 3)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=(4, 3), strides=(2, 1), padding="valid"),
     (2, 5, 4, 2)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=3, padding="valid",
                             output_padding=2), (1, 3, 4, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
     (1, 6, 6, 2)),
    ("Conv1DTranspose", dict(filters=4, kernel_size=5, strides=2, padding="same"), (2, 9, 3)),
])
def test_matches_keras(name, kwargs, input_shape):
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal(input_shape).astype(np.float32)
    ours = getattr(layers, name)(**kwargs)
    y = ours(x)
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs.build(input_shape)
    assert [tuple(w.shape) for w in theirs.get_weights()] == \
        [w.shape for w in ours.get_weights()]
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)),
                               rtol=1e-4, atol=1e-4)
    assert y.shape == tuple(theirs.compute_output_shape(input_shape))


def test_errors_name_the_layer_and_values():
    with pytest.raises(ValueError, match=r"`output_padding` must be strictly less than "
                                         r"`strides`.*output_padding=\(2, 2\)"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"filters=0"):
        layers.Conv2DTranspose(0, 3)
    with pytest.raises(ValueError, match=r"padding='causal'"):
        layers.Conv1DTranspose(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"conv2d_transpose: input has 3 channels but kernel "
                                         r"expects 2"):
        ops.conv2d_transpose(np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 5, 2)))
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layers.Conv2DTranspose(2, 3)(np.zeros((1, 4, 3), np.float32))


def test_trains_as_a_decoder():
    """A tiny autoencoder with a Conv2DTranspose decoder learns (the loss falls)."""
    grebe.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype(np.float32)
    model = grebe.Sequential([
        layers.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                      input_shape=(8, 8, 1)),
        layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
    ])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="mse")
    h = model.fit(x, x, epochs=40, batch_size=8, verbose=0).history["loss"]
    assert h[-1] < 0.2 * h[0]
