"""Random regularization ops: inverted dropout (and the mask drawing the layers share).

Masks come from grebe's one random source (`grebe.random`), so `grebe.random.seed(s)` (or
`grebe.utils.set_random_seed(s)`) reproduces them; an explicit `seed` gives a private stream.

>>> import grebe, numpy as np
>>> y = grebe.ops.dropout(grebe.tensor(np.ones((2, 4))), 0.5, seed=1)
>>> sorted(set(y.numpy().ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
True
"""
from __future__ import annotations

import numpy as np

from grebe import random as _random
from grebe.autograd import Function
from grebe.tensor import Tensor

__all__ = ["dropout", "dropout_mask", "check_rate"]


def check_rate(rate, who: str) -> float:
    """rate as a float in [0, 1), or a ValueError naming `who`."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"{who}: invalid value received for argument `rate`. Expected a float "
                         f"value in [0, 1). Received: rate={rate!r}")
    return float(rate)


def _generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return _random.generator()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"dropout: seed must be an integer, a numpy Generator or None, "
                         f"received seed={seed!r}")
    return np.random.default_rng(int(seed))


def _noise_shape(shape: tuple, noise_shape, who: str) -> tuple:
    if noise_shape is None:
        return shape
    noise = tuple(shape[i] if d is None else int(d) for i, d in enumerate(noise_shape)) \
        if len(noise_shape) == len(shape) else None
    if noise is None or any(d not in (1, n) for d, n in zip(noise, shape)):
        raise ValueError(f"{who}: noise_shape {tuple(noise_shape)} must broadcast to the input "
                         f"shape {shape} (each entry 1, None or the input's size)")
    return noise


def dropout_mask(shape: tuple, rate: float, noise_shape=None, seed=None,
                 who: str = "dropout") -> np.ndarray:
    """A float32 mask of `noise_shape` (default `shape`): 0 with probability `rate`, else
    1 / (1 - rate), so that x * mask keeps the expected value of x (inverted dropout)."""
    noise = _noise_shape(tuple(shape), noise_shape, who)
    keep = _generator(seed).random(noise, dtype=np.float32) >= np.float32(rate)
    mask = keep.astype(np.float32)
    mask *= np.float32(1.0 / (1.0 - rate))
    return mask


class Dropout(Function):
    """x (...), mask (broadcastable to x) -> x * mask; the gradient is dy * mask."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save(mask)
        return x * mask

    @staticmethod
    def backward(ctx, dy):
        return dy * ctx.saved[0], None


def dropout(x, rate: float, noise_shape=None, seed=None) -> Tensor:
    """Zeroes each element (or each slice, with `noise_shape`) of x with probability `rate` and
    scales the rest by 1 / (1 - rate). Always applies: layers.Dropout decides when to call it.
    seed: None (grebe's global generator), an int (the same mask at every call, as Keras's
    functional random ops) or a numpy Generator."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    rate = check_rate(rate, "dropout")
    if rate == 0.0:
        return x
    return Dropout.apply(x, dropout_mask(x.shape, rate, noise_shape, seed))
