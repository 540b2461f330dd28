"""Pooling layers (Keras 3 names, arguments and defaults; channels_last only).

MaxPooling1D/2D and AveragePooling1D/2D share one rank-generic base; the global poolings
reduce every axis between batch and channels.

>>> import grebe, numpy as np
>>> layer = grebe.layers.MaxPooling2D(pool_size=(2, 2))
>>> layer(np.zeros((1, 5, 4, 3), np.float32)).shape
(1, 2, 2, 3)
>>> grebe.layers.GlobalAveragePooling1D(keepdims=True).compute_output_shape((None, 10, 8))
(None, 1, 8)
"""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe.layers.layer import Layer
from grebe.ops import pool as _pool_ops
from grebe.ops._util import normalize_tuple
from grebe.ops.pool import normalize_padding, pool_output_length

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D"]

_LAYOUT = {1: "(batch, steps, channels)", 2: "(batch, height, width, channels)"}


def _check_data_format(data_format, who: str) -> str:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{who}: only data_format='channels_last' is supported. Received: "
                         f"data_format={data_format!r}")
    return "channels_last"


def _check_rank(input_shape, rank: int, who: str) -> tuple:
    shape = tuple(input_shape)
    if len(shape) != rank + 2:
        raise ValueError(f"{who}: expected an input of rank {rank + 2} {_LAYOUT[rank]}, "
                         f"received input_shape={shape}")
    return shape


class _Pooling(Layer):
    """Rank-generic max / average pooling; subclasses fix `rank` and `mode`."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        who = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", who)
        self.strides = self.pool_size if strides is None else \
            normalize_tuple(strides, self.rank, "strides", who)
        self.padding = normalize_padding(padding, who)
        self.data_format = _check_data_format(data_format, who)
        # The op's Function and its 2D arguments, normalized once (1D pools H = 1).
        self._fn = _pool_ops.MaxPool2D if self.mode == "max" else _pool_ops.AvgPool2D
        self._pool2d = (1,) * (2 - self.rank) + self.pool_size
        self._strides2d = (1,) * (2 - self.rank) + self.strides

    def build(self, input_shape):
        who = type(self).__name__
        shape = _check_rank(input_shape, self.rank, who)
        spatial = shape[1:-1]
        if self.padding == "valid" and any(d is not None and d < k
                                           for d, k in zip(spatial, self.pool_size)):
            pool = self.pool_size if self.rank > 1 else self.pool_size[0]
            size = spatial if self.rank > 1 else spatial[0]
            raise ValueError(f"{who}: pool_size {pool} is larger than the input {size} with "
                             f"padding='valid'")
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = _check_rank(input_shape, self.rank, type(self).__name__)
        out = tuple(pool_output_length(d, k, s, self.padding)
                    for d, k, s in zip(shape[1:-1], self.pool_size, self.strides))
        return (shape[0],) + out + (shape[-1],)

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            _check_rank(inputs.shape, self.rank, type(self).__name__)
        return self._fn.apply(inputs, self._pool2d, self._strides2d, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling):
    """Max over windows of `pool_size` steps: (batch, steps, channels) -> (batch, steps', ch).

    >>> import grebe, numpy as np
    >>> x = np.arange(6, dtype=np.float32).reshape(1, 6, 1)
    >>> grebe.layers.MaxPooling1D(2)(x).numpy().ravel()
    array([1., 3., 5.], dtype=float32)
    """

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling2D(_Pooling):
    """Max over pool_size windows: (batch, h, w, channels) -> (batch, h', w', channels)."""

    rank, mode = 2, "max"

    _fusable_max_pool = True  # may follow a relu Conv2D in one kernel (layers/fusion.py)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of `pool_size` steps ('same' padding is not counted)."""

    rank, mode = 1, "avg"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over pool_size windows ('same' padding is not counted, as Keras/TF)."""

    rank, mode = 2, "avg"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class _GlobalPooling(Layer):
    """Reduces every axis between batch and channels; subclasses fix `rank` and `mode`."""

    rank = 2
    mode = "max"

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_format = _check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        _check_rank(input_shape, self.rank, type(self).__name__)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = _check_rank(input_shape, self.rank, type(self).__name__)
        if self.keepdims:
            return (shape[0],) + (1,) * self.rank + (shape[-1],)
        return (shape[0], shape[-1])

    def call(self, inputs):
        fn = ops.global_max_pool if self.mode == "max" else ops.global_avg_pool
        return fn(inputs, keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over steps: (batch, steps, channels) -> (batch, channels). With a mask (batch,
    steps), the mean over the unmasked steps only, as Keras."""

    rank, mode = 1, "avg"

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(data_format, keepdims, name=name, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        m = np.asarray(getattr(mask, "data", mask), dtype=np.float32)
        m = m.reshape(m.shape[0], m.shape[1], 1)
        total = ops.sum(inputs * m, axis=1, keepdims=self.keepdims)
        count = m.sum(axis=1, keepdims=self.keepdims)
        return total / count

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (batch, h, w, channels) -> (batch, channels)."""

    rank, mode = 2, "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over steps: (batch, steps, channels) -> (batch, channels)."""

    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: (batch, h, w, channels) -> (batch, channels)."""

    rank, mode = 2, "max"


# Keras's aliases.
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
