"""UpSampling1D/2D, RepeatVector, Permute: the Keras layer contract (run_layer_test), values
against Keras 3 (torch backend) and PyTorch's interpolate (bilinear, align_corners=False),
gradients by finite differences, and errors."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from grebe import layers, ops
from helpers import check_op, run_layer_test

os.environ.setdefault("KERAS_BACKEND", "torch")
X = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_upsampling2d_matches_keras(interpolation, size):
    import keras

    ours = layers.UpSampling2D(size, interpolation=interpolation)(X).numpy()
    theirs = keras.layers.UpSampling2D(size, interpolation=interpolation)(X)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)


def test_upsampling1d_repeat_vector_permute_match_keras():
    import keras

    x3 = X[:, :, :, 0]
    for ours, theirs, x in [(layers.UpSampling1D(3), keras.layers.UpSampling1D(3), x3),
                            (layers.RepeatVector(4), keras.layers.RepeatVector(4), X[:, 0, 0]),
                            (layers.Permute((3, 1, 2)), keras.layers.Permute((3, 1, 2)), X)]:
        np.testing.assert_array_equal(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)))


def test_bilinear_matches_torch_interpolate_and_gradients():
    def ref(x):
        xt = torch.from_numpy(x).permute(0, 3, 1, 2)
        y = torch.nn.functional.interpolate(xt, size=(6, 15), mode="bilinear",
                                            align_corners=False)
        return y.permute(0, 2, 3, 1).numpy()

    check_op(lambda x: ops.resize_bilinear(x, (6, 15)), ref, [(2, 3, 5, 2)])


def test_nearest_and_repeat_gradients():
    check_op(lambda x: layers.UpSampling2D((2, 3))(x), lambda x: x.repeat(2, 1).repeat(3, 2),
             [(2, 3, 2, 2)])
    check_op(lambda x: layers.RepeatVector(3)(x),
             lambda x: np.repeat(x[:, None], 3, axis=1), [(2, 4)])
    check_op(lambda x: layers.Permute((2, 1))(x), lambda x: x.transpose(0, 2, 1), [(2, 3, 4)])


@pytest.mark.parametrize("cls,kwargs,input_shape,output_shape", [
    (layers.UpSampling2D, {"size": (2, 3)}, (2, 3, 4, 2), (2, 6, 12, 2)),
    (layers.UpSampling2D, {"size": 2, "interpolation": "bilinear"}, (2, 3, 4, 2),
     (2, 6, 8, 2)),
    (layers.UpSampling1D, {"size": 3}, (2, 4, 5), (2, 12, 5)),
    (layers.RepeatVector, {"n": 3}, (2, 5), (2, 3, 5)),
    (layers.Permute, {"dims": (2, 1)}, (2, 3, 4), (2, 4, 3)),
    (layers.Permute, {"dims": (3, 1, 2)}, (2, 3, 4, 5), (2, 5, 3, 4)),
])
def test_layer_contract(cls, kwargs, input_shape, output_shape):
    run_layer_test(cls, kwargs, input_shape, output_shape, expected_weight_shapes=[])


def test_errors():
    with pytest.raises(ValueError, match=r"consecutive and start from 1.*dims=\(0, 1\)"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match=r"interpolation='bicubic'"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(TypeError, match=r"integer value for `n`"):
        layers.RepeatVector(2.5)
    with pytest.raises(ValueError, match=r"expected ndim=2, found ndim=3"):
        layers.RepeatVector(2)(np.zeros((2, 3, 4), np.float32))
