"""Merging layers: combine a list of tensors into one (Keras's Add, Subtract, Multiply, Average,
Maximum, Minimum, Concatenate), and their functional shortcuts (add, concatenate, ...).

>>> import grebe
>>> from grebe import layers
>>> a, b = grebe.Input((3,)), grebe.Input((5,))
>>> layers.Concatenate()([a, b]).shape
(None, 8)
>>> layers.Add()([grebe.tensor([[1.0, 2.0]]), grebe.tensor([[3.0, 4.0]])]).tolist()
[[4.0, 6.0]]
"""
from __future__ import annotations

from grebe.layers.layer import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]


def _broadcast_dims(a, b, name, shapes):
    if a is None or b is None:
        return b if a == 1 else a if b == 1 else (a if a is not None else b)
    if a == 1:
        return b
    if b == 1 or a == b:
        return a
    raise ValueError(f"{name}: inputs with shapes {shapes} cannot be broadcast together "
                     f"(sizes {a} and {b})")


class Merge(Layer):
    """Base of the elementwise merges: a list of tensors of (broadcastable) equal shapes."""

    min_inputs = 1
    max_inputs = None

    def _check_inputs(self, input_shape):
        kind = type(self).__name__
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{kind} '{self.name}' must be called on a list of tensors, "
                             f"received input shape {input_shape}")
        n = len(input_shape)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = self.min_inputs if self.max_inputs == self.min_inputs else \
                f"at least {self.min_inputs}"
            raise ValueError(f"{kind} '{self.name}' expects {want} inputs, received {n}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        shapes = [tuple(s) for s in input_shape]
        kind = f"{type(self).__name__} '{self.name}'"
        out = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(out):
                raise ValueError(f"{kind}: inputs must have the same rank, received shapes "
                                 f"{shapes}")
            out = tuple(_broadcast_dims(a, b, kind, shapes) for a, b in zip(out, s))
        return out

    def _merge(self, inputs):
        raise NotImplementedError

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} '{self.name}' must be called on a list "
                             f"of tensors, received a single {type(inputs).__name__}")
        self._check_inputs([tuple(x.shape) for x in inputs])
        return self._merge(list(inputs))


class Add(Merge):
    """The elementwise sum of the inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(Merge):
    """inputs[0] - inputs[1] (exactly two inputs)."""

    min_inputs = max_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]


class Multiply(Merge):
    """The elementwise product of the inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Average(Merge):
    """The elementwise mean of the inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out * (1.0 / len(xs))


class Maximum(Merge):
    """The elementwise maximum of the inputs."""

    def _merge(self, xs):
        from grebe import ops

        out = xs[0]
        for x in xs[1:]:
            out = ops.maximum(out, x)
        return out


class Minimum(Merge):
    """The elementwise minimum of the inputs."""

    def _merge(self, xs):
        from grebe import ops

        out = xs[0]
        for x in xs[1:]:
            out = ops.minimum(out, x)
        return out


class Concatenate(Layer):
    """Joins a list of tensors along `axis` (default: the last); other axes must match."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate: axis must be an integer, received axis={axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        name = f"Concatenate '{self.name}'"
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{name} must be called on a list of tensors, received input "
                             f"shape {input_shape}")
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"{name}: inputs must have the same rank, received {shapes}")
        if not -rank <= self.axis < rank:
            raise ValueError(f"{name}: axis={self.axis} is out of range for inputs of rank "
                             f"{rank}")
        axis = self.axis % rank
        out = list(shapes[0])
        for s in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, s)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is not None and b is not None and a != b:
                    raise ValueError(f"{name}: inputs must match on every axis but the "
                                     f"concatenation axis {self.axis}; received shapes "
                                     f"{shapes}")
                elif a is None:
                    out[i] = b
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        from grebe import ops

        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Concatenate '{self.name}' must be called on a list of tensors")
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        return ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional form of Add: `add([a, b])`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
