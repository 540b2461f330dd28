"""Keras's application architectures built from grebe layers, with Keras's layer names, so a
local Keras weights file fits them: ResNet50, VGG16, MobileNetV2, EfficientNetB0-B7 (and each
family's preprocess_input and decode_predictions in grebe.applications.resnet50 / .vgg16 /
.mobilenet_v2 / .efficientnet). grebe never downloads: weights are
None (random) or the path of a local file.

>>> from grebe.applications import VGG16
>>> VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg").output.shape
(None, 512)
"""
from grebe.applications import (efficientnet, imagenet_utils, mobilenet_v2,  # noqa: F401
                                resnet50, vgg16)
from grebe.applications.efficientnet import (  # noqa: F401
    EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3, EfficientNetB4,
    EfficientNetB5, EfficientNetB6, EfficientNetB7)
from grebe.applications.mobilenet_v2 import MobileNetV2  # noqa: F401
from grebe.applications.resnet50 import ResNet50  # noqa: F401
from grebe.applications.vgg16 import VGG16  # noqa: F401

__all__ = ["ResNet50", "VGG16", "MobileNetV2", "EfficientNetB0", "EfficientNetB1",
           "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5",
           "EfficientNetB6", "EfficientNetB7", "efficientnet", "imagenet_utils", "mobilenet_v2",
           "resnet50", "vgg16"]
