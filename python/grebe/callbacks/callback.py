"""The Callback base class: every hook fit/evaluate/predict call, as no-ops."""
from __future__ import annotations


class Callback:
    """Base class: override any hook. `self.model` is the model being trained, `self.params`
    holds {'verbose', 'epochs', 'steps'}; set `self.model.stop_training = True` to stop."""

    # True for callbacks whose only effect is output (printing, files): in a data-parallel job
    # (grebe.distribution) they run on rank 0 alone.
    _chief_only = False

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
