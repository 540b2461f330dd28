"""Keras's legacy preprocessing namespace: ``grebe.preprocessing.sequence.pad_sequences``."""
from grebe.preprocessing import sequence  # noqa: F401

__all__ = ["sequence"]
