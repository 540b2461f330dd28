"""Adam's relatives with Keras 3's formulas, vectorized numpy: Adamax (infinity norm), Nadam
(Nesterov momentum with Dozat's momentum schedule) and Lamb (layer-wise trust ratio)."""
from __future__ import annotations

import numpy as np

from grebe.optimizers.python_update import PythonOptimizer, check_beta

_f32 = np.float32


class _AdamLike(PythonOptimizer):
    def __init__(self, learning_rate, beta_1, beta_2, epsilon, name, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        cls = type(self).__name__
        self.beta_1 = check_beta(cls, "beta_1", beta_1)
        self.beta_2 = check_beta(cls, "beta_2", beta_2)
        self.epsilon = float(epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adamax(_AdamLike):
    """m = b1 m + (1 - b1) g; u = max(b2 u, |g|); w -= lr / (1 - b1^t) * m / (u + eps)."""

    _slot_groups = (("m", "u"),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="adamax", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)

    def _step(self, w, g, s, lr, t):
        m, u = s["m"], s["u"]
        m += (g - m) * _f32(1 - self.beta_1)
        np.maximum(u * _f32(self.beta_2), np.abs(g), out=u)
        w -= _f32(lr / (1 - self.beta_1 ** t)) * m / (u + _f32(self.epsilon))


class Nadam(_AdamLike):
    """Adam with Nesterov momentum (Dozat 2016), Keras 3's schedule: u_t = b1 (1 - 0.5 *
    0.96^t); m_hat = u_{t+1} m / (1 - prod u_..t+1) + (1 - u_t) g / (1 - prod u_..t);
    w -= lr m_hat / (sqrt(v / (1 - b2^t)) + eps)."""

    _slot_groups = (("momentum", "velocity"),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="nadam", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)
        self._u_product = 1.0

    def _begin(self, lr, t):
        def u(step):
            return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)
        self._u_t, self._u_t1 = u(t), u(t + 1)
        self._prod_t = self._u_product * self._u_t
        self._prod_t1 = self._prod_t * self._u_t1
        self._u_product = self._prod_t

    def _step(self, w, g, s, lr, t):
        m, v = s["momentum"], s["velocity"]
        m += (g - m) * _f32(1 - self.beta_1)
        v += (g * g - v) * _f32(1 - self.beta_2)
        m_hat = _f32(self._u_t1 / (1 - self._prod_t1)) * m + \
            _f32((1 - self._u_t) / (1 - self._prod_t)) * g
        v_hat = v / _f32(1 - self.beta_2 ** t)
        w -= _f32(lr) * m_hat / (np.sqrt(v_hat) + _f32(self.epsilon))


class Lamb(_AdamLike):
    """Adam's direction scaled per weight by the trust ratio ||w|| / ||update|| (You et al.)."""

    _slot_groups = (("momentum", "velocity"),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="lamb", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)

    def _step(self, w, g, s, lr, t):
        m, v = s["momentum"], s["velocity"]
        m += (g - m) * _f32(1 - self.beta_1)
        v += (g * g - v) * _f32(1 - self.beta_2)
        m_hat = m / _f32(1 - self.beta_1 ** t)
        v_hat = v / _f32(1 - self.beta_2 ** t)
        update = m_hat / (np.sqrt(v_hat) + _f32(self.epsilon))
        wn = float(np.sqrt(np.sum(np.square(w, dtype=np.float64))))
        un = float(np.sqrt(np.sum(np.square(update, dtype=np.float64))))
        ratio = wn / un if wn > 0 and un > 0 else 1.0
        w -= _f32(lr * ratio) * update
