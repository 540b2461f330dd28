"""What imdb and reuters share: Keras's word-index transform of the stored sequences (shift by
index_from, start_char, drop sequences of maxlen steps or more, map rare/skipped words to
oov_char) and the word-index JSON."""
from __future__ import annotations

import json

import numpy as np

from grebe.datasets._object_npz import load_npz
from grebe.utils.file_utils import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def read_npz(path: str, keys, who: str) -> dict:
    """The arrays `keys` of Keras's cached .npz `path` (found by get_file; never downloaded)."""
    fpath = get_file(fname=path, origin=ORIGIN + path.rsplit("/", 1)[-1])
    arrays = load_npz(fpath)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"{who}.load_data: {fpath} is not Keras's {who}.npz: arrays {missing} "
                         f"are missing (found {sorted(arrays)})")
    return arrays


def shuffled(rng: np.random.RandomState, *arrays):
    """The arrays permuted by one rng.shuffle of their indices (Keras's order)."""
    idx = np.arange(len(arrays[0]))
    rng.shuffle(idx)
    return [a[idx] for a in arrays]


def shift(seqs, start_char, index_from) -> list:
    """Each sequence as a list, its indices + index_from, start_char in front when not None."""
    head = [] if start_char is None else [start_char]
    return [head + [int(w) + (index_from or 0) for w in s] for s in seqs]


def drop_long(maxlen, seqs, labels):
    """Keeps the sequences shorter than maxlen (Keras's remove_long_seq: strictly shorter)."""
    kept = [i for i, s in enumerate(seqs) if len(s) < maxlen]
    return [seqs[i] for i in kept], [labels[i] for i in kept]


def restrict_vocabulary(seqs, num_words, skip_top, oov_char) -> list:
    """Words outside [skip_top, num_words) become oov_char, or are dropped when it is None;
    num_words None means the largest index present."""
    if not num_words:
        num_words = max((max(s) for s in seqs if s), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in s] for s in seqs]
    return [[w for w in s if skip_top <= w < num_words] for s in seqs]


def as_object_array(seqs) -> np.ndarray:
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def get_word_index(path: str, who: str) -> dict:
    """The word -> index dict of Keras's cached JSON `path`."""
    fpath = get_file(fname=path, origin=ORIGIN + path.rsplit("/", 1)[-1])
    try:
        with open(fpath, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"{who}.get_word_index: {fpath} is not a readable JSON word index "
                         f"({e})") from None
    if not isinstance(index, dict):
        raise ValueError(f"{who}.get_word_index: {fpath} should hold a JSON object of "
                         f"word: index, found {type(index).__name__}")
    return index
