"""keras.ops.image basics, channels_last: rgb_to_grayscale, pad_images, crop_images, resize
(nearest and bilinear), all differentiable (weighted gathers)."""
from __future__ import annotations

import numpy as np

from grebe.ops._keras import fl, gather, keras_op, raw

_f32 = np.float32


@keras_op
def rgb_to_grayscale(images, data_format=None):
    v = fl(images)
    w = np.array([0.2989, 0.5870, 0.1140], _f32)
    from grebe.ops.reduce import sum as _sum
    return _sum(v * w, -1, True)


def _offsets(shape, top, left, height, width):
    h, w = shape[-3], shape[-2]
    return top, left, h if height is None else height, w if width is None else width


@keras_op
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    shape = np.shape(raw(images))
    h, w = shape[-3], shape[-2]
    top = top_padding or 0
    left = left_padding or 0
    bottom = bottom_padding if bottom_padding is not None else (target_height or h + top) - h - top
    right = right_padding if right_padding is not None else (target_width or w + left) - w - left
    widths = [(0, 0)] * (len(shape) - 3) + [(top, bottom), (left, right), (0, 0)]
    return gather(lambda a: np.pad(a, widths), images)


@keras_op
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    shape = np.shape(raw(images))
    h, w = shape[-3], shape[-2]
    top, left = top_cropping or 0, left_cropping or 0
    th = target_height if target_height is not None else h - top - (bottom_cropping or 0)
    tw = target_width if target_width is not None else w - left - (right_cropping or 0)
    return gather(lambda a: a[..., top:top + th, left:left + tw, :], images)


def _bilinear_axis(n_in, n_out):
    """Source indices and weights (lo, hi, w_hi) of half-pixel bilinear resampling."""
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(_f32)


@keras_op
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """images (..., H, W, C) -> (..., size[0], size[1], C), 'nearest' or 'bilinear'."""
    v = fl(images)
    h, w = np.shape(raw(v))[-3:-1]
    oh, ow = int(size[0]), int(size[1])
    if interpolation == "nearest":
        ri = np.minimum(np.floor((np.arange(oh) + 0.5) * h / oh).astype(np.int64), h - 1)
        ci = np.minimum(np.floor((np.arange(ow) + 0.5) * w / ow).astype(np.int64), w - 1)
        return gather(lambda a: a[..., ri, :, :][..., ci, :], v)
    if interpolation != "bilinear":
        raise ValueError(f"resize: interpolation must be 'nearest' or 'bilinear' in grebe, "
                         f"received {interpolation!r}")
    rl, rh, rw = _bilinear_axis(h, oh)
    cl, ch, cw = _bilinear_axis(w, ow)
    rows = gather(lambda a: a[..., rl, :, :], v) * (1 - rw)[:, None, None] + \
        gather(lambda a: a[..., rh, :, :], v) * rw[:, None, None]
    return gather(lambda a: a[..., cl, :], rows) * (1 - cw)[:, None] + \
        gather(lambda a: a[..., ch, :], rows) * cw[:, None]


__all__ = ["rgb_to_grayscale", "pad_images", "crop_images", "resize"]
