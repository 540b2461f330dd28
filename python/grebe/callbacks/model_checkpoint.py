"""ModelCheckpoint: saves the model or its weights during training."""
from __future__ import annotations

import math
import os
import warnings

from grebe.callbacks.callback import Callback
from grebe.callbacks.monitor import to_scalar


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

    _chief_only = True  # prints/writes: rank 0 only in a data-parallel job

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
            current = to_scalar(current)
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
