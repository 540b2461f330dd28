"""PythonOptimizer: the base of the optimizers whose update is vectorized numpy rather than a
fused native call (Adamax, Nadam, Lamb, Lion, Adadelta, Ftrl). It applies the base class's
gradient scaling, clipvalue and decoupled weight decay, then `_step` per weight, in place."""
from __future__ import annotations

import numpy as np

from grebe.optimizers.optimizer import Optimizer

_f32 = np.float32


def check_beta(cls: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{cls}: `{arg}` must be in [0, 1). Received: {arg}={value!r}")
    return float(value)


class PythonOptimizer(Optimizer):
    """Subclasses set `_slot_groups` and implement `_step(w, g, slots, lr, t)` where w, g and
    the slot arrays are float32 arrays of one weight (update w and slots in place) and t is the
    1-based step number."""

    def _begin(self, lr: float, t: int) -> None:
        """Hook run once per step before the weights (global state such as Nadam's)."""

    def _update(self, data, grads, slots, lr, wd, gscale, clip) -> None:
        t = self._iterations + 1
        self._begin(lr, t)
        names = [n for group in self._slot_groups for n in group]
        for i, (w, g) in enumerate(zip(data, grads)):
            g = np.asarray(g, _f32)
            if gscale:
                g = g * _f32(gscale[i])
            if clip:
                g = np.clip(g, -clip, clip)
            if wd and wd[i]:
                w -= w * _f32(wd[i] * lr)
            self._step(w, g, {n: slots[n][i] for n in names}, lr, t)

    def _step(self, w, g, slots, lr, t) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
