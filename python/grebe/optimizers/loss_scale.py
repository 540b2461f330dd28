"""LossScaleOptimizer: Keras 3's dynamic loss scaling around another optimizer.

`scale_loss(loss)` multiplies the loss by the current scale; `apply(grads, weights)` divides the
(scaled) gradients by it and, when they are all finite, lets the inner optimizer step and
doubles the scale after `dynamic_growth_steps` finite steps in a row; a non-finite gradient
skips the step and halves the scale. (grebe computes in float32, or with bfloat16 products
under mixed_bfloat16, whose float32 exponent range needs no scaling; it is here for code
written for Keras, where it matters with float16.)
"""
from __future__ import annotations

import numpy as np

from grebe.optimizers.optimizer import Optimizer
from grebe.tensor import Tensor


class LossScaleOptimizer(Optimizer):
    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not isinstance(inner_optimizer, Optimizer):
            raise ValueError(f"LossScaleOptimizer: inner_optimizer must be an Optimizer, "
                             f"received {inner_optimizer!r}")
        if not initial_scale > 0 or int(dynamic_growth_steps) < 1:
            raise ValueError(f"LossScaleOptimizer: initial_scale must be > 0 and "
                             f"dynamic_growth_steps >= 1, received {initial_scale}, "
                             f"{dynamic_growth_steps}")
        super().__init__(inner_optimizer.learning_rate if not callable(
            inner_optimizer._learning_rate) else inner_optimizer._learning_rate,
            name=name or "loss_scale_optimizer", **kwargs)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.dynamic_scale = float(initial_scale)
        self.step_counter = 0

    # The inner optimizer owns the learning rate, the iterations and the slots.
    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self) -> int:
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    @property
    def built(self):
        return self.inner_optimizer.built

    @built.setter
    def built(self, value):
        pass

    @property
    def _weights(self):
        return self.inner_optimizer._weights

    @_weights.setter
    def _weights(self, value):
        pass

    def build(self, var_list) -> None:
        self.inner_optimizer.build(var_list)

    def scale_loss(self, loss):
        """loss * the current scale (call before backward, as Keras's train_step does)."""
        return loss * self.dynamic_scale

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        arrays = [None if g is None else np.asarray(g.data if isinstance(g, Tensor) else g,
                                                    dtype=np.float32) for g in grads]
        finite = all(np.isfinite(a).all() for a in arrays if a is not None)
        if not finite:
            self.step_counter = 0
            self.dynamic_scale /= 2.0
            return
        inv = np.float32(1.0 / self.dynamic_scale)
        self.inner_optimizer.apply([None if a is None else a * inv for a in arrays],
                                   trainable_variables)
        self.step_counter += 1
        if self.step_counter >= self.dynamic_growth_steps:
            self.step_counter = 0
            self.dynamic_scale *= 2.0

    def step(self, weights=None) -> None:
        if weights is None:
            weights = self.inner_optimizer._weights
        weights = [w for w in (weights or ()) if w.grad is not None]
        if weights:
            self.apply([w.grad for w in weights], weights)

    def zero_grad(self, weights=None, set_to_none: bool = True) -> None:
        self.inner_optimizer.zero_grad(weights, set_to_none)

    @property
    def variables(self) -> list:
        return [np.array(self.dynamic_scale, np.float32), np.array(self.step_counter, np.int64)] \
            + self.inner_optimizer.variables

    def get_state(self) -> dict:
        return {"dynamic_scale": np.array(self.dynamic_scale), "step_counter":
                np.array(self.step_counter), **self.inner_optimizer.get_state()}

    def set_state(self, state: dict) -> None:
        state = dict(state)
        self.dynamic_scale = float(state.pop("dynamic_scale", self.dynamic_scale))
        self.step_counter = int(state.pop("step_counter", self.step_counter))
        self.inner_optimizer.set_state(state)

    def get_config(self) -> dict:
        from grebe import optimizers
        return {"name": self.name, "inner_optimizer": optimizers.serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from grebe import optimizers
        config = dict(config)
        inner = optimizers.deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)
