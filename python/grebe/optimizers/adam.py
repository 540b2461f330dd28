"""Adam and AdamW (Keras 3): m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
w -= m * alpha / (sqrt(v) + eps), alpha = lr * sqrt(1 - b2^t) / (1 - b1^t). AdamW is Adam with
decoupled weight decay (Keras applies weight_decay the same way in every optimizer)."""
from __future__ import annotations

import math

from grebe import _C
from grebe.optimizers.optimizer import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba), optionally AMSGrad, with Keras 3's epsilon placement.

    >>> import numpy as np, grebe
    >>> w = grebe.tensor(np.zeros(2, np.float32), requires_grad=True)
    >>> opt = grebe.optimizers.Adam(learning_rate=0.1)
    >>> opt.apply([np.ones(2, np.float32)], [w])
    >>> np.round(w.data, 4)  # the first step moves each weight by about lr
    array([-0.1, -0.1], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 <= value < 1:
                raise ValueError(f"{type(self).__name__}: `{arg}` must be in [0, 1). Received:"
                                 f" {arg}={value!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)
        self._slot_groups = (("momentum", "velocity"),) + \
            ((("velocity_hat",),) if self.amsgrad else ())

    def _update(self, data, grads, slots, lr, wd, gscale, clip) -> None:
        t = self._iterations + 1
        alpha = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        _C.adam_update(data, grads, slots["momentum"], slots["velocity"],
                       slots.get("velocity_hat"), lr, alpha, self.beta_1, self.beta_2,
                       self.epsilon, wd, gscale, clip)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): w -= w * weight_decay * lr
    before each Adam step. Keras 3's default weight_decay is 0.004."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
