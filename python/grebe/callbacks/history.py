"""History: records each epoch's logs; fit returns it."""
from __future__ import annotations

import numpy as np

from grebe import replica
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
        Needs matplotlib (pip install matplotlib). In a data-parallel job only rank 0 plots
        (the others return None)."""
        if not replica.is_chief():
            return None
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("History.plot needs matplotlib, an optional dependency: "
                              "pip install matplotlib") from None
        return plot_history(self, filename=path, metrics=metrics, title=title)


def plot_history(history, filename=None, metrics=None, title: str | None = None):
    """Plots the learning curves of a History (or its .history dict): one panel per metric,
    training and validation together. Saves a PNG when `filename` is given; returns the figure.
    Needs matplotlib (`pip install matplotlib`)."""
    try:
        import matplotlib.pyplot as plt  # headless machines fall back to the Agg backend
    except ImportError:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib") from None
    hist = getattr(history, "history", history)
    if not isinstance(hist, dict) or not hist:
        raise ValueError("plot_history: expected a History or a non-empty dict of lists")
    names = metrics or [k for k in hist if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = hist[name]
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o", label=name)
        if "val_" + name in hist:
            ax.plot(epochs, hist["val_" + name], marker="o", label="val_" + name)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if filename is not None:
        fig.savefig(filename, dpi=100)
        plt.close(fig)
    return fig
