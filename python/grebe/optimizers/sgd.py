"""SGD (Keras 3): v = momentum * v - lr * g; w += v (Nesterov: w += momentum * v - lr * g)."""
from __future__ import annotations

from grebe import _C
from grebe.optimizers.optimizer import Optimizer


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    >>> import numpy as np, grebe
    >>> w = grebe.tensor(np.zeros(2, np.float32), requires_grad=True)
    >>> opt = grebe.optimizers.SGD(learning_rate=0.5, momentum=0.9)
    >>> opt.apply([np.ones(2, np.float32)], [w]); opt.apply([np.ones(2, np.float32)], [w])
    >>> w.data  # v1 = -0.5, v2 = 0.9 * -0.5 - 0.5
    array([-1.45, -1.45], dtype=float32)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or \
                not 0 <= momentum <= 1:
            raise ValueError(f"SGD: `momentum` must be a float between [0, 1]. Received: "
                             f"momentum={momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._slot_groups = (("momentum",),) if self.momentum != 0 else ()

    def _update(self, data, grads, slots, lr, wd, gscale, clip) -> None:
        _C.sgd_update(data, grads, slots.get("momentum"), lr, self.momentum, self.nesterov, wd,
                      gscale, clip)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
