"""What the ImageNet applications share: the input-shape rule, the `weights` argument (grebe
never downloads: 'imagenet' weights must be given as a local file), preprocess_input's three
modes and decode_predictions (from a local imagenet_class_index.json).

>>> import numpy as np
>>> preprocess_input(np.array([[[0.0, 127.5, 255.0]]]), mode="tf").tolist()
[[[-1.0, 0.0, 1.0]]]
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np

__all__ = ["preprocess_input", "decode_predictions", "obtain_input_shape", "check_weights",
           "load_weights", "model_inputs"]

CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/" \
                  "imagenet_class_index.json"
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # B, G, R
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_class_index = None


def preprocess_input(x, data_format=None, mode="caffe") -> np.ndarray:
    """ImageNet preprocessing of RGB images 0..255 (batch or single, channels-last by default):
    'caffe' RGB->BGR minus the BGR mean pixel; 'tf' scales to -1..1; 'torch' scales to 0..1 then
    standardizes each channel. Returns a new float32 array (integer input) or an array of the
    input's float dtype; the input is never modified."""
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"preprocess_input: Expected mode to be one of `caffe`, `tf` or "
                         f"`torch`. Received: mode={mode}")
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"preprocess_input: data_format must be 'channels_last' or "
                         f"'channels_first'. Received: data_format={data_format!r}")
    x = np.array(x, copy=True)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if mode == "tf":
        return x / x.dtype.type(127.5) - x.dtype.type(1.0)
    axis = -1 if data_format == "channels_last" else (0 if x.ndim == 3 else 1)
    if x.ndim < 1 or x.shape[axis] != 3:
        raise ValueError(f"preprocess_input: expected 3 colour channels on axis {axis} "
                         f"({data_format}), received an array of shape {x.shape}")
    shape = [1] * x.ndim
    shape[axis] = 3
    if mode == "torch":
        x = x / x.dtype.type(255.0)
        mean, std = np.array(_TORCH_MEAN), np.array(_TORCH_STD)
    else:
        x = np.flip(x, axis=axis).copy()  # RGB -> BGR
        mean, std = np.array(_CAFFE_MEAN), None
    x -= mean.astype(x.dtype).reshape(shape)
    if std is not None:
        x /= std.astype(x.dtype).reshape(shape)
    return x


def _load_class_index(class_index_path):
    global _class_index
    if class_index_path is None and _class_index is not None:
        return _class_index
    from grebe.utils.file_utils import get_file

    path = class_index_path or get_file("imagenet_class_index.json", CLASS_INDEX_URL,
                                        cache_subdir="models")
    try:
        with open(os.path.expanduser(os.fspath(path)), encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"decode_predictions: {path} is not a readable ImageNet class index "
                         f"JSON ({e})") from None
    if not isinstance(index, dict) or "0" not in index:
        raise ValueError(f"decode_predictions: {path} should map '0'..'999' to "
                         f"[wnid, class_name] pairs")
    if class_index_path is None:
        _class_index = index
    return index


def decode_predictions(preds, top=5, class_index_path=None) -> list:
    """For each row of preds (n, 1000), the `top` classes as (wnid, name, score) tuples, best
    first. The class names come from imagenet_class_index.json: give its path, or put it in
    ~/.keras/models/ (grebe never downloads it)."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"decode_predictions expects a batch of predictions (i.e. a 2D array "
                         f"of shape (samples, 1000)). Received array with shape: "
                         f"{preds.shape}")
    index = _load_class_index(class_index_path)
    out = []
    for row in preds:
        best = row.argsort()[-top:][::-1]
        out.append([tuple(index[str(i)]) + (row[i],) for i in best])
    return out


def correct_pad(shape, kernel=3):
    """The zero padding ((top, bottom), (left, right)) that centres a stride-2 'valid'
    convolution over spatial `shape` (height, width) like TensorFlow's 'same' (Keras's
    correct_pad; None sizes count as odd)."""
    k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    adjust = (1, 1) if shape[0] is None else (1 - shape[0] % 2, 1 - shape[1] % 2)
    return ((k[0] // 2 - adjust[0], k[0] // 2), (k[1] // 2 - adjust[1], k[1] // 2))


def check_weights(weights, include_top, classes, classifier_activation, who, url):
    """Keras's checks of `weights`; 'imagenet' is refused with where to get the file."""
    if weights == "imagenet":
        raise ValueError(
            f"{who}: grebe never downloads, so weights='imagenet' cannot be fetched: the "
            f"weights must be given as a local file path. Download {url} yourself and pass "
            f"weights='/path/to/{url.rsplit('/', 1)[-1]}' (or weights=None for a random "
            f"initialization)")
    if weights is not None and not os.path.exists(os.path.expanduser(os.fspath(weights))):
        raise ValueError(f"{who}: The `weights` argument should be either `None` (random "
                         f"initialization), or the path to a local weights file to be loaded. "
                         f"Received: weights={weights} (no such file)")
    if weights is not None and include_top and classifier_activation not in (None, "softmax"):
        raise ValueError(f"{who}: Only `None` and `softmax` activations are allowed for the "
                         f"`classifier_activation` argument when using pretrained weights, "
                         f"with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def obtain_input_shape(input_shape, default_size, min_size, require_flatten, who):
    """The (height, width, channels) input shape, Keras's rule (channels-last only)."""
    if input_shape is None:
        return (default_size, default_size, 3) if require_flatten else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"{who}: `input_shape` must be a tuple of three integers. Received: "
                         f"input_shape={input_shape}")
    if input_shape[-1] not in (1, 3):
        warnings.warn(f"{who}: This model usually expects 1 or 3 input channels. However, "
                      f"it was passed an input_shape with {input_shape[-1]} input channels.",
                      stacklevel=3)
    if any(d is not None and d < min_size for d in input_shape[:2]):
        raise ValueError(f"{who}: Input size must be at least {min_size}x{min_size}; "
                         f"Received: input_shape={input_shape}")
    if require_flatten and None in input_shape:
        raise ValueError(f"{who}: If `include_top` is True, you should specify a static "
                         f"`input_shape`. Received: input_shape={input_shape}")
    return input_shape


def model_inputs(input_tensor, input_shape, who):
    """(the tensor the network starts from, the model's inputs): a new Input, or the given
    symbolic tensor and the Input(s) it comes from."""
    from grebe.models.functional import Input
    from grebe.graph import KerasTensor

    if input_tensor is None:
        x = Input(shape=input_shape)
        return x, x
    if not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"{who}: input_tensor must be a symbolic tensor (the output of "
                         f"grebe.Input or of a layer called on one). Received: "
                         f"{type(input_tensor).__name__}")
    sources, seen, todo = [], set(), [input_tensor]
    while todo:
        t = todo.pop()
        node = t._node
        if node.is_input:
            if id(t) not in seen:
                seen.add(id(t))
                sources.append(t)
            continue
        todo.extend(node.inputs)
    return input_tensor, sources[0] if len(sources) == 1 else sources


def load_weights(model, weights):
    if weights is not None:
        model.load_weights(os.path.expanduser(os.fspath(weights)))
    return model
