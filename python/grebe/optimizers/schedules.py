"""Learning-rate schedules with Keras 3's names, arguments and formulas: a schedule maps the
optimizer's step counter (`optimizer.iterations`, before the update) to a learning rate.

>>> from grebe.optimizers import schedules
>>> lr = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(lr(20), 6)
0.025
"""
from __future__ import annotations

import math

import numpy as np

from grebe.tensor import Tensor


def _raw(x):
    """A Tensor's array; anything else unchanged (numpy's own `.data` is a memoryview)."""
    return x.data if isinstance(x, Tensor) else x


def _step(step) -> float:
    return float(np.asarray(_raw(step)))


def _positive(cls: str, name: str, value, allow_zero=False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not (value >= 0 if allow_zero else value > 0):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{cls}: expected a {kind} number. Received: {name}={value!r}")
    return value


class LearningRateSchedule:
    """Base class: subclasses define `__call__(step) -> float` and `get_config()`."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"{type(self).__name__} must override __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must override get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """lr * decay_rate ** (step / decay_steps) (the exponent floored when staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate * self.decay_rate ** p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError("PiecewiseConstantDecay: the length of boundaries should be 1 less "
                             f"than the length of values. Received: boundaries={boundaries}, "
                             f"values={values}")
        if any(b2 < b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing. Received:"
                             f" boundaries={boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step) -> float:
        x = _step(step)
        for b, v in zip(self.boundaries, self.values):
            if x <= b:
                return float(v)
        return float(self.values[-1])

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(lr - end) * (1 - step / decay_steps) ** power + end; with cycle, decay_steps grows to the
    next multiple that covers step."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("PolynomialDecay", "decay_steps", decay_steps)
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step) -> float:
        x, steps = _step(step), float(self.decay_steps)
        if self.cycle:
            steps *= 1.0 if x == 0 else math.ceil(x / self.decay_steps)
        else:
            x = min(x, steps)
        p = x / steps
        return float((self.initial_learning_rate - self.end_learning_rate) *
                     (1 - p) ** self.power + self.end_learning_rate)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """lr / (1 + decay_rate * step / decay_steps) (the ratio floored when staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("InverseTimeDecay", "decay_steps", decay_steps)
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate / (1 + self.decay_rate * p))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from lr (or, after a linear warmup of warmup_steps, from warmup_target) to
    alpha * that value over decay_steps, then constant."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("CosineDecay", "decay_steps", decay_steps, allow_zero=True)
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = _positive("CosineDecay", "warmup_steps", warmup_steps,
                                      allow_zero=True)

    def _decay(self, step, decay_from):
        fraction = step / self.decay_steps if self.decay_steps else 1.0
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        x = _step(step)
        if self.warmup_target is None:
            return float(self._decay(min(x, self.decay_steps), self.initial_learning_rate))
        x = min(x, self.decay_steps + self.warmup_steps)
        if x < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return float(delta * (x / self.warmup_steps) + self.initial_learning_rate)
        return float(self._decay(x - self.warmup_steps, self.warmup_target))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods of first_decay_steps * t_mul**i, each
    restart starting from lr * m_mul**i."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = _positive("CosineDecayRestarts", "first_decay_steps",
                                           first_decay_steps)
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step) -> float:
        fraction = _step(step) / self.first_decay_steps
        if self.t_mul != 1.0:
            i_restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) /
                                   math.log(self.t_mul))
            sum_r = (1.0 - self.t_mul ** i_restart) / (1.0 - self.t_mul)
            fraction = (fraction - sum_r) / self.t_mul ** i_restart
        else:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        cosine = 0.5 * self.m_mul ** i_restart * (1.0 + math.cos(math.pi * fraction))
        return float(self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_ALL = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """A JSON-able dict in Keras's layout: {'module', 'class_name', 'config', ...}."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"schedules.serialize: expected a LearningRateSchedule, received "
                        f"{schedule!r}")
    return {"module": "grebe.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """The schedule a `serialize` dict (grebe's or Keras's) describes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"schedules.deserialize: expected a dict with 'class_name' and "
                         f"'config', received {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _ALL.get(name)
    if cls is None:
        raise ValueError(f"schedules.deserialize: unknown schedule '{name}' (known: "
                         f"{sorted(_ALL)})")
    return cls.from_config(config.get("config", {}))
