"""InputLayer, the layer behind `grebe.Input`: a model input's batch shape and dtype, and the
symbolic tensor (grebe.graph.KerasTensor) that layers are called on to build a functional model.

>>> import grebe
>>> x = grebe.Input(shape=(32,))
>>> x.shape, type(x._node.layer).__name__
((None, 32), 'InputLayer')
"""
from __future__ import annotations

import numpy as np

from grebe.graph import KerasTensor, Node, _inbound_nodes
from grebe.layers.layer import Layer, unique_name

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The layer behind `grebe.Input`: it holds the batch shape and dtype of a model input."""

    _is_input_layer = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, batch_input_shape=None,
                 input_shape=None, **kwargs):
        kwargs.pop("ragged", None)
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if sparse:
            raise ValueError(f"InputLayer '{self.name}': sparse inputs are not supported")
        shape = input_shape if shape is None else shape
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if shape is not None and batch_shape is not None:
            raise ValueError(f"InputLayer '{self.name}': give shape or batch_shape, not both "
                             f"(received shape={shape}, batch_shape={batch_shape})")
        if batch_shape is None:
            if shape is None:
                raise ValueError(f"InputLayer '{self.name}': a shape is required, e.g. "
                                 "grebe.Input(shape=(32, 32, 3))")
            if isinstance(shape, (int, np.integer)):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        batch_shape = tuple(batch_shape)
        if not all(d is None or (isinstance(d, (int, np.integer)) and d >= 0)
                   for d in batch_shape):
            raise ValueError(f"InputLayer '{self.name}': the shape must hold non-negative "
                             f"integers or None, received batch_shape={batch_shape}")
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.input_dtype = str(np.dtype(dtype or "float32"))
        # When the input is created implicitly (input_shape= or from data), integer data going
        # into an Embedding-like first layer stays integer; otherwise data is cast to the dtype.
        self._cast_ints = True
        self.built = True
        self._trainable = False
        node = Node(self, None)
        node.outputs = [KerasTensor(self.batch_shape, self.input_dtype, self.name, node, 0)]
        node.inputs = []
        _inbound_nodes(self).append(node)
        self._output_tensor = node.outputs[0]

    @property
    def dtype(self) -> str:
        return self.input_dtype

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params(self) -> int:
        return 0

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.input_dtype,
                "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False) -> KerasTensor:  # noqa: N802 (Keras's name)
    """A symbolic model input of `shape` (without the batch axis): `x = grebe.Input((28, 28, 1))`.

    >>> import grebe
    >>> grebe.Input(shape=(32,)).shape
    (None, 32)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name)
    return layer._output_tensor
