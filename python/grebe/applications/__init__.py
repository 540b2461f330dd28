"""Keras's application architectures built from grebe layers, with Keras's layer names, so a
local Keras weights file fits them: ResNet50, VGG16 (and each family's preprocess_input and
decode_predictions in grebe.applications.resnet50 / .vgg16). grebe never downloads: weights are
None (random) or the path of a local file.

>>> from grebe.applications import VGG16
>>> VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg").output.shape
(None, 512)
"""
from grebe.applications import imagenet_utils, resnet50, vgg16  # noqa: F401
from grebe.applications.resnet50 import ResNet50  # noqa: F401
from grebe.applications.vgg16 import VGG16  # noqa: F401

__all__ = ["ResNet50", "VGG16", "imagenet_utils", "resnet50", "vgg16"]
