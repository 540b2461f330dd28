"""Normalization: Keras 3's feature-wise standardization layer (keras.layers.Normalization).

y = (x - mean) / max(sqrt(variance), 1e-7) (invert=True: y = mean + x * max(sqrt(variance),
1e-7)), per position of the kept `axis` (default -1: per channel). mean/variance are given, or
learned by `adapt(data)`; without them the layer holds Keras's non-trainable weights `mean`
(zeros), `variance` (ones) and `count` (int, 0), in that order, so weight files match Keras's.

>>> import numpy as np, grebe
>>> norm = grebe.layers.Normalization()
>>> norm.adapt(np.array([[0.0, 10.0], [2.0, 30.0]], np.float32))
>>> norm(np.array([[1.0, 20.0]], np.float32)).numpy().tolist()
[[0.0, 0.0]]
"""
from __future__ import annotations

import numpy as np

from grebe.layers.layer import Layer
from grebe.tensor import Tensor

__all__ = ["Normalization"]

_EPSILON = 1e-7  # Keras's backend.epsilon()


class Normalization(Layer):
    """Standardizes inputs with a fixed or adapted mean and variance (see the module doc)."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self.supports_masking = True
        if (mean is not None) != (variance is not None):
            raise ValueError(f"Normalization: when setting values directly, both `mean` and "
                             f"`variance` must be set. Received: mean={mean} and "
                             f"variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization: `mean` and `variance` must have the same "
                                 f"shape. Received: mean shape {np.shape(mean)} and variance "
                                 f"shape {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization: the rank of `mean` must be at most the "
                                 f"number of axes ({len(self.axis)}). Received: mean shape "
                                 f"{np.shape(mean)} for axis {self.axis}")
        self._mean = self._variance = None

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"Normalization: all `axis` values must be in the range [-ndim, "
                             f"ndim). Received inputs with ndim={ndim}, while axis={self.axis}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(shape[d] is None for d in self._keep):
            raise ValueError(f"Normalization: all `axis` values to be kept must have a known "
                             f"shape. Received axis={self.axis}, inputs.shape={shape}")
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast = tuple(shape[d] if d in self._keep else 1 for d in range(ndim))
        self._stat_shape = tuple(shape[d] for d in self._keep)
        self._build_shape = shape
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", self._stat_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", self._stat_shape, "ones",
                                                  trainable=False)
            self.count = self.add_weight("count", (), "zeros", dtype="int32", trainable=False)
        else:
            mean = np.asarray(self.input_mean, np.float32)
            var = np.asarray(self.input_variance, np.float32)
            if mean.ndim:  # its axes are the last kept axes
                expanded = [1] * ndim
                for i in range(1, mean.ndim + 1):
                    expanded[self._keep[-i]] = mean.shape[-i]
                mean, var = mean.reshape(expanded), var.reshape(expanded)
            self._mean = np.ascontiguousarray(np.broadcast_to(mean, self._broadcast))
            self._variance = np.ascontiguousarray(np.broadcast_to(var, self._broadcast))
        self.built = True

    def _stats(self):
        if self.input_mean is not None:
            return self._mean, self._variance
        return (self.adapt_mean.data.reshape(self._broadcast),
                self.adapt_variance.data.reshape(self._broadcast))

    def adapt(self, data) -> None:
        """Learns mean and variance over the non-kept axes of `data`: an array, or an iterable
        of batches (merged with the parallel-variance update, as Keras)."""
        batches = [np.asarray(data, np.float32)] if hasattr(data, "shape") else \
            [np.asarray(b[0] if isinstance(b, tuple) else b, np.float32) for b in data]
        if not batches:
            raise ValueError("Normalization: adapt() received an empty iterable (no batches)")
        if not self.built:
            self.build(batches[0].shape)
        if self.input_mean is not None:
            raise ValueError("Normalization: adapt() cannot change a mean and variance given "
                             "to the constructor")
        mean = np.zeros(self._stat_shape, np.float64)
        var = np.zeros(self._stat_shape, np.float64)
        total = 0
        for b in batches:
            if b.ndim != len(self._build_shape) or \
                    any(b.shape[d] != self._build_shape[d] for d in self._keep):
                raise ValueError(f"Normalization: the layer was built with input_shape="
                                 f"{self._build_shape}, but adapt() received data with an "
                                 f"incompatible shape {b.shape}")
            b = b.astype(np.float64)
            bm, bv = b.mean(axis=self._reduce), b.var(axis=self._reduce)
            n = int(np.prod([b.shape[d] for d in self._reduce])) if self._reduce else 1
            total += n
            w = n / total
            new_mean = mean * (1 - w) + bm * w
            var = (var + (mean - new_mean) ** 2) * (1 - w) + (bv + (bm - new_mean) ** 2) * w
            mean = new_mean
        self.adapt_mean.assign(mean.reshape(self._stat_shape).astype(np.float32))
        self.adapt_variance.assign(var.reshape(self._stat_shape).astype(np.float32))

    def call(self, inputs):
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs, np.float32))
        mean, var = self._stats()
        if x.ndim != len(self._broadcast):
            raise ValueError(f"Normalization '{self.name}': expected input of rank "
                             f"{len(self._broadcast)}, received shape {tuple(x.shape)}")
        scale = np.maximum(np.sqrt(var), np.float32(_EPSILON)).astype(np.float32)
        if self.invert:
            return x * Tensor(scale) + Tensor(mean)
        return (x - Tensor(mean)) / Tensor(scale)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        def listed(v):
            return None if v is None else np.asarray(v).tolist()
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}
