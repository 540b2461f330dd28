"""keras.ops.rearrange: einops-style axis rearrangement ('b h w c -> b (h w) c'), a reshape,
a transpose and a reshape of grebe's differentiable shape ops.

>>> from grebe import ops
>>> import numpy as np
>>> ops.rearrange(np.zeros((2, 3, 4)), "b h w -> b (h w)").shape
(2, 12)
"""
from __future__ import annotations

import math
import re

import numpy as np

from grebe.ops._keras import keras_op, raw

_TOKEN = re.compile(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*|\d+")


def _groups(side: str, pattern: str) -> list:
    """'b (h w) c' -> [['b'], ['h', 'w'], ['c']]."""
    groups, current = [], None
    for tok in _TOKEN.findall(side):
        if tok == "(":
            if current is not None:
                raise ValueError(f"rearrange: nested parentheses in {pattern!r}")
            current = []
        elif tok == ")":
            if current is None:
                raise ValueError(f"rearrange: unbalanced parentheses in {pattern!r}")
            groups.append(current)
            current = None
        elif current is None:
            groups.append([tok])
        else:
            current.append(tok)
    if current is not None:
        raise ValueError(f"rearrange: unbalanced parentheses in {pattern!r}")
    return groups


@keras_op
def rearrange(tensor, pattern, **axes_lengths):
    """Rearranges axes by an einops pattern; grouped axes on the left are split with the
    given `axes_lengths`, on the right merged."""
    from grebe.ops.np_shape import reshape, transpose
    if "->" not in pattern:
        raise ValueError(f"rearrange: the pattern needs '->', received {pattern!r}")
    left, right = (_groups(s, pattern) for s in pattern.split("->"))
    shape = np.shape(raw(tensor))
    if len(left) != len(shape):
        raise ValueError(f"rearrange: pattern {pattern!r} names {len(left)} axes, the input "
                         f"has shape {shape}")
    sizes = dict(axes_lengths)
    for group, n in zip(left, shape):
        unknown = [a for a in group if a not in sizes]
        known = math.prod(sizes[a] for a in group if a in sizes)
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the lengths of all but one of {group}")
        if unknown:
            sizes[unknown[0]] = n // known
        elif known != n:
            raise ValueError(f"rearrange: axes {group} have length {known}, the input {n}")
    flat_left = [a for g in left for a in g]
    flat_right = [a for g in right for a in g]
    if sorted(flat_left) != sorted(flat_right):
        raise ValueError(f"rearrange: {pattern!r} must use the same axes on both sides")
    x = reshape(tensor, [sizes[a] for a in flat_left])
    x = transpose(x, [flat_left.index(a) for a in flat_right])
    return reshape(x, [math.prod(sizes[a] for a in g) for g in right])


__all__ = ["rearrange"]
