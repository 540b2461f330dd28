"""Nested structures (lists, tuples, dicts of leaves) as model inputs, outputs and targets.

Dicts flatten in sorted key order, as Keras (optree) does, so a dict of arrays and a dict of
symbolic inputs line up no matter in which order their keys were written.
"""
from __future__ import annotations

import numpy as np


def is_nested(x) -> bool:
    return isinstance(x, (list, tuple, dict))


def flatten(x) -> list:
    """Leaves of `x` in order; None counts as a leaf."""
    if isinstance(x, dict):
        return [leaf for k in sorted(x) for leaf in flatten(x[k])]
    if isinstance(x, (list, tuple)):
        return [leaf for v in x for leaf in flatten(v)]
    return [x]


def map_structure(fn, x):
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v) for v in x)
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    return fn(x)


def pack_like(structure, flat_iter):
    """Fills `structure`'s leaves, in flatten order, from an iterator."""
    if isinstance(structure, dict):
        filled = {k: pack_like(structure[k], flat_iter) for k in sorted(structure)}
        return {k: filled[k] for k in structure}
    if isinstance(structure, (list, tuple)):
        return type(structure)(pack_like(v, flat_iter) for v in structure)
    return next(flat_iter)


def _is_shape(s) -> bool:
    return isinstance(s, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s)


def flatten_shapes(s) -> list:
    """Shapes in a structure of shapes (a shape is a tuple of ints/None)."""
    if s is None:
        return []
    if _is_shape(s):
        return [tuple(s)]
    if isinstance(s, dict):
        return [x for k in sorted(s) for x in flatten_shapes(s[k])]
    return [x for v in s for x in flatten_shapes(v)]
