"""LearningRateScheduler: sets the learning rate from a schedule(epoch, lr) at each epoch."""
from __future__ import annotations

import inspect

import numpy as np

from grebe.callbacks.callback import Callback
from grebe.callbacks.monitor import get_lr, to_scalar


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to `schedule(epoch, lr)` (or
    `schedule(epoch)`); epochs count from 0.

    >>> import grebe
    >>> cb = grebe.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, received "
                            f"{schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        try:
            params = [p for p in inspect.signature(schedule).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
            self._two_args = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            self._two_args = True

    def on_epoch_begin(self, epoch, logs=None):
        lr = get_lr(self.model.optimizer)
        lr = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        value = to_scalar(lr)
        if value is None or isinstance(lr, bool) or np.ndim(lr) != 0:
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, "
                             f"received {lr!r}")
        self.model.optimizer.learning_rate = value
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{value}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_lr(self.model.optimizer)
