"""RMSprop (Keras 3): v = rho v + (1 - rho) g^2; inc = lr g / sqrt(v + eps) (centered:
sqrt(v - a^2 + eps), a the running mean of g); with momentum m = momentum m + inc, w -= m."""
from __future__ import annotations

from grebe import _C
from grebe.optimizers.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop with Keras 3's epsilon inside the square root.

    >>> import numpy as np, grebe
    >>> w = grebe.tensor(np.zeros(1, np.float32), requires_grad=True)
    >>> grebe.optimizers.RMSprop(learning_rate=0.1).apply([np.ones(1, np.float32)], [w])
    >>> np.round(w.data, 4)  # -0.1 / sqrt(0.1)
    array([-0.3162], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or momentum < 0:
            raise ValueError(f"RMSprop: `momentum` must be a non-negative float. Received: "
                             f"momentum={momentum!r}")
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self._slot_groups = (("velocity",),) + ((("momentum",),) if self.momentum > 0 else ()) + \
            ((("average_gradient",),) if self.centered else ())

    def _update(self, data, grads, slots, lr, wd, gscale, clip) -> None:
        _C.rmsprop_update(data, grads, slots["velocity"], slots.get("momentum"),
                          slots.get("average_gradient"), lr, self.rho, self.momentum,
                          self.epsilon, wd, gscale, clip)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
