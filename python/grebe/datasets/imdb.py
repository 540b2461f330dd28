"""IMDB movie-review sentiment (25000 train, 25000 test reviews as word-index sequences) from
Keras's cached ``~/.keras/datasets/imdb.npz`` and ``imdb_word_index.json`` — the files Keras
downloads; grebe reads them (the ragged arrays without unpickling) but never downloads.

>>> from grebe.datasets import imdb                                         # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from grebe.datasets import _text

__all__ = ["load_data", "get_word_index"]


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """Returns ``(x_train, y_train), (x_test, y_test)`` exactly as Keras's imdb.load_data: x
    object arrays of lists of word indices (shuffled with `seed`, shifted by `index_from`,
    `start_char` first, words outside [skip_top, num_words) -> `oov_char`, sequences of
    `maxlen` or more words dropped), y int labels 0/1. `path` is relative to
    ~/.keras/datasets, or a file path."""
    if kwargs:
        raise TypeError(f"imdb.load_data: unrecognized keyword arguments: {sorted(kwargs)}")
    f = _text.read_npz(path, ("x_train", "y_train", "x_test", "y_test"), "imdb")
    rng = np.random.RandomState(seed)
    x_train, y_train = _text.shuffled(rng, f["x_train"], f["y_train"])
    x_test, y_test = _text.shuffled(rng, f["x_test"], f["y_test"])
    x_train = _text.shift(x_train, start_char, index_from)
    x_test = _text.shift(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = _text.drop_long(maxlen, x_train, y_train)
        x_test, y_test = _text.drop_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ValueError(f"imdb.load_data: After filtering for sequences shorter than "
                             f"maxlen={maxlen}, no sequence was kept. Increase maxlen.")
    xs = _text.restrict_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    n = len(x_train)
    return ((_text.as_object_array(xs[:n]), labels[:n]),
            (_text.as_object_array(xs[n:]), labels[n:]))


def get_word_index(path="imdb_word_index.json") -> dict:
    """The word -> index dict (index 1 is the most frequent word) from Keras's cached JSON."""
    return _text.get_word_index(path, "imdb")
