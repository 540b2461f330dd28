"""Regularization layers (Keras 3 names, arguments and defaults): Dropout, SpatialDropout1D/2D,
GaussianNoise, GaussianDropout, AlphaDropout (the identity unless called with a truthy
`training`) and ActivityRegularization (the identity, adding a penalty on its output).

Randomness: seed=None draws from grebe's global generator (`grebe.random.seed` reproduces it);
an integer seed gives the layer its own stream, so the same layer draws a new mask at every
call but the same sequence of masks in every run (Keras's SeedGenerator behaviour).

>>> import grebe, numpy as np
>>> layer = grebe.layers.Dropout(0.5, seed=0)
>>> x = np.ones((2, 3), np.float32)
>>> bool((layer(x).numpy() == x).all())          # inference: the identity
True
>>> sorted(set(layer(x, training=True).numpy().ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
True
"""
from __future__ import annotations

import numpy as np

from grebe import ops
from grebe import random as _random
from grebe.layers.layer import Layer
from grebe.ops.dropout import Dropout as _DropoutFn
from grebe.ops.dropout import check_rate, dropout_mask

__all__ = ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
           "GaussianDropout", "AlphaDropout", "ActivityRegularization"]


def _check_seed(seed, who: str):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{who}: seed must be an integer or None. Received: seed={seed!r}")
    return None if seed is None else int(seed)


class _Random(Layer):
    """A layer that draws random numbers: its own Generator for a fixed seed, else grebe's."""

    def __init__(self, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.seed = _check_seed(seed, type(self).__name__)
        self._rng = None if self.seed is None else np.random.default_rng(self.seed)
        self.supports_masking = True

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else _random.generator()


class Dropout(_Random):
    """Inverted dropout: in training, zeroes each input with probability `rate` and scales the
    rest by 1 / (1 - rate); `noise_shape` (entries 1 or None) shares one draw along axes."""

    def __init__(self, rate, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(seed, name=name, **kwargs)
        self.rate = check_rate(rate, type(self).__name__)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def _noise_shape(self, shape):
        return self.noise_shape

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        mask = dropout_mask(inputs.shape, self.rate, self._noise_shape(inputs.shape),
                            self._generator(), who=type(self).__name__)
        return _DropoutFn.apply(inputs, mask)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


class SpatialDropout1D(Dropout):
    """Drops whole channels: one draw per (sample, channel) of a (batch, steps, channels) input."""

    def __init__(self, rate, seed=None, name=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"SpatialDropout1D: expected an input of rank 3 (batch, steps, "
                             f"channels), received input_shape={tuple(input_shape)}")
        self.built = True

    def _noise_shape(self, shape):
        return (shape[0], 1, shape[2])

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape")
        return config


class SpatialDropout2D(Dropout):
    """Drops whole feature maps: one draw per (sample, channel) of a (batch, h, w, ch) input."""

    def __init__(self, rate, data_format=None, seed=None, name=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, **kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"SpatialDropout2D: only data_format='channels_last' is "
                             f"supported. Received: data_format={data_format!r}")
        self.data_format = "channels_last"

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"SpatialDropout2D: expected an input of rank 4 (batch, height, "
                             f"width, channels), received input_shape={tuple(input_shape)}")
        self.built = True

    def _noise_shape(self, shape):
        return (shape[0], 1, 1, shape[3])

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape")
        return {**config, "data_format": self.data_format}


class GaussianNoise(_Random):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` in training."""

    def __init__(self, stddev, seed=None, name=None, **kwargs):
        super().__init__(seed, name=name, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(f"GaussianNoise: stddev must be a non-negative number. Received: "
                             f"stddev={stddev!r}")
        self.stddev = float(stddev)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0.0:
            return inputs
        noise = self._generator().standard_normal(inputs.shape, dtype=np.float32)
        noise *= np.float32(self.stddev)
        return ops.add(inputs, noise)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Random):
    """Multiplies by Gaussian noise of mean 1 and stddev sqrt(rate / (1 - rate)) in training."""

    def __init__(self, rate, seed=None, name=None, **kwargs):
        super().__init__(seed, name=name, **kwargs)
        self.rate = check_rate(rate, "GaussianDropout")

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        noise = self._generator().standard_normal(inputs.shape, dtype=np.float32)
        noise *= np.float32(np.sqrt(self.rate / (1.0 - self.rate)))
        noise += np.float32(1.0)
        return ops.multiply(inputs, noise)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(_Random):
    """Dropout that keeps SELU's self-normalization (Klambauer et al. 2017): in training,
    dropped inputs are set to SELU's negative saturation -alpha*scale, then an affine map
    a*x + b restores the mean and variance."""

    _ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946

    def __init__(self, rate, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(seed, name=name, **kwargs)
        self.rate = check_rate(rate, "AlphaDropout")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        shape = tuple(inputs.shape) if self.noise_shape is None else tuple(
            d if n is None else n for n, d in zip(self.noise_shape, inputs.shape))
        keep = (self._generator().random(shape) >= self.rate).astype(np.float32)
        ap, rate = self._ALPHA_P, self.rate
        a = ((1.0 - rate) * (1.0 + rate * ap ** 2)) ** -0.5
        b = -a * ap * rate
        # a * (x * keep + ap * (1 - keep)) + b, as one multiply and one add on the Tensor.
        scale = np.broadcast_to(np.float32(a) * keep, inputs.shape)
        shift = np.broadcast_to(np.float32(a * ap) * (1.0 - keep) + np.float32(b),
                                inputs.shape)
        return ops.add(ops.multiply(inputs, np.ascontiguousarray(scale)),
                       np.ascontiguousarray(shift, dtype=np.float32))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}


class ActivityRegularization(Layer):
    """The identity, adding l1 * sum(|x|) + l2 * sum(x ** 2) of each call's input to
    `layer.losses` (and so to the training loss), as Keras 3 does (no division by the batch)."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        from grebe import regularizers

        self.l1, self.l2 = float(l1), float(l2)
        for arg, v in (("l1", self.l1), ("l2", self.l2)):
            if v < 0:
                raise ValueError(f"ActivityRegularization: {arg} must be >= 0, received "
                                 f"{arg}={v}")
        self._regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)
        self.supports_masking = True

    def call(self, inputs):
        self.add_loss(self._regularizer(inputs))
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
