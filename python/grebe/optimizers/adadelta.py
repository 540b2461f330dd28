"""Adadelta (Zeiler 2012) and FTRL-proximal (McMahan et al. 2013) with Keras 3's formulas,
vectorized numpy."""
from __future__ import annotations

import numpy as np

from grebe.optimizers.python_update import PythonOptimizer

_f32 = np.float32


class Adadelta(PythonOptimizer):
    """a_g = rho a_g + (1 - rho) g^2; d = -sqrt(a_d + eps) / sqrt(a_g + eps) g;
    a_d = rho a_d + (1 - rho) d^2; w += lr d."""

    _slot_groups = (("accumulated_grad", "accumulated_delta_var"),)

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _step(self, w, g, s, lr, t):
        ag, ad = s["accumulated_grad"], s["accumulated_delta_var"]
        rho, eps = _f32(self.rho), _f32(self.epsilon)
        ag *= rho
        ag += (1 - rho) * g * g
        d = -np.sqrt(ad + eps) / np.sqrt(ag + eps) * g
        ad *= rho
        ad += (1 - rho) * d * d
        w += _f32(lr) * d

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Ftrl(PythonOptimizer):
    """FTRL-proximal with L1, L2 and L2-shrinkage regularization, Keras's update."""

    _slot_groups = (("accumulator", "linear"),)

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, name="ftrl", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"Ftrl: `initial_accumulator_value` must be >= 0, received "
                             f"{initial_accumulator_value}")
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: `learning_rate_power` must be <= 0, received "
                             f"{learning_rate_power}")
        for arg, v in (("l1_regularization_strength", l1_regularization_strength),
                       ("l2_regularization_strength", l2_regularization_strength),
                       ("l2_shrinkage_regularization_strength",
                        l2_shrinkage_regularization_strength)):
            if v < 0:
                raise ValueError(f"Ftrl: `{arg}` must be >= 0, received {v}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def _init_slot(self, name, w):
        if name == "accumulator":
            return np.full(w.data.shape, self.initial_accumulator_value, _f32)
        return np.zeros(w.data.shape, _f32)

    def _step(self, w, g, s, lr, t):
        acc, lin = s["accumulator"], s["linear"]
        p = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        g_use = g + _f32(2 * self.l2_shrinkage_regularization_strength) * w
        new_acc = acc + g * g
        lin += g_use - (np.power(new_acc, _f32(p)) - np.power(acc, _f32(p))) / _f32(lr) * w
        quad = np.power(new_acc, _f32(p)) / _f32(lr) + _f32(2 * l2)
        w[...] = (np.clip(lin, -l1, l1) - lin) / quad
        acc[...] = new_acc

    def get_config(self) -> dict:
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
