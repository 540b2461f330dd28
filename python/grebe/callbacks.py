"""Callbacks: hooks that fit/evaluate/predict call at the start and end of training, of each
epoch and of each batch, with Keras 3's names, arguments and semantics.

>>> import grebe
>>> stop = grebe.callbacks.EarlyStopping(monitor="val_loss", patience=3,
...                                      restore_best_weights=True)
>>> # model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import warnings

import numpy as np

from grebe.models.progbar import Progbar

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN",
           "CSVLogger", "LambdaCallback"]


class Callback:
    """Base class: override any hook. `self.model` is the model being trained, `self.params`
    holds {'verbose', 'epochs', 'steps'}; set `self.model.stop_training = True` to stop."""

    def __init__(self):
        self.params = {}
        self.model = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self.model = model

    def on_batch_begin(self, batch, logs=None): """Alias of on_train_batch_begin."""
    def on_batch_end(self, batch, logs=None): """Alias of on_train_batch_end."""
    def on_epoch_begin(self, epoch, logs=None): """Start of an epoch (0-based index)."""
    def on_epoch_end(self, epoch, logs=None): """End of an epoch: logs has the metrics."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): """Start of an evaluation batch."""
    def on_test_batch_end(self, batch, logs=None): """End of an evaluation batch."""
    def on_predict_batch_begin(self, batch, logs=None): """Start of a predict batch."""
    def on_predict_batch_end(self, batch, logs=None): """End of a predict batch."""
    def on_train_begin(self, logs=None): """Start of fit."""
    def on_train_end(self, logs=None): """End of fit."""
    def on_test_begin(self, logs=None): """Start of evaluate (or of validation in fit)."""
    def on_test_end(self, logs=None): """End of evaluate."""
    def on_predict_begin(self, logs=None): """Start of predict."""
    def on_predict_end(self, logs=None): """End of predict."""


def _overrides(cb, *names) -> bool:
    for name in names:
        method = getattr(cb, name, None)
        if getattr(method, "__func__", method) is not getattr(Callback, name):
            return True
    return False


class CallbackList(Callback):
    """Calls every hook on a list of callbacks; adds History and ProgbarLogger for fit."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        if isinstance(callbacks, CallbackList):
            callbacks = callbacks.callbacks
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be grebe.callbacks.Callback instances, "
                                f"received {cb!r}")
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        has_bar = any(isinstance(c, ProgbarLogger) for c in self.callbacks)
        if add_progbar and not has_bar:
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        cbs = self.callbacks
        # Batch hooks cost a logs dict per batch: call them only when someone listens.
        self.train_batch_hooks = any(_overrides(c, "on_train_batch_begin", "on_train_batch_end",
                                                "on_batch_begin", "on_batch_end") for c in cbs)
        self.test_batch_hooks = any(_overrides(c, "on_test_batch_begin", "on_test_batch_end")
                                    for c in cbs)
        self.predict_batch_hooks = any(
            _overrides(c, "on_predict_batch_begin", "on_predict_batch_end") for c in cbs)

    def append(self, cb) -> None:
        self.callbacks.append(cb)

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def _call(self, name, *args):
        for cb in self.callbacks:
            getattr(cb, name)(*args)

    def on_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs)
    def on_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)
    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs)
    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)
    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs)


class History(Callback):
    """Records every epoch's logs: `history.history['loss']`, `history.epoch`, `.params`.
    fit() adds one and returns it (also `model.history`)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    def plot(self, path=None, metrics=None, title=None):
        """Learning curves (training and validation per metric); saves a PNG at `path`.
        Needs matplotlib (pip install matplotlib)."""
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("History.plot needs matplotlib, an optional dependency: "
                              "pip install matplotlib") from None
        from grebe import utils

        return utils.plot_history(self, filename=path, metrics=metrics, title=title)


class ProgbarLogger(Callback):
    """Prints the progress bar (verbose=1) or one line per epoch (verbose=2) to stdout."""

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._in_fit = False

    def set_params(self, params):
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _reset(self):
        self.seen = 0
        self.progbar = None

    def _ensure(self):
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update(self, batch, logs):
        self._ensure()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, logs or {}, finalize=False)

    def _finalize(self, logs):
        self._ensure()
        if self.target is None:
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target, logs or {}, finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._reset()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        if not self._in_fit:
            self._reset()

    def on_predict_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, None)

    def on_predict_end(self, logs=None):
        if not self._in_fit:
            self._finalize(None)


# ---- monitoring helpers --------------------------------------------------------------------

_UP = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "true_positives",
       "true_negatives")
_DOWN = ("loss", "error", "crossentropy", "hinge", "divergence", "poisson", "logcosh",
         "false_positives", "false_negatives", "mse", "mae", "mape", "msle")


def metric_direction(model, monitor: str):
    """'max' or 'min' for a logged metric name, or None when it cannot be told."""
    base = monitor[4:] if monitor.startswith("val_") else monitor
    if base == "loss" or base.endswith("_loss"):
        return "min"
    cm = getattr(model, "_compile_metrics", None)
    for _, m, _, name in getattr(cm, "entries", ()):
        if name == base and getattr(m, "_direction", None) in ("up", "down"):
            return "max" if m._direction == "up" else "min"
    if any(s in base for s in _UP):
        return "max"
    if any(s in base for s in _DOWN):
        return "min"
    return None


def _scalar(v):
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return None


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
        return _scalar(value)


class ModelCheckpoint(Callback):
    """Saves the model (model.save) or its weights (model.save_weights) after every epoch, or
    every `save_freq` batches; `filepath` may hold `{epoch}` and any log name, e.g.
    'ckpt-{epoch:02d}-{val_loss:.3f}.grebe'. With save_best_only, only when `monitor` improved.
    A monitor name missing from the logs is an error that lists the names available.

    >>> import grebe
    >>> best = grebe.callbacks.ModelCheckpoint("best.grebe", monitor="val_accuracy",
    ...                                        save_best_only=True)
    >>> best.mode
    'max'
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive "
                             f"integer (batches), received save_freq={save_freq!r}")
        self.save_freq = save_freq
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode {mode!r} is unknown, falling back to 'auto'",
                          stacklevel=2)
            mode = "auto"
        if mode == "auto":
            mode = "max" if "acc" in monitor or monitor.startswith("fmeasure") else "min"
        self.mode = mode
        self._sign = 1.0 if mode == "max" else -1.0
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = -math.inf if mode == "max" else math.inf
        self._epoch = 0
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _file_path(self, epoch, batch, logs) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as e:
            raise ValueError(f"ModelCheckpoint: cannot format filepath {self.filepath!r}: "
                             f"{e} is not a log name; available: "
                             f"{sorted(['epoch'] + list(logs))}") from None

    def _save(self, epoch, batch, logs):
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                if self.monitor.startswith("val_") and not any(
                        k.startswith("val_") for k in logs) or batch is not None:
                    return  # no validation this epoch (validation_freq) or a batch save
                raise ValueError(f"ModelCheckpoint: monitor={self.monitor!r} is not among the "
                                 f"logged values {sorted(logs)}")
            current = _scalar(current)
            if not self._sign * (current - self.best) > 0:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            path = self._file_path(epoch, batch, logs)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} "
                      f"to {current:.5f}, saving model to {path}")
            self.best = current
        else:
            path = self._file_path(epoch, batch, logs)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


def _get_lr(optimizer) -> float:
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"the optimizer {type(optimizer).__name__} has no 'learning_rate' "
                         f"attribute")
    lr = optimizer.learning_rate
    return float(np.asarray(getattr(lr, "data", lr)))


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when `monitor` stalled for `patience` epochs;
    waits `cooldown` epochs after a cut and never goes below `min_lr`.

    >>> import grebe
    >>> cb = grebe.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, received "
                             f"factor={factor}")
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unrecognized arguments {sorted(kwargs)}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ReduceLROnPlateau mode {mode!r} is unknown, falling back to "
                          f"'auto'", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self._reset()

    def _reset(self):
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self._better = lambda a, b: a < b - self.min_delta
            self.best = math.inf
        else:
            self._better = lambda a, b: a > b + self.min_delta
            self.best = -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_lr(self.model.optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau conditioned on metric {self.monitor!r} which is "
                          f"not available. Available metrics are: {', '.join(logs)}",
                          stacklevel=2)
            return
        current = _scalar(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model.optimizer)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


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
        lr = _get_lr(self.model.optimizer)
        lr = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        value = _scalar(lr)
        if value is None or isinstance(lr, bool) or np.ndim(lr) != 0:
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, "
                             f"received {lr!r}")
        self.model.optimizer.learning_rate = value
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{value}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model.optimizer)


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Writes one CSV row per epoch: 'epoch' (from 0) and every log value, sorted by name.

    >>> import grebe
    >>> cb = grebe.callbacks.CSVLogger("training.csv", append=True)
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self.append_header = not bool(f.readline())
            mode = "a"
        else:
            self.append_header = True
            mode = "w"
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # With validation_freq > 1 the first epoch has no val_ keys: make room for them.
            if getattr(self.model, "_fit_validates", False) and \
                    not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]
        if self.writer is None:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        for k in self.keys:
            v = logs.get(k, "NA")
            if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) > 0:
                v = f"[{', '.join(map(str, np.ravel(v)))}]"
            row[k] = v
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. `LambdaCallback(on_epoch_end=lambda epoch, logs:
    print(epoch, logs['loss']))`. Any hook name may be given as a keyword."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not hasattr(Callback, name) or not name.startswith("on_"):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)
