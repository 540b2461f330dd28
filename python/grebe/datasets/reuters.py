"""Reuters newswire topics (11228 newswires as word-index sequences, 46 topics) from Keras's
cached ``~/.keras/datasets/reuters.npz`` and ``reuters_word_index.json`` — read (the ragged
arrays without unpickling), never downloaded.

>>> from grebe.datasets import reuters                                          # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=10000)   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from grebe.datasets import _text

__all__ = ["load_data", "get_word_index", "get_label_names"]

_LABELS = ("cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing",
           "money-supply", "coffee", "sugar", "trade", "reserves", "ship", "cotton",
           "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp", "meal-feed",
           "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi",
           "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
           "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """Returns ``(x_train, y_train), (x_test, y_test)`` exactly as Keras's reuters.load_data:
    the newswires shuffled with `seed`, transformed as imdb's (start_char, index_from, maxlen,
    num_words, skip_top, oov_char), then the last `test_split` fraction is the test part."""
    if not 0.0 <= test_split <= 1.0:
        raise ValueError(f"reuters.load_data: test_split must be in [0, 1]. Received: "
                         f"test_split={test_split}")
    f = _text.read_npz(path, ("x", "y"), "reuters")
    xs, labels = _text.shuffled(np.random.RandomState(seed), f["x"], f["y"])
    xs = _text.shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = _text.drop_long(maxlen, xs, labels)
    xs = _text.restrict_vocabulary(xs, num_words, skip_top, oov_char)
    labels = np.asarray(labels)
    n = int(len(xs) * (1 - test_split))
    return ((_text.as_object_array(xs[:n]), np.array(labels[:n])),
            (_text.as_object_array(xs[n:]), np.array(labels[n:])))


def get_word_index(path="reuters_word_index.json") -> dict:
    """The word -> index dict from Keras's cached JSON."""
    return _text.get_word_index(path, "reuters")


def get_label_names() -> tuple:
    """The 46 topic names, in label order (Keras's list)."""
    return _LABELS
