"""The one random source of grebe: a global numpy Generator used by every random draw
(weight initializers, dropout masks, dataset shuffling), so one seed reproduces a whole run.

>>> import grebe
>>> grebe.random.seed(1234)
>>> a = grebe.random.generator().standard_normal(3)
>>> grebe.random.seed(1234)
>>> bool((a == grebe.random.generator().standard_normal(3)).all())
True
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def seed(s: int | None) -> None:
    """Reseeds the global generator (None: fresh entropy from the OS)."""
    global _generator
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0):
        raise ValueError(f"grebe.random.seed: expected a non-negative integer or None, "
                         f"received {s!r}")
    _generator = np.random.default_rng(None if s is None else int(s))


def generator() -> np.random.Generator:
    """The global Generator (fetch it at each use: seed() replaces it)."""
    return _generator


def make_generator(s: int | None) -> np.random.Generator:
    """A private Generator for an explicit seed; the global one when `s` is None."""
    if s is None:
        return _generator
    return np.random.default_rng(int(s))
