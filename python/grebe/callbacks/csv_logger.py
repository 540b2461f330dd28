"""CSVLogger: streams each epoch's logs to a CSV file."""
from __future__ import annotations

import csv
import os

import numpy as np

from grebe.callbacks.callback import Callback


class CSVLogger(Callback):
    """Writes one CSV row per epoch: 'epoch' (from 0) and every log value, sorted by name.

    >>> import grebe
    >>> cb = grebe.callbacks.CSVLogger("training.csv", append=True)
    """

    _chief_only = True  # prints/writes: rank 0 only in a data-parallel job

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
