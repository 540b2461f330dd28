"""Lion (Chen et al. 2023), Keras 3's form: w -= lr * sign(b1 m + (1 - b1) g);
m = b2 m + (1 - b2) g. Vectorized numpy."""
from __future__ import annotations

import numpy as np

from grebe.optimizers.python_update import PythonOptimizer, check_beta

_f32 = np.float32


class Lion(PythonOptimizer):
    _slot_groups = (("momentum",),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1 = check_beta("Lion", "beta_1", beta_1)
        self.beta_2 = check_beta("Lion", "beta_2", beta_2)
        if self.beta_1 <= 0 or self.beta_1 > 1:
            raise ValueError(f"Lion: `beta_1` must be in (0, 1]. Received: beta_1={beta_1}")

    def _step(self, w, g, s, lr, t):
        m = s["momentum"]
        w -= _f32(lr) * np.sign(m * _f32(self.beta_1) + g * _f32(1 - self.beta_1))
        m *= _f32(self.beta_2)
        m += g * _f32(1 - self.beta_2)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
