"""Datasets that load offline (DESIGN.md §6), each a module with Keras's `load_data()`:

- ``digits``: scikit-learn's 1797 real 8x8 handwritten digits (needs scikit-learn), optionally
  upsampled to 32x32x3 for the example CNN;
- ``mnist1d``: MNIST-1D, generated locally by the ``mnist1d`` package (no download);
- ``mnist``: MNIST (or Fashion-MNIST) from the standard IDX files or Keras's mnist.npz in a local
  folder;
- ``cifar10``: CIFAR-10 from the standard *binary* batches (data_batch_1.bin ... test_batch.bin,
  or the cifar-10-binary.tar.gz archive) in a local folder;
- ``fashion_mnist``, ``cifar100`` (binary version only), ``boston_housing``, ``imdb`` and
  ``reuters`` from the files Keras caches in ``~/.keras/datasets`` (never downloaded, never
  unpickled).

>>> from grebe.datasets import digits                                # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = digits.load_data()       # doctest: +SKIP
"""
from grebe.datasets import (boston_housing, cifar10, cifar100, digits,  # noqa: F401
                            fashion_mnist, imdb, mnist, mnist1d, reuters)

__all__ = ["boston_housing", "cifar10", "cifar100", "digits", "fashion_mnist", "imdb", "mnist",
           "mnist1d", "reuters"]
