"""Fashion-MNIST (60000 train, 10000 test 28x28 grey images of 10 clothing classes) from the
four gzipped IDX files Keras caches in ``~/.keras/datasets/fashion-mnist/`` (same format as
MNIST's; grebe never downloads).

>>> from grebe.datasets import fashion_mnist                                  # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()          # doctest: +SKIP
"""
from __future__ import annotations

import os

from grebe.datasets import mnist

__all__ = ["load_data", "CLASS_NAMES"]

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def load_data(path: str = "~/.keras/datasets/fashion-mnist"):
    """Returns ``(x_train, y_train), (x_test, y_test)`` as Keras's fashion_mnist.load_data: x
    uint8 (n, 28, 28), y uint8 labels 0..9. `path`: the folder of train-images-idx3-ubyte.gz,
    train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz."""
    folder = os.path.expanduser(os.fspath(path))
    if not os.path.exists(folder):
        raise FileNotFoundError(
            f"fashion_mnist.load_data: no such folder {folder!r}; grebe never downloads: put "
            f"train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
            f"and t10k-labels-idx1-ubyte.gz (from {ORIGIN}) there")
    return mnist.load_data(folder)
