"""MobileNetV2 (Sandler et al. 2018), Keras's architecture and layer names: a 3x3 stride-2
convolution, 17 inverted residual blocks (1x1 expansion, 3x3 depthwise, 1x1 linear projection,
batch normalization with momentum 0.999, ReLU capped at 6) and a 1x1 convolution to 1280 channels.
`alpha` scales the widths.

>>> from grebe.applications import MobileNetV2
>>> MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10).count_params()
2270794
"""
from __future__ import annotations

from grebe import layers
from grebe.applications import imagenet_utils
from grebe.applications.imagenet_utils import correct_pad
from grebe.applications.imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["MobileNetV2", "preprocess_input", "decode_predictions"]

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" \
              "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}{suffix}.h5"
# (filters, stride, expansion) of blocks 0..16
_BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6),
           (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6),
           (160, 1, 6), (160, 1, 6), (320, 1, 6)]


def _make_divisible(v, divisor=8, min_value=None):
    """v rounded to a multiple of divisor, never more than 10% below v (the paper's rule)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _bn(x, name):
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)(x)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = _bn(x, f"{prefix}expand_BN")
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x.shape[1:3]), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = _bn(x, f"{prefix}depthwise_BN")
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_BN")
    if in_channels == pointwise and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _default_size(input_shape, input_tensor):
    shape = input_shape if input_shape is not None else (
        tuple(input_tensor.shape[1:]) if input_tensor is not None else None)
    if shape is not None and shape[0] == shape[1] and shape[0] in (96, 128, 160, 192, 224):
        return shape[0]
    return 224


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
                name=None):
    """The MobileNetV2 architecture (channels-last). weights: None (random) or the path of a
    local weights file; 'imagenet' raises an error saying where to get the file."""
    who = "MobileNetV2"
    size = _default_size(input_shape, input_tensor)
    url = WEIGHTS_URL.format(alpha=float(alpha), rows=size, suffix="" if include_top else
                             "_no_top")
    imagenet_utils.check_weights(weights, include_top, classes, classifier_activation, who, url)
    shape = imagenet_utils.obtain_input_shape(input_shape, size, 32, include_top, who)
    img_input, inputs = imagenet_utils.model_inputs(input_tensor, shape, who)
    x = layers.Conv2D(_make_divisible(32 * alpha, 8), 3, strides=(2, 2), padding="same",
                      use_bias=False, name="Conv1")(img_input)
    x = _bn(x, "bn_Conv1")
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = _bn(x, "Conv_1_bn")
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    from grebe.models.functional import Functional

    name = name or f"mobilenetv2_{alpha:0.2f}_{shape[0]}"
    return imagenet_utils.load_weights(Functional(inputs, x, name=name), weights)


def preprocess_input(x, data_format=None):
    """MobileNetV2's preprocessing: 'tf' mode (scales 0..255 to -1..1)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
