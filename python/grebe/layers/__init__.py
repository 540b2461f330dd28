"""Keras-style layers. Each module holds one family; this package re-exports them."""
from grebe.layers.layer import Layer  # noqa: F401
