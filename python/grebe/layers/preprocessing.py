"""Image preprocessing and augmentation layers with Keras's names: Rescaling, RandomFlip,
RandomTranslation. Inputs are channels-last images (N, H, W, C) or one image (H, W, C).

The random layers change their input only when called with ``training=True`` (what fit()
passes); otherwise — predict(), evaluate(), or a plain call — they return it unchanged. They
work on the data, so they pass no gradient: put them first in a model, or use them as a
DataLoader's ``augment``.

>>> import numpy as np, grebe
>>> flip = grebe.layers.RandomFlip("horizontal", seed=0)
>>> x = np.arange(4, dtype="float32").reshape(1, 1, 4, 1)
>>> flip(x, training=True).numpy().ravel().tolist() in ([0, 1, 2, 3], [3, 2, 1, 0])
True
>>> bool((flip(x).numpy() == x).all())      # not training: unchanged
True
"""
from __future__ import annotations

import numpy as np

from grebe.layers.layer import Layer
from grebe.tensor import Tensor

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")


class Rescaling(Layer):
    """y = x * scale + offset, e.g. ``Rescaling(1/255)`` for uint8 images (differentiable)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset
        self._scale = np.asarray(scale, np.float32)
        self._offset = np.asarray(offset, np.float32)

    def call(self, inputs):
        return inputs * self._scale + self._offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        scale = self._scale.tolist()
        offset = self._offset.tolist()
        return {**super().get_config(), "scale": scale, "offset": offset}


class _RandomImageLayer(Layer):
    """Shared by the random layers: seed handling, the training switch, unbatched images."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int,
                                                                                 np.integer))):
            raise ValueError(f"{type(self).__name__}: seed must be an integer or None, "
                             f"received seed={seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def _generator(self):
        if self._rng is not None:
            return self._rng
        from grebe import random as grebe_random

        return grebe_random.generator()

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__}: expected images (N, H, W, C) or (H, W, C),"
                             f" received shape {x.shape}")
        single = x.ndim == 3
        out = self._transform(x[None] if single else x, self._generator())
        out = np.ascontiguousarray(out[0] if single else out, dtype=np.float32)
        return Tensor(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2: mode 'horizontal' (left-right), 'vertical'
    (up-down) or 'horizontal_and_vertical' (each axis independently), as keras.layers."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip: mode must be 'horizontal', 'vertical' or "
                             f"'horizontal_and_vertical', received mode={mode!r}")
        self.mode = mode

    def _transform(self, x, rng):
        out = x.copy()
        n = len(x)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            sel = rng.random(n) < 0.5
            out[sel] = out[sel][:, :, ::-1]
        if self.mode in ("vertical", "horizontal_and_vertical"):
            sel = rng.random(n) < 0.5
            out[sel] = out[sel][:, ::-1]
        return out

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _factor_range(factor, name, layer):
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{layer}: {name} must be a float or a (lower, upper) pair, "
                             f"received {name}={factor!r}")
        lo, hi = float(factor[0]), float(factor[1])
    else:
        lo, hi = -abs(float(factor)), abs(float(factor))
    if not (-1.0 <= lo <= hi <= 1.0):
        raise ValueError(f"{layer}: {name} must lie in [-1, 1] with lower <= upper, received "
                         f"{name}={factor!r}")
    return lo, hi


def _check_modes(layer: str, fill_mode, interpolation) -> None:
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"{layer}: fill_mode must be one of {_FILL_MODES}, received "
                         f"fill_mode={fill_mode!r}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{layer}: interpolation must be one of {_INTERPOLATIONS}, received "
                         f"interpolation={interpolation!r}")


def _fill_index(k, n, mode):
    """Maps source indices k (any integers) into [0, n) by the fill mode; also returns the mask
    of indices that were inside (what 'constant' needs)."""
    inside = (k >= 0) & (k < n)
    if mode == "reflect":  # d c b a | a b c d | d c b a
        k = np.mod(k, 2 * n)
        k = np.where(k >= n, 2 * n - 1 - k, k)
    elif mode == "wrap":  # a b c d | a b c d | a b c d
        k = np.mod(k, n)
    else:  # nearest, and constant (whose outside samples are masked by the caller)
        k = np.clip(k, 0, n - 1)
    return k, inside


class RandomTranslation(_RandomImageLayer):
    """Shifts each image by a random fraction of its height and width: a factor f draws the
    shift from [-f, f] of the size, a pair (lo, hi) from [lo, hi] (positive moves the image
    down/right). fill_mode 'reflect' (default), 'wrap', 'constant' (fill_value) or 'nearest';
    interpolation 'bilinear' (default) or 'nearest', as keras.layers.RandomTranslation."""

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed=None, fill_value: float = 0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._h = _factor_range(height_factor, "height_factor", "RandomTranslation")
        self._w = _factor_range(width_factor, "width_factor", "RandomTranslation")
        _check_modes("RandomTranslation", fill_mode, interpolation)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _axis_samples(self, shift, size):
        """Per image and output position: [(source index, weight, inside mask)] taps."""
        src = np.arange(size)[None, :] - shift[:, None]  # out[i] = in[i - shift]
        if self.interpolation == "nearest":
            taps = [(np.floor(src + 0.5).astype(np.int64), np.ones_like(src))]
        else:
            k0 = np.floor(src).astype(np.int64)
            frac = src - k0
            taps = [(k0, 1.0 - frac), (k0 + 1, frac)]
        out = []
        for k, w in taps:
            k, inside = _fill_index(k, size, self.fill_mode)
            out.append((k, w, inside))
        return out

    def _transform(self, x, rng):
        n, h, w = x.shape[:3]
        dy = rng.uniform(*self._h, size=n) * h
        dx = rng.uniform(*self._w, size=n) * w
        rows, cols = self._axis_samples(dy, h), self._axis_samples(dx, w)
        b = np.arange(n)[:, None, None]
        out = np.zeros(x.shape, np.float64)
        outside = np.zeros((n, h, w), np.float64)
        for r, wr, ir in rows:
            for c, wc, ic in cols:
                weight = wr[:, :, None] * wc[:, None, :]
                if self.fill_mode == "constant":
                    ok = ir[:, :, None] & ic[:, None, :]
                    outside += weight * ~ok
                    weight = weight * ok
                out += weight[..., None] * x[b, r[:, :, None], c[:, None, :]]
        if self.fill_mode == "constant":
            out += outside[..., None] * self.fill_value
        return out

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomRotation(_RandomImageLayer):
    """Rotates each image by a random angle about its centre: a factor f draws the angle from
    [-f, f] x 2 pi, a pair (lo, hi) from [lo, hi] x 2 pi (positive: counter-clockwise).
    fill_mode 'reflect' (default), 'wrap', 'constant' (fill_value) or 'nearest'; interpolation
    'bilinear' (default) or 'nearest', as keras.layers.RandomRotation. Identity at inference."""

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed=None, fill_value: float = 0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._range = _factor_range(factor, "factor", "RandomRotation")
        _check_modes("RandomRotation", fill_mode, interpolation)
        self.factor, self.fill_mode, self.interpolation = factor, fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _transform(self, x, rng):
        n, h, w = x.shape[:3]
        angle = rng.uniform(*self._range, size=n) * 2.0 * np.pi
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        # Output pixel -> source pixel: the inverse rotation about the centre, in (row, col)
        # coordinates (rows grow down); matches Keras's sampling to float rounding.
        sy = cy + (yy - cy) * cos + (xx - cx) * sin
        sx = cx - (yy - cy) * sin + (xx - cx) * cos
        if self.interpolation == "nearest":
            taps = [(np.floor(sy + 0.5), np.floor(sx + 0.5), np.ones_like(sy))]
        else:
            y0, x0 = np.floor(sy), np.floor(sx)
            fy, fx = sy - y0, sx - x0
            taps = [(y0, x0, (1 - fy) * (1 - fx)), (y0 + 1, x0, fy * (1 - fx)),
                    (y0, x0 + 1, (1 - fy) * fx), (y0 + 1, x0 + 1, fy * fx)]
        b = np.arange(n)[:, None, None]
        out = np.zeros(x.shape, np.float64)
        outside = np.zeros((n, h, w), np.float64)
        for ty, tx, weight in taps:
            r, ir = _fill_index(ty.astype(np.int64), h, self.fill_mode)
            c, ic = _fill_index(tx.astype(np.int64), w, self.fill_mode)
            if self.fill_mode == "constant":
                ok = ir & ic
                outside += weight * ~ok
                weight = weight * ok
            out += weight[..., None] * x[b, r, c]
        if self.fill_mode == "constant":
            out += outside[..., None] * self.fill_value
        return out

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}
