"""PyDataset: Keras 3's base class for datasets written in Python — subclass it, give
``__len__`` (batches per epoch) and ``__getitem__(i)`` (batch i: x, (x, y) or (x, y, weights)),
and pass it to ``fit``/``evaluate``/``predict``.

``workers`` > 1 loads batches in a thread pool, up to ``max_queue_size`` ahead, still yielding
them in index order (numpy and grebe's kernels release the GIL, so threads overlap real work).
``use_multiprocessing=True`` is accepted and runs the same threads: grebe never forks a process
to load data (a fork beside OpenMP threads can deadlock).

>>> import numpy as np
>>> from grebe.utils import PyDataset
>>> class Squares(PyDataset):
...     def __len__(self):
...         return 3
...     def __getitem__(self, i):
...         x = np.full((2, 1), float(i), np.float32)
...         return x, x ** 2
>>> [y.ravel().tolist() for _, y in Squares(workers=2)]
[[0.0, 0.0], [1.0, 1.0], [4.0, 4.0]]
"""
from __future__ import annotations

import collections
import concurrent.futures

__all__ = ["PyDataset"]


class PyDataset:
    """Base class of a Python dataset of batches (Keras 3's PyDataset)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        for arg, v in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"PyDataset: {arg} must be a positive integer. Received: "
                                 f"{arg}={v!r}")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset must implement "
                                  f"__getitem__(index) returning batch `index`")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset must implement __len__ "
                                  f"(or num_batches)")

    @property
    def num_batches(self):
        """Batches per epoch: len(self), or None for an endless dataset."""
        try:
            return len(self)
        except NotImplementedError:
            return None

    def on_epoch_begin(self):
        """Called before each epoch's first batch."""

    def on_epoch_end(self):
        """Called after each epoch's last batch (shuffle here)."""

    def _indices(self):
        n = self.num_batches
        i = 0
        while n is None or i < n:
            yield i
            i += 1

    def __iter__(self):
        """One epoch: on_epoch_begin, the batches in order, on_epoch_end."""
        self.on_epoch_begin()
        if self.workers <= 1:
            for i in self._indices():
                yield self[i]
        else:
            yield from self._threaded()
        self.on_epoch_end()

    def _threaded(self):
        ahead = max(self.max_queue_size, self.workers)
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            pending = collections.deque()
            indices = self._indices()
            for i in indices:
                pending.append(pool.submit(self.__getitem__, i))
                if len(pending) >= ahead:
                    break
            while pending:
                batch = pending.popleft().result()
                nxt = next(indices, None)
                if nxt is not None:
                    pending.append(pool.submit(self.__getitem__, nxt))
                yield batch
