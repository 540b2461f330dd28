"""Embedding (integer indices -> rows of a trainable matrix) and Masking, with Keras 3's names,
arguments and masks: Embedding(mask_zero=True) and Masking give the (batch, timesteps) mask that
recurrent layers consume.

>>> import numpy as np, grebe
>>> emb = grebe.layers.Embedding(10, 4, mask_zero=True)
>>> y = emb(grebe.tensor(np.array([[3, 1, 0]])))
>>> y.shape, y._keras_mask.tolist()
((1, 3, 4), [[True, True, False]])
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.layers.layer import Layer
from grebe.tensor import Tensor

__all__ = ["Embedding", "Masking"]


class EmbeddingLookup(Function):
    """embeddings (V, D), indices (...) int -> (..., D). Backward scatter-adds the upstream rows
    into a zero (V, D) gradient in index order (repeated indices add up, deterministically)."""

    @staticmethod
    def forward(ctx, embeddings, indices):
        ctx.save(indices, embeddings.shape)
        return np.ascontiguousarray(embeddings[indices])

    @staticmethod
    def backward(ctx, dy):
        indices, shape = ctx.saved
        dW = np.zeros(shape, dtype=np.float32)
        np.add.at(dW, indices.reshape(-1), dy.reshape(-1, shape[1]))
        return dW, None


class Embedding(Layer):
    """Turns non-negative integer indices into dense vectors of size `output_dim`.

    Inputs: integer Tensor/array (batch, ...) with values in [0, input_dim). Output: (batch, ...,
    output_dim). With mask_zero=True, index 0 is padding: the output carries the mask
    `inputs != 0` for the layers after it (LSTM, GRU, ...)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, input_length=None, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Embedding: received an invalid value for argument `{name}`, "
                                 f"expected a positive integer. Received: {name}={v!r}")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.embeddings_constraint = embeddings_constraint
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length  # Keras 2 argument: accepted, not needed
        self._initial_weights = weights

    def _initializer(self):
        if self.embeddings_initializer in ("uniform", "Uniform"):
            from grebe import initializers  # Keras's 'uniform': RandomUniform(-0.05, 0.05)

            return initializers.RandomUniform(-0.05, 0.05)
        return self.embeddings_initializer

    def build(self, input_shape=None) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self._initializer(),
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def _indices(self, inputs) -> np.ndarray:
        idx = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        if idx.dtype.kind == "f":
            if not np.all(np.isfinite(idx)) or not np.all(idx == np.round(idx)):
                raise TypeError("Embedding: expected integer indices, received non-integral "
                                f"floats (dtype {idx.dtype})")
            idx = idx.astype(np.int64)
        elif idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: expected integer indices, received dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.input_dim):
            bad = idx.min() if idx.min() < 0 else idx.max()
            raise ValueError(f"Embedding: index {int(bad)} is out of range [0, {self.input_dim})"
                             f" (input_dim={self.input_dim})")
        return idx

    def call(self, inputs):
        return EmbeddingLookup.apply(self.embeddings, self._indices(inputs))

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        idx = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        return idx != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        config = super().get_config()
        init = self.embeddings_initializer
        config.update({"input_dim": self.input_dim, "output_dim": self.output_dim,
                       "embeddings_initializer": init if isinstance(init, (str, dict)) else
                       type(init).__name__, "mask_zero": self.mask_zero})
        return config


class Masking(Layer):
    """Masks timesteps whose features all equal `mask_value`: their output is zeros and the
    (batch, timesteps) mask passed on is False there.

    >>> import numpy as np, grebe
    >>> y = grebe.layers.Masking()(np.array([[[1.0], [0.0]]], np.float32))
    >>> y._keras_mask.tolist()
    [[True, False]]
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def _mask(self, inputs) -> np.ndarray:
        x = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        return np.any(x != self.mask_value, axis=-1)

    def call(self, inputs):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        keep = self._mask(x)
        return x * Tensor(keep[..., None].astype(np.float32))

    def compute_mask(self, inputs, mask=None):
        return self._mask(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
