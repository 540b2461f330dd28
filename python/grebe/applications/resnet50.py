"""ResNet50 (He et al. 2015), Keras's architecture and layer names: conv1, then the bottleneck
stacks conv2..conv5 (3, 4, 6, 3 blocks), each block three convolutions with batch normalization
(epsilon 1.001e-5) and a projection shortcut on the first block of a stack.

>>> from grebe.applications import ResNet50
>>> model = ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
>>> model.count_params()
23608202
"""
from __future__ import annotations

from grebe import layers
from grebe.applications import imagenet_utils
from grebe.applications.imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" \
              "resnet50_weights_tf_dim_ordering_tf_kernels{}.h5"
_EPS = 1.001e-5


def _block(x, filters, stride=1, conv_shortcut=True, name=None):
    """A bottleneck block: 1x1 (filters) -> 3x3 (filters) -> 1x1 (4*filters), plus shortcut."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stack(x, filters, blocks, stride1=2, name=None):
    x = _block(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="resnet50"):
    """The ResNet50 architecture (channels-last). weights: None (random) or the path of a local
    weights file; 'imagenet' raises an error saying where to get the file, since grebe never
    downloads. pooling ('avg', 'max' or None) applies when include_top is False."""
    who = "ResNet50"
    suffix = "" if include_top else "_notop"
    imagenet_utils.check_weights(weights, include_top, classes, classifier_activation, who,
                                 WEIGHTS_URL.format(suffix))
    shape = imagenet_utils.obtain_input_shape(input_shape, 224, 32, include_top, who)
    img_input, inputs = imagenet_utils.model_inputs(input_tensor, shape, who)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, 3, stride1=1, name="conv2")
    x = _stack(x, 128, 4, name="conv3")
    x = _stack(x, 256, 6, name="conv4")
    x = _stack(x, 512, 3, name="conv5")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    from grebe.models.functional import Functional

    return imagenet_utils.load_weights(Functional(inputs, x, name=name), weights)


def preprocess_input(x, data_format=None):
    """ResNet's preprocessing: 'caffe' mode (RGB -> BGR, minus the ImageNet mean pixel)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")
