"""pad_sequences: a list of variable-length sequences to one (num_samples, maxlen, ...) array,
with Keras's arguments, defaults and results.

>>> from grebe.utils import pad_sequences
>>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
array([[2, 3],
       [0, 4]], dtype=int32)
>>> pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", value=-1)
array([[ 1,  2,  3],
       [ 4, -1, -1]], dtype=int32)
"""
from __future__ import annotations

import numpy as np

__all__ = ["pad_sequences"]


def _lengths_and_sample_shape(sequences):
    """Each sequence's length, and the shape of one step (from the first non-empty one)."""
    lengths, sample_shape = [], None
    for i, s in enumerate(sequences):
        try:
            n = len(s)
        except TypeError:
            raise ValueError(f"pad_sequences: `sequences` must be a list of iterables. Found "
                             f"non-iterable: {s!r} at position {i}") from None
        lengths.append(n)
        if sample_shape is None and n:
            sample_shape = np.asarray(s).shape[1:]
    return lengths, sample_shape or ()


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0) -> np.ndarray:
    """Pads (with `value`) and truncates each sequence to `maxlen` steps (the longest one when
    None): 'pre' pads or cuts at the start, 'post' at the end. Returns a numpy array of
    `dtype`, shape (len(sequences), maxlen) + the shape of one step. Strings need dtype=object
    or a string dtype."""
    for arg, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f'pad_sequences: {arg} must be "pre" or "post". Received: '
                             f'{arg}={v!r}')
    if not hasattr(sequences, "__len__"):
        sequences = list(sequences)
    lengths, sample_shape = _lengths_and_sample_shape(sequences)
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be None or an integer >= 0. Received: "
                         f"maxlen={maxlen!r}")
    is_str_dtype = dtype is not object and (np.issubdtype(dtype, np.str_)
                                            or np.issubdtype(dtype, np.bytes_))
    if isinstance(value, str) and dtype is not object and not is_str_dtype:
        raise ValueError(f"pad_sequences: `dtype` {dtype} is not compatible with `value`'s "
                         f"type: {type(value)}\nYou should set `dtype=object` for variable "
                         f"length strings.")
    out = np.full((len(lengths), int(maxlen)) + tuple(sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, s in enumerate(sequences):
        if not lengths[i]:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(f"pad_sequences: Shape of sample {kept.shape[1:]} of sequence at "
                             f"position {i} is different from expected shape "
                             f"{tuple(sample_shape)}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
