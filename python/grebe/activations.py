"""Activation functions with Keras 3 names and arguments, operating on Tensors.

`get(identifier)` resolves what a layer's `activation=` accepts (a name, a function, None);
`serialize(fn)` gives the name stored in a layer config.

>>> import grebe
>>> grebe.activations.get("relu")(grebe.tensor([-1.0, 2.0]))
tensor([0., 2.])
>>> grebe.activations.serialize(grebe.activations.softmax)
'softmax'
"""
from __future__ import annotations

from grebe import ops
from grebe.tensor import Tensor

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
           "gelu", "silu", "swish", "softplus", "softsign", "hard_silu", "hard_swish", "mish",
           "log_sigmoid", "exponential", "linear", "softmax", "log_softmax", "celu", "glu",
           "hard_shrink", "hard_tanh", "soft_shrink", "sparse_plus", "sparse_sigmoid",
           "sparsemax", "squareplus", "tanh_shrink", "threshold", "get", "serialize",
           "deserialize"]


def _fusable(name: str, alpha: float = 0.0):
    """Marks a function as the plain activation `name`, which ops.dense can fuse."""
    def mark(fn):
        fn._grebe_fused = (name, alpha)
        return fn
    return mark


@_fusable("relu")
def relu(x, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0):
    """max(x, 0), with Keras's options: values at or below `threshold` become 0, then
    `max_value` clips, and `negative_slope` * (threshold - x) is subtracted below it."""
    if max_value is None and threshold == 0.0:
        return ops.relu(x) if negative_slope == 0.0 else ops.leaky_relu(x, negative_slope)
    x = x if isinstance(x, Tensor) else Tensor(x)
    clip_max = max_value is not None
    if threshold != 0.0:
        y = ops.multiply(x, (x.data > threshold).astype("float32"))
    elif max_value == 6:
        y, clip_max = ops.relu6(x), False
    else:
        y = ops.relu(x)
    if clip_max:
        y = ops.clip(y, 0.0, float(max_value))
    if negative_slope != 0.0:
        y = y - ops.relu(threshold - x) * negative_slope
    return y


@_fusable("relu6")
def relu6(x):
    return ops.relu6(x)


@_fusable("leaky_relu", 0.2)
def leaky_relu(x, negative_slope: float = 0.2):
    return ops.leaky_relu(x, negative_slope)


@_fusable("elu", 1.0)
def elu(x, alpha: float = 1.0):
    return ops.elu(x, alpha)


@_fusable("selu")
def selu(x):
    return ops.selu(x)


@_fusable("sigmoid")
def sigmoid(x):
    return ops.sigmoid(x)


@_fusable("hard_sigmoid")
def hard_sigmoid(x):
    return ops.hard_sigmoid(x)


@_fusable("tanh")
def tanh(x):
    return ops.tanh(x)


@_fusable("gelu")
def gelu(x, approximate: bool = False):
    """Keras's activations.gelu: exact (erf) by default."""
    return ops.gelu(x, approximate)


@_fusable("silu")
def silu(x):
    return ops.silu(x)


swish = silu


@_fusable("softplus")
def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return ops.softsign(x)


def hard_silu(x):
    return ops.hard_silu(x)


hard_swish = hard_silu


def mish(x):
    return ops.mish(x)


def log_sigmoid(x):
    return ops.log_sigmoid(x)


def exponential(x):
    return ops.exponential(x)


@_fusable("linear")
def linear(x):
    return ops.linear(x)


@_fusable("softmax")
def softmax(x, axis=-1):
    return ops.softmax(x, axis)


@_fusable("log_softmax")
def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


# The rest of Keras 3.15's activations, composed in grebe.ops.nn.
def celu(x, alpha=1.0):
    return ops.celu(x, alpha)


def glu(x, axis=-1):
    return ops.glu(x, axis)


def hard_shrink(x, threshold=0.5):
    return ops.hard_shrink(x, threshold)


def hard_tanh(x):
    return ops.hard_tanh(x)


def soft_shrink(x, threshold=0.5):
    return ops.soft_shrink(x, threshold)


def sparse_plus(x):
    return ops.sparse_plus(x)


def sparse_sigmoid(x):
    return ops.sparse_sigmoid(x)


def sparsemax(x, axis=-1):
    return ops.sparsemax(x, axis)


def squareplus(x, b=4):
    return ops.squareplus(x, b)


def tanh_shrink(x):
    return ops.tanh_shrink(x)


def threshold(x, threshold, default_value):  # noqa: A002 (Keras's names)
    return ops.threshold(x, threshold, default_value)


_BY_NAME = {
    "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "tanh": tanh, "gelu": gelu, "silu": silu,
    "swish": swish, "softplus": softplus, "softsign": softsign, "hard_silu": hard_silu,
    "hard_swish": hard_swish, "mish": mish, "log_sigmoid": log_sigmoid,
    "exponential": exponential, "linear": linear, "softmax": softmax,
    "log_softmax": log_softmax, "celu": celu, "glu": glu, "hard_shrink": hard_shrink,
    "hard_tanh": hard_tanh, "soft_shrink": soft_shrink, "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid, "sparsemax": sparsemax, "squareplus": squareplus,
    "tanh_shrink": tanh_shrink, "threshold": threshold,
}
_NAME_OF = {fn: name for name, fn in _BY_NAME.items() if name not in ("swish", "hard_swish")}


def get(identifier):
    """The activation function for a name ('relu'), a function (returned as is), a config dict
    {'class_name': 'function', 'config': 'relu'} or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier.get("class_name"))
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(f"Could not interpret activation function identifier: "
                             f"{identifier!r} (known: {sorted(_BY_NAME)})")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation) -> str:
    """The name of a built-in activation (what a layer config stores)."""
    name = _NAME_OF.get(activation)
    if name is None:
        name = getattr(activation, "__name__", None)
        if name not in _BY_NAME:
            raise ValueError(f"activations.serialize: {activation!r} is not a built-in "
                             f"activation and cannot be stored by name")
    return name


def deserialize(name):
    return get(name)


def fused_spec(activation):
    """(name, alpha) when `activation` is a plain built-in ops.dense can fuse, else None."""
    return getattr(activation, "_grebe_fused", None)
