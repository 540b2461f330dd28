"""EarlyStopping: stops training when a monitored value stopped improving."""
from __future__ import annotations

import warnings

from grebe.callbacks.callback import Callback
from grebe.callbacks.monitor import metric_direction, to_scalar


class EarlyStopping(Callback):
    """Stops training when `monitor` stopped improving for `patience` epochs.

    min_delta: a change smaller than this is no improvement. mode: 'auto' | 'min' | 'max'.
    baseline: training stops unless the monitor beats it within `patience` epochs.
    restore_best_weights: at the end of training (stopped early or not) the weights of the
    best epoch come back. start_from_epoch: epochs of warm-up before monitoring starts.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode!r} is unknown, falling back to 'auto'",
                          stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = None
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _set_monitor_op(self):
        mode = self.mode
        if mode == "auto":
            mode = metric_direction(self.model, self.monitor)
            if mode is None:
                raise ValueError(
                    f"EarlyStopping: cannot tell whether monitor={self.monitor!r} should be "
                    f"maximized or minimized; pass mode='max' or mode='min'")
        self._sign = 1.0 if mode == "max" else -1.0

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        return self._sign * (value - reference) > self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
            self.monitor_op = self._is_improvement
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric {self.monitor!r} which is not "
                          f"available. Available metrics are: {', '.join(logs)}", stacklevel=3)
            return None
        return to_scalar(value)
