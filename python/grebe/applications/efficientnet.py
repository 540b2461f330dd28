"""EfficientNetB0-B7 (Tan & Le 2019), Keras's architecture and layer names: rescaling and
normalization layers, a 3x3 stride-2 stem, 7 stages of mobile inverted bottlenecks (1x1 expansion,
depthwise conv, squeeze-and-excitation, 1x1 projection, stochastic depth as Dropout with
noise_shape (None, 1, 1, 1) before the residual add) and a 1x1 conv to 1280 channels, all with
swish. B1-B7 scale B0's widths and depths by Keras's coefficients.

>>> from grebe.applications import EfficientNetB0
>>> EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10).count_params()
4062381
"""
from __future__ import annotations

import math

from grebe import layers
from grebe.applications import imagenet_utils
from grebe.applications.imagenet_utils import correct_pad
from grebe.applications.imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
           "preprocess_input", "decode_predictions"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
# (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides) of B0's 7 stages;
# every block has id_skip and se_ratio 0.25.
_STAGES = [(3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
           (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
           (3, 1, 192, 320, 6, 1)]
_SE_RATIO = 0.25
# name: (width coefficient, depth coefficient, default size, top dropout rate)
_VARIANTS = {"b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
             "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
             "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5)}
CONV_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 2.0, "mode": "fan_out",
                                      "distribution": "truncated_normal"}}
DENSE_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                            "config": {"scale": 1.0 / 3.0, "mode": "fan_out",
                                       "distribution": "uniform"}}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def _round_filters(filters, width, divisor=8):
    """filters * width rounded to a multiple of divisor, never more than 10% below."""
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * filters else new)


def _conv(filters, kernel, name, **kwargs):
    return layers.Conv2D(filters, kernel, use_bias=kwargs.pop("use_bias", False),
                         kernel_initializer=CONV_KERNEL_INITIALIZER, name=name, **kwargs)


def _squeeze_excite(x, filters_in, filters, activation, name):
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = _conv(max(1, int(filters_in * _SE_RATIO)), 1, f"{name}se_reduce", padding="same",
               activation=activation, use_bias=True)(se)
    se = _conv(filters, 1, f"{name}se_expand", padding="same", activation="sigmoid",
               use_bias=True)(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def _block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides,
           expand_ratio):
    """One mobile inverted bottleneck with squeeze-and-excitation (Keras's `block`)."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, 1, f"{name}expand_conv", padding="same")(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    if strides == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x.shape[1:3], kernel_size),
                                 name=f"{name}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides,
                               padding="valid" if strides == 2 else "same", use_bias=False,
                               depthwise_initializer=CONV_KERNEL_INITIALIZER,
                               name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    x = _squeeze_excite(x, filters_in, filters, activation, name)
    x = _conv(filters_out, 1, f"{name}project_conv", padding="same")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:  # stochastic depth: drop the whole residual branch per sample
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def EfficientNet(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2,
                 drop_connect_rate=0.2, activation="swish", name="efficientnet",
                 include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax", weights_name=None):
    """The EfficientNet builder (channels-last). weights: None (random) or the path of a local
    weights file; 'imagenet' raises an error saying where to get the file."""
    who = f"EfficientNet{(weights_name or '').upper()}"
    url = f"{BASE_WEIGHTS_PATH}{name}{'.h5' if include_top else '_notop.h5'}"
    imagenet_utils.check_weights(weights, include_top, classes, classifier_activation, who, url)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size, 32, include_top, who)
    img_input, inputs = imagenet_utils.model_inputs(input_tensor, shape, who)
    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=3)(x)
    x = layers.ZeroPadding2D(padding=correct_pad(x.shape[1:3], 3), name="stem_conv_pad")(x)
    x = _conv(_round_filters(32, width_coefficient), 3, "stem_conv", strides=2,
              padding="valid")(x)
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    repeats = [int(math.ceil(depth_coefficient * s[1])) for s in _STAGES]
    b, blocks = 0, float(sum(repeats))
    for i, ((kernel, _, f_in, f_out, expand, strides), n) in enumerate(zip(_STAGES, repeats)):
        f_in, f_out = _round_filters(f_in, width_coefficient), \
            _round_filters(f_out, width_coefficient)
        for j in range(n):
            x = _block(x, activation, drop_connect_rate * b / blocks, f"block{i + 1}{chr(j + 97)}_",
                       f_in if j == 0 else f_out, f_out, kernel, strides if j == 0 else 1,
                       expand)
            b += 1
    x = _conv(_round_filters(1280, width_coefficient), 1, "top_conv", padding="same")(x)
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=DENSE_KERNEL_INITIALIZER, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    from grebe.models.functional import Functional

    return imagenet_utils.load_weights(Functional(inputs, x, name=name), weights)


def _variant(key):
    width, depth, size, dropout = _VARIANTS[key]

    def build(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax",
              name=f"efficientnet{key}"):
        return EfficientNet(width, depth, size, dropout, name=name, include_top=include_top,
                            weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                            pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation, weights_name=key)
    build.__name__ = build.__qualname__ = f"EfficientNet{key.upper()}"
    build.__doc__ = (f"EfficientNet{key.upper()}: width x{width}, depth x{depth}, default "
                     f"input {size}x{size}x3, top dropout {dropout} (Keras's arguments).")
    return build


EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3 = (
    _variant(k) for k in ("b0", "b1", "b2", "b3"))
EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7 = (
    _variant(k) for k in ("b4", "b5", "b6", "b7"))


def preprocess_input(x, data_format=None):
    """EfficientNet's preprocessing is inside the model (Rescaling + Normalization): this
    returns x unchanged, as Keras's does."""
    return x
