"""Datasets that load offline (DESIGN.md §6), each a module with Keras's `load_data()`:

- ``digits``: scikit-learn's 1797 real 8x8 handwritten digits (needs scikit-learn), optionally
  upsampled to 32x32x3 for the example CNN;
- ``mnist1d``: MNIST-1D, generated locally by the ``mnist1d`` package (no download);
- ``mnist``: MNIST (or Fashion-MNIST) from the standard IDX files or Keras's mnist.npz in a local
  folder;
- ``cifar10``: CIFAR-10 from the standard *binary* batches (data_batch_1.bin ... test_batch.bin,
  or the cifar-10-binary.tar.gz archive) in a local folder.

>>> from grebe.datasets import digits                                # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = digits.load_data()       # doctest: +SKIP
"""
from grebe.datasets import cifar10, digits, mnist, mnist1d  # noqa: F401

__all__ = ["cifar10", "digits", "mnist", "mnist1d"]
