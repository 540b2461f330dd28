"""CallbackList: calls every hook on a list of callbacks."""
from __future__ import annotations

from grebe import replica
from grebe.callbacks.callback import Callback
from grebe.callbacks.history import History
from grebe.callbacks.progbar_logger import ProgbarLogger


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
        if args[-1] is None:  # Keras hands every hook a logs dict, never None
            args = args[:-1] + ({},)
        chief = replica.is_chief()
        for cb in self.callbacks:
            # In a data-parallel job, callbacks that print or write files run on rank 0 only.
            if chief or not cb._chief_only:
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
