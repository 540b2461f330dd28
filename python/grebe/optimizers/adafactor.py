"""Adafactor (Shazeer & Stern 2018) with Keras 3's update, vectorized numpy: second moments
factored over the last two axes (row means r, column means c) for weights of rank >= 2."""
from __future__ import annotations

import math

import numpy as np

from grebe.optimizers.python_update import PythonOptimizer

_f32 = np.float32


def _rms(x) -> float:
    return math.sqrt(float(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


class Adafactor(PythonOptimizer):
    _slot_groups = (("r", "c", "v"),)

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, name="adafactor", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        self.relative_step = bool(relative_step)

    def _init_slot(self, name, w):
        s = w.data.shape
        if name == "v" or len(s) < 2:
            return np.zeros(s if name == "v" else (), _f32)
        return np.zeros(s[:-1] if name == "r" else s[:-2] + (s[-1],), _f32)

    def _step(self, w, g, s, lr, t):
        if self.relative_step and not callable(self._learning_rate):
            lr = min(lr, 1.0 / math.sqrt(t))
        rho = min(lr, 1.0 / math.sqrt(t))
        alpha = max(self.epsilon_2, _rms(w)) * rho
        g2 = g * g + _f32(self.epsilon_1)
        b2 = _f32(1.0 - t ** self.beta_2_decay)
        r, c, v = s["r"], s["c"], s["v"]
        if w.ndim >= 2:
            r[...] = b2 * r + (1 - b2) * g2.mean(-1)
            c[...] = b2 * c + (1 - b2) * g2.mean(-2)
            v[...] = (r / r.mean(-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v[...] = b2 * v + (1 - b2) * g2
        u = g / np.sqrt(v)
        u /= _f32(max(1.0, _rms(u) / self.clip_threshold))
        w -= _f32(alpha) * u

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold, "relative_step": self.relative_step}
