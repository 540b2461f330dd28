"""ProgbarLogger: prints the progress bar and per-epoch metrics."""
from __future__ import annotations

from grebe.callbacks.callback import Callback
from grebe.callbacks.progbar import Progbar


class ProgbarLogger(Callback):
    """Prints the progress bar (verbose=1) or one line per epoch (verbose=2) to stdout."""

    _chief_only = True  # prints/writes: rank 0 only in a data-parallel job

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
