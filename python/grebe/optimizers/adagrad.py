"""Adagrad (Keras 3): acc += g^2; w -= lr g / sqrt(acc + eps), acc starting at
initial_accumulator_value."""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.optimizers.optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad with per-weight accumulators.

    >>> import numpy as np, grebe
    >>> w = grebe.tensor(np.zeros(1, np.float32), requires_grad=True)
    >>> grebe.optimizers.Adagrad(learning_rate=0.1).apply([np.ones(1, np.float32)], [w])
    >>> np.round(w.data, 4)  # -0.1 / sqrt(0.1 + 1)
    array([-0.0953], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adagrad",
                 **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        if isinstance(initial_accumulator_value, bool) or \
                not isinstance(initial_accumulator_value, (int, float)) or \
                initial_accumulator_value < 0:
            raise ValueError("Adagrad: `initial_accumulator_value` must be a non-negative "
                             f"float. Received: {initial_accumulator_value!r}")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        self._slot_groups = (("accumulator",),)

    def _init_slot(self, name, w) -> np.ndarray:
        return np.full(w.data.shape, self.initial_accumulator_value, np.float32)

    def _update(self, data, grads, slots, lr, wd, gscale, clip) -> None:
        _C.adagrad_update(data, grads, slots["accumulator"], lr, self.epsilon, wd, gscale, clip)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
