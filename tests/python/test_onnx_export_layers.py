"""ONNX export of issue 11's layers (transposed, depthwise, separable and grouped convolutions,
upsampling, RepeatVector, Permute, the activation layers, Unit/GroupNormalization, Identity):
each exported model runs in ONNX Runtime and matches grebe's predict on random input for batch
sizes 1 and 4; what has no exact mapping raises an error naming the layer."""
from __future__ import annotations

import numpy as np
import pytest

import grebe
from grebe import layers as L
from test_onnx_export import check, img, seq


def _randomize(model):
    """Non-trivial PReLU alphas and GroupNormalization gamma/beta (their defaults are 0/1/0)."""
    rng = np.random.default_rng(3)
    for la in model._flat_layers():
        if isinstance(la, (L.PReLU, L.GroupNormalization)):
            la.set_weights([rng.uniform(-0.5, 1.5, w.shape).astype(np.float32)
                            for w in la.get_weights()])
    return model


CASES = {
    "conv2d_transpose_same_s2": (lambda: seq(L.Conv2DTranspose(4, 3, strides=2, padding="same"),
                                             inp=((5, 6, 3),)), img((5, 6, 3))),
    "conv2d_transpose_valid_s3_k2": (lambda: seq(L.Conv2DTranspose(3, 2, strides=3,
                                                                   activation="relu"),
                                                 inp=((4, 4, 2),)), img((4, 4, 2))),
    "conv2d_transpose_output_padding_dilated": (
        lambda: seq(L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
                    L.Conv2DTranspose(2, 3, dilation_rate=2, use_bias=False),
                    inp=((4, 5, 2),)), img((4, 5, 2))),
    "conv1d_transpose": (lambda: seq(L.Conv1DTranspose(4, 4, strides=2, padding="same"),
                                     L.Conv1DTranspose(2, 3, strides=2, output_padding=1),
                                     inp=((7, 3),)), img((7, 3))),
    "depthwise2d": (lambda: seq(L.DepthwiseConv2D(3, padding="same", activation="relu6"),
                                L.DepthwiseConv2D(3, strides=2, depth_multiplier=2),
                                inp=((9, 8, 5),)), img((9, 8, 5))),
    "depthwise1d": (lambda: seq(L.DepthwiseConv1D(3, depth_multiplier=3, dilation_rate=2),
                                inp=((11, 4),)), img((11, 4))),
    "separable2d_1d": (lambda: seq(L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2,
                                                     activation="relu"),
                                   L.Reshape((-1, 6)),
                                   L.SeparableConv1D(4, 3, strides=2, use_bias=False),
                                   inp=((6, 6, 3),)), img((6, 6, 3))),
    "grouped_conv2d": (lambda: seq(L.Conv2D(6, 3, groups=3, padding="same"),
                                   inp=((7, 7, 6),)), img((7, 7, 6))),
    "grouped_conv1d": (lambda: seq(L.Conv1D(4, 3, groups=2, strides=2), inp=((9, 6),)),
                       img((9, 6))),
    "upsampling": (lambda: seq(L.UpSampling2D((2, 3)), L.UpSampling2D(2, interpolation="bilinear"),
                               inp=((3, 4, 2),)), img((3, 4, 2))),
    "upsampling1d_repeat_permute": (lambda: seq(L.UpSampling1D(3), L.Permute((2, 1)),
                                                L.Flatten(), L.RepeatVector(2),
                                                inp=((4, 3),)), img((4, 3))),
    "relu_options": (lambda: seq(L.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2),
                                 L.ReLU(threshold=0.3), L.ReLU(max_value=0.5), L.ReLU(),
                                 L.ReLU(negative_slope=0.2), inp=((5, 3),)), img((5, 3))),
    "leaky_prelu_elu_softmax": (lambda: _randomize(seq(
        L.LeakyReLU(), L.PReLU(shared_axes=[1]), L.ELU(alpha=0.7), L.Softmax(axis=1),
        inp=((4, 3),))), img((4, 3))),
    "softmax_two_axes": (lambda: seq(L.Softmax(axis=(1, 2)), inp=((3, 4),)), img((3, 4))),
    "unit_group_normalization": (lambda: _randomize(seq(
        L.UnitNormalization(), L.GroupNormalization(groups=2), L.Conv2D(6, 1),
        L.UnitNormalization(axis=(1, 2)), L.GroupNormalization(groups=3, center=False),
        inp=((3, 5, 4),))), img((3, 5, 4))),
    "identity": (lambda: seq(L.Dense(3), L.Identity(), inp=((4,),)), img((4,))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_issue11_layers_match_onnxruntime(case, tmp_path):
    build, x_fn = CASES[case]
    check(build(), x_fn, tmp_path)


def test_what_has_no_mapping_is_named(tmp_path):
    inp = grebe.Input((4, 3))
    mask = grebe.Input((4, 3))
    sm = L.Softmax(name="masked_softmax")(inp, mask=mask)
    with pytest.raises(ValueError, match="masked_softmax: Softmax with a mask"):
        grebe.Model([inp, mask], sm).export(str(tmp_path / "m.onnx"), format="onnx")
    dyn = grebe.Sequential([grebe.Input((None, 3)), L.Conv1DTranspose(2, 3, name="deconv")])
    with pytest.raises(ValueError, match="deconv: the spatial input shape must be known"):
        dyn.export(str(tmp_path / "m.onnx"), format="onnx")
    lam = grebe.Sequential([grebe.Input((3,)), L.Lambda(lambda x: x * 2.0, name="lam")])
    with pytest.raises(ValueError, match="layer 'lam' \\(Lambda\\) has no ONNX mapping"):
        lam.export(str(tmp_path / "m.onnx"), format="onnx")
    assert not (tmp_path / "m.onnx").exists()
