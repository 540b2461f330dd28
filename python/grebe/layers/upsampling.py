"""Upsampling and axis layers (Keras 3): UpSampling1D, UpSampling2D, RepeatVector, Permute.

>>> import grebe, numpy as np
>>> grebe.layers.UpSampling2D((2, 3))(np.zeros((1, 4, 4, 3), np.float32)).shape
(1, 8, 12, 3)
>>> grebe.layers.RepeatVector(3)(np.zeros((2, 5), np.float32)).shape
(2, 3, 5)
>>> grebe.layers.Permute((2, 1))(np.zeros((2, 5, 4), np.float32)).shape
(2, 4, 5)

UpSampling2D's interpolation is 'nearest' (each row and column repeated) or 'bilinear'
(ops.resize_bilinear: half-pixel centers, as Keras 3's image.resize computes it).
"""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.ops._util import normalize_tuple
from grebe.ops.upsampling import repeat, resize_bilinear
from grebe.layers.layer import Layer


def _check_rank(input_shape, rank: int, who: str) -> tuple:
    input_shape = tuple(input_shape)
    if len(input_shape) != rank:
        raise ValueError(f'Input 0 of layer "{who}" is incompatible with the layer: expected '
                         f"ndim={rank}, found ndim={len(input_shape)}. Full shape received: "
                         f"{input_shape}")
    return input_shape


def _times(d, k):
    return None if d is None else d * k


class UpSampling1D(Layer):
    """Repeats each time step `size` times: (batch, steps, features) -> (batch, steps*size,
    features)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = normalize_tuple(size, 1, "size", "UpSampling1D")[0]

    def call(self, inputs):
        _check_rank(inputs.shape, 3, self.name)
        return repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape):
        s = _check_rank(input_shape, 3, self.name)
        return (s[0], _times(s[1], self.size), s[2])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """(batch, h, w, c) -> (batch, h*size[0], w*size[1], c), 'nearest' or 'bilinear'."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"UpSampling2D: only data_format='channels_last' is supported "
                             f"(grebe keeps data channels-last), received data_format="
                             f"{data_format!r}")
        self.data_format = "channels_last"
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: `interpolation` argument should be one of "
                             f"'nearest', 'bilinear' in grebe (Keras also has 'bicubic', "
                             f"'lanczos3', 'lanczos5', 'area'). Received: "
                             f"interpolation={interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        n, h, w, c = _check_rank(inputs.shape, 4, self.name)
        if self.interpolation == "bilinear":
            return resize_bilinear(inputs, (h * self.size[0], w * self.size[1]))
        y = repeat(inputs, self.size[0], axis=1) if self.size[0] > 1 else inputs
        return repeat(y, self.size[1], axis=2) if self.size[1] > 1 else y

    def compute_output_shape(self, input_shape):
        s = _check_rank(input_shape, 4, self.name)
        return (s[0], _times(s[1], self.size[0]), _times(s[2], self.size[1]), s[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated n times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"Expected an integer value for `n`, got {type(n).__name__}.")
        if n < 1:
            raise ValueError(f"RepeatVector: `n` must be a positive integer, received n={n}")
        self.n = int(n)

    def call(self, inputs):
        _check_rank(inputs.shape, 2, self.name)
        return repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape):
        s = _check_rank(input_shape, 2, self.name)
        return (s[0], self.n, s[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the non-batch axes: dims is a permutation of 1..rank-1 (1-based, as Keras)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. The set "
                             f"of indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={dims}")

    def call(self, inputs):
        _check_rank(inputs.shape, len(self.dims) + 1, self.name)
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        s = _check_rank(input_shape, len(self.dims) + 1, self.name)
        return (s[0],) + tuple(s[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
