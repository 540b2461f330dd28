"""Image files and arrays, Keras's names: load_img, img_to_array, array_to_img, save_img.
Pillow does the file work (``pip install pillow``); arrays are channels-last float32 by default.

>>> import numpy as np
>>> from grebe.utils import array_to_img, img_to_array
>>> a = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
>>> img = array_to_img(a, scale=False)
>>> img.size, img.mode, img_to_array(img).shape
((2, 2), 'RGB', (2, 2, 3))
"""
from __future__ import annotations

import io
import os

import numpy as np

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

_INTERPOLATION = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC",
                  "hamming": "HAMMING", "box": "BOX", "lanczos": "LANCZOS"}


def _pil(who: str):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{who} needs Pillow to read and write images: pip install pillow") \
            from None
    return Image


def _data_format(data_format, who):
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    return data_format


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array (height, width, channels) with 1 (grey), 3 (RGB) or 4 (RGBA) channels to a
    PIL Image; scale=True maps the array's min..max to 0..255 first."""
    Image = _pil("array_to_img")
    data_format = _data_format(data_format, "array_to_img")
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img: Expected image array to have rank 3 (single image). "
                         f"Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    c = x.shape[2]
    if c not in (1, 3, 4):
        raise ValueError(f"array_to_img: Unsupported channel number: {c} (expected 1, 3 or 4; "
                         f"shape {x.shape})")
    if c == 1 and np.max(x) > 255:  # 16-bit grey, as Keras
        return Image.fromarray(x[:, :, 0].astype("int32"), "I")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]
    arr = x.astype("uint8")
    return Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode)


def img_to_array(img, data_format=None, dtype=None) -> np.ndarray:
    """A PIL Image to a float32 (or `dtype`) array (height, width, channels), a grey image
    getting one channel."""
    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: Unsupported image shape: {x.shape}")
    return x.transpose(2, 0, 1).copy() if data_format == "channels_first" else x


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes an image array to `path` (format from the extension, or `file_format`); RGBA
    saved as JPEG drops its alpha channel, as Keras."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    fmt = file_format
    if fmt is None and isinstance(path, (str, os.PathLike)):
        fmt = os.path.splitext(os.fspath(path))[1][1:] or None
    if img.mode == "RGBA" and (fmt or "").lower() in ("jpg", "jpeg"):
        img = img.convert("RGB")
    if fmt and fmt.lower() == "jpg":
        fmt = "jpeg"
    img.save(path, format=fmt, **kwargs)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Reads an image file (a path, bytes-like object or file object) as a PIL Image in
    `color_mode` ('grayscale', 'rgb', 'rgba'), resized to `target_size` (height, width) with
    `interpolation`; keep_aspect_ratio crops the centre to the target's aspect ratio first."""
    Image = _pil("load_img")
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError(f"load_img: color_mode must be 'grayscale', 'rgb' or 'rgba'. "
                         f"Received: color_mode={color_mode!r}")
    if isinstance(path, (bytes, bytearray)):
        path = io.BytesIO(path)
    elif isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
    img = Image.open(path)
    img.load()
    mode = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}[color_mode]
    if img.mode not in mode:
        img = img.convert(mode[0])
    if target_size is not None:
        if interpolation not in _INTERPOLATION:
            raise ValueError(f"load_img: Invalid interpolation method {interpolation!r}; "
                             f"supported: {', '.join(_INTERPOLATION)}")
        height, width = target_size
        if (img.size[0], img.size[1]) != (width, height):
            box = _centre_box(img.size, width, height) if keep_aspect_ratio else None
            resample = getattr(Image.Resampling, _INTERPOLATION[interpolation])
            img = img.resize((width, height), resample, box=box)
    return img


def _centre_box(size, width, height):
    w, h = size
    crop_h = min(h, (w * height) // width)
    crop_w = min(w, (h * width) // height)
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    return left, top, left + crop_w, top + crop_h
