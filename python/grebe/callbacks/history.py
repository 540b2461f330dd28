"""History: records each epoch's logs; fit returns it."""
from __future__ import annotations

from grebe.callbacks.callback import Callback


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
