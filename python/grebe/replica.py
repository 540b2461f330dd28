"""Which replica of a data-parallel job this process is: the one hook between the training code
(models, callbacks, saving) and grebe.distribution, which sits on top of them.

grebe.distribution.set_distribution(...) installs a distribution object here; fit, evaluate,
predict, the callbacks and Model.save ask `current()` and call its methods. With nothing
installed (one process, the usual case) `current()` is None and they run as always. The object
installed provides (see grebe/distribution/data_parallel.py):

    rank, size, is_chief                      this process among `size` replicas; rank 0 is chief
    begin(model, what, adapters, **settings)  checks every rank runs the same thing, broadcasts
                                              rank 0's weights (fit), returns sharded adapters
    idle                                      True while this rank's shard of a batch is empty
    backward(loss, weights)                   backward with the gradients summed over replicas
    idle_step(model)                          the train step of a rank with no samples
    reduce_logs(model, out)                   the logs as one process would report them
    gather(arrays, adapter)                   predict's outputs of every rank, in data order

This module imports nothing from grebe, so every level can consult it.
"""
from __future__ import annotations

_current = None


def install(distribution) -> None:
    """Makes `distribution` (or None) the one fit/evaluate/predict run under."""
    global _current
    _current = distribution


def current():
    """The installed distribution, or None in an ordinary single-process run."""
    return _current


def is_chief() -> bool:
    """True in a single process and on rank 0: the process that prints and writes files."""
    return _current is None or _current.is_chief
