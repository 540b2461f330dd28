"""TensorBoard: writes the training curves and weight histograms as TensorBoard event files —
without TensorFlow (grebe.callbacks.tfevents writes the record format). Keras 3's arguments and
layout: ``<log_dir>/train`` and ``<log_dir>/validation`` runs, per-epoch scalars
``epoch_<metric>`` (and ``epoch_learning_rate``), per-batch ``batch_<metric>`` with
update_freq='batch' or every N batches, ``evaluation_<metric>_vs_iterations`` after each
validation, and with histogram_freq=N the weights as ``<layer>/<weight>/histogram`` every N
epochs. View them with ``tensorboard --logdir <log_dir>``.

>>> import grebe, tempfile
>>> cb = grebe.callbacks.TensorBoard(log_dir=tempfile.mkdtemp(), histogram_freq=1)
"""
from __future__ import annotations

import os
import time

import numpy as np

from grebe.callbacks.callback import Callback
from grebe.callbacks.tfevents import EventFileWriter

__all__ = ["TensorBoard"]


def _scalar(v):
    try:
        return float(np.asarray(getattr(v, "data", v)))
    except (TypeError, ValueError):
        return None


class TensorBoard(Callback):
    """Logs for TensorBoard. write_graph, write_images, profile_batch, embeddings_freq and
    embeddings_metadata are accepted for compatibility; grebe writes no graph, images, profile
    or embeddings (they need TensorFlow's own formats)."""

    _chief_only = True  # prints/writes: rank 0 only in a data-parallel job

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or \
                histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an integer >= 0. Received: "
                             f"histogram_freq={histogram_freq!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or
                                       not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"integer. Received: update_freq={update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph, self.write_images = write_graph, write_images
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = update_freq
        self.profile_batch, self.embeddings_freq = profile_batch, embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = self._batch_start = 0.0
        self._epoch_steps = 0

    def _writer(self, run: str) -> EventFileWriter:
        if run not in self._writers:
            self._writers[run] = EventFileWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _learning_rate(self):
        opt = getattr(self.model, "optimizer", None)
        lr = getattr(opt, "learning_rate", None) if opt is not None else None
        return None if lr is None else _scalar(lr)

    # ---- hooks ---------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._epoch_steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_steps += 1
        if self.write_steps_per_second:
            self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        w, step = self._writer("train"), self._global_train_batch
        if self.write_steps_per_second:
            w.add_scalar("batch_steps_per_second", 1.0 / max(time.time() - self._batch_start,
                                                             1e-9), step)
        for name, value in (logs or {}).items():
            v = _scalar(value)
            if v is not None:
                w.add_scalar(f"batch_{name}", v, step)

    def on_test_end(self, logs=None):
        opt = getattr(self.model, "optimizer", None)
        iterations = getattr(opt, "iterations", None)
        if iterations is None or not logs:
            return
        step = int(_scalar(iterations) or 0)
        for name, value in logs.items():
            v = _scalar(value)
            if v is not None:
                self._writer("validation").add_scalar(f"evaluation_{name}_vs_iterations", v,
                                                      step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        lr = self._learning_rate()
        if lr is not None:
            train["learning_rate"] = lr
        if self.write_steps_per_second:
            train["steps_per_second"] = self._epoch_steps / max(time.time() - self._epoch_start,
                                                                1e-9)
        for run, values in (("train", train), ("validation", val)):
            for name, value in values.items():
                v = _scalar(value)
                if v is not None:
                    self._writer(run).add_scalar(f"epoch_{name}", v, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _log_weights(self, epoch):
        w = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.name if "/" in weight.name else f"{layer.name}/{weight.name}"
                w.add_histogram(f"{name.replace(':', '_')}/histogram",
                                np.asarray(getattr(weight, "data", weight)), epoch)
