"""VGG16 (Simonyan & Zisserman 2014), Keras's architecture and layer names: five blocks of 3x3
convolutions (64, 128, 256, 512, 512 filters; 2, 2, 3, 3, 3 layers) each closed by a 2x2 max
pool, then fc1/fc2 (4096) and the classifier.

>>> from grebe.applications import VGG16
>>> VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).count_params()
14714688
"""
from __future__ import annotations

from grebe import layers
from grebe.applications import imagenet_utils
from grebe.applications.imagenet_utils import decode_predictions  # noqa: F401

__all__ = ["VGG16", "preprocess_input", "decode_predictions"]

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" \
              "vgg16_weights_tf_dim_ordering_tf_kernels{}.h5"
_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """The VGG16 architecture (channels-last). weights: None (random) or the path of a local
    weights file; 'imagenet' raises an error saying where to get the file."""
    who = "VGG16"
    suffix = "" if include_top else "_notop"
    imagenet_utils.check_weights(weights, include_top, classes, classifier_activation, who,
                                 WEIGHTS_URL.format(suffix))
    shape = imagenet_utils.obtain_input_shape(input_shape, 224, 32, include_top, who)
    img_input, inputs = imagenet_utils.model_inputs(input_tensor, shape, who)
    x = img_input
    for b, (filters, convs) in enumerate(_BLOCKS, start=1):
        for c in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{b}_conv{c}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    from grebe.models.functional import Functional

    return imagenet_utils.load_weights(Functional(inputs, x, name=name), weights)


def preprocess_input(x, data_format=None):
    """VGG's preprocessing: 'caffe' mode (RGB -> BGR, minus the ImageNet mean pixel)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")
