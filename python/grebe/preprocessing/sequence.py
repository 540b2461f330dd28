"""``keras.preprocessing.sequence``: pad_sequences (the same function as grebe.utils')."""
from grebe.utils.sequence import pad_sequences

__all__ = ["pad_sequences"]
