"""Reshaping layers (Keras 3 names, arguments and defaults; channels_last only): Flatten,
Reshape, ZeroPadding1D/2D, Cropping1D/2D. The batch axis is never touched.

>>> import grebe, numpy as np
>>> grebe.layers.Flatten()(np.zeros((2, 3, 4), np.float32)).shape
(2, 12)
>>> grebe.layers.Reshape((-1, 2)).compute_output_shape((None, 3, 4))
(None, 6, 2)
>>> grebe.layers.ZeroPadding2D(((1, 0), (2, 2)))(np.ones((1, 2, 2, 1), np.float32)).shape
(1, 3, 6, 1)
"""
from __future__ import annotations

import math

import numpy as np

from grebe import ops
from grebe.layers.layer import Layer
from grebe.ops._util import normalize_tuple

__all__ = ["Flatten", "Reshape", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D"]


def _data_format(data_format, who: str) -> str:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{who}: only data_format='channels_last' is supported. Received: "
                         f"data_format={data_format!r}")
    return "channels_last"


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _prod(dims):
    return None if any(d is None for d in dims) else math.prod(dims)


class Flatten(Layer):
    """Flattens every axis but the batch: (batch, ...) -> (batch, prod(...))."""

    def __init__(self, data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_format = _data_format(data_format, "Flatten")

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if not shape:
            raise ValueError("Flatten: expected an input with a batch axis, received a scalar")
        return (shape[0], _prod(shape[1:]) if len(shape) > 1 else 1)

    def call(self, inputs):
        n = inputs.shape[0]
        return ops.reshape(inputs, (n, math.prod(inputs.shape[1:])))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """(batch, ...) -> (batch,) + target_shape; one entry of target_shape may be -1.

    >>> import grebe, numpy as np
    >>> grebe.layers.Reshape((3, 2))(np.zeros((4, 6), np.float32)).shape
    (4, 3, 2)
    """

    def __init__(self, target_shape, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        try:
            target = tuple(target_shape)
        except TypeError:
            target = None
        if target is None or not all(_is_int(d) and (d > 0 or d == -1) for d in target) or \
                target.count(-1) > 1:
            raise ValueError(f"Reshape: target_shape must be a tuple of positive integers with "
                             f"at most one -1. Received: target_shape={target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def _resolve(self, dims: tuple) -> tuple:
        """target_shape with -1 filled in for a sample of shape `dims` (None when unknown)."""
        size = _prod(dims)
        known = math.prod(d for d in self.target_shape if d != -1)
        if size is None:
            return tuple(None if d == -1 else d for d in self.target_shape)
        if (-1 in self.target_shape and size % known) or \
                (-1 not in self.target_shape and size != known):
            raise ValueError(f"Reshape: cannot reshape an input of shape {dims} ({size} values "
                             f"per sample) to target_shape {self.target_shape}"
                             + ("" if -1 in self.target_shape else f" ({known} values)"))
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def build(self, input_shape):
        self._resolve(tuple(input_shape)[1:])
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        return (shape[0],) + self._resolve(shape[1:])

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0],) + self._resolve(tuple(inputs.shape[1:])))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


def _pairs2d(value, arg: str, who: str) -> tuple:
    """Keras's 2D forms: int; (sym_h, sym_w); ((top, bottom), (left, right))."""
    if _is_int(value):
        p = normalize_tuple(value, 2, arg, who, allow_zero=True)
        return p, p
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if items is None or len(items) != 2:
        raise ValueError(f"{who}: `{arg}` should have two elements. Received: {arg}={value!r}")
    return (normalize_tuple(items[0], 2, arg, who, allow_zero=True),
            normalize_tuple(items[1], 2, arg, who, allow_zero=True))


def _check_rank(input_shape, rank: int, who: str, layout: str) -> tuple:
    shape = tuple(input_shape)
    if len(shape) != rank:
        raise ValueError(f"{who}: expected an input of rank {rank} {layout}, received "
                         f"input_shape={shape}")
    return shape


class ZeroPadding1D(Layer):
    """Zeros before and after the steps axis: (batch, steps, ch) -> (batch, steps + l + r, ch)."""

    def __init__(self, padding=1, data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.padding = normalize_tuple(padding, 2, "padding", "ZeroPadding1D", allow_zero=True)
        self.data_format = _data_format(data_format, "ZeroPadding1D")

    def build(self, input_shape):
        _check_rank(input_shape, 3, "ZeroPadding1D", "(batch, steps, channels)")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, steps, c = _check_rank(input_shape, 3, "ZeroPadding1D", "(batch, steps, channels)")
        return n, None if steps is None else steps + sum(self.padding), c

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0), self.padding, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class ZeroPadding2D(Layer):
    """Zeros around height and width; padding: int, (sym_h, sym_w) or
    ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.padding = _pairs2d(padding, "padding", "ZeroPadding2D")
        self.data_format = _data_format(data_format, "ZeroPadding2D")

    def build(self, input_shape):
        _check_rank(input_shape, 4, "ZeroPadding2D", "(batch, height, width, channels)")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, h, w, c = _check_rank(input_shape, 4, "ZeroPadding2D",
                                 "(batch, height, width, channels)")
        (t, b), (l, r) = self.padding
        return n, None if h is None else h + t + b, None if w is None else w + l + r, c

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class Cropping1D(Layer):
    """Drops `cropping` = (start, end) steps: (batch, steps, ch) -> (batch, steps - s - e, ch)."""

    def __init__(self, cropping=(1, 1), name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.cropping = normalize_tuple(cropping, 2, "cropping", "Cropping1D", allow_zero=True)

    def build(self, input_shape):
        _, steps, _ = _check_rank(input_shape, 3, "Cropping1D", "(batch, steps, channels)")
        if steps is not None and steps <= sum(self.cropping):
            raise ValueError(f"Cropping1D: cropping {self.cropping} leaves nothing of an input "
                             f"with {steps} steps (input_shape={tuple(input_shape)})")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, steps, c = _check_rank(input_shape, 3, "Cropping1D", "(batch, steps, channels)")
        return n, None if steps is None else steps - sum(self.cropping), c

    def call(self, inputs):
        s, e = self.cropping
        return ops.getitem(inputs, (slice(None), slice(s, inputs.shape[1] - e)))

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(Layer):
    """Drops rows and columns at the edges; cropping: int, (sym_h, sym_w) or
    ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.cropping = _pairs2d(cropping, "cropping", "Cropping2D")
        self.data_format = _data_format(data_format, "Cropping2D")

    def build(self, input_shape):
        _, h, w, _ = _check_rank(input_shape, 4, "Cropping2D",
                                 "(batch, height, width, channels)")
        for d, crop in ((h, self.cropping[0]), (w, self.cropping[1])):
            if d is not None and d <= sum(crop):
                raise ValueError(f"Cropping2D: cropping {self.cropping} leaves nothing of an "
                                 f"input of shape {tuple(input_shape)}")
        self.built = True

    def compute_output_shape(self, input_shape):
        n, h, w, c = _check_rank(input_shape, 4, "Cropping2D",
                                 "(batch, height, width, channels)")
        (t, b), (l, r) = self.cropping
        return n, None if h is None else h - t - b, None if w is None else w - l - r, c

    def call(self, inputs):
        (t, b), (l, r) = self.cropping
        return ops.getitem(inputs, (slice(None), slice(t, inputs.shape[1] - b),
                                    slice(l, inputs.shape[2] - r)))

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}
