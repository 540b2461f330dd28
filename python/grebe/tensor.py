"""Tensor: a C-contiguous float32 numpy array plus autograd bookkeeping.

>>> import grebe
>>> x = grebe.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([[2., 4.],
       [6., 8.]], dtype=float32)

Floating inputs become float32 once, at the edge; integer and boolean arrays (labels, masks)
keep their dtype and never require grad. `.grad` is a numpy array (the accumulated gradient).

This module is the bottom of grebe's Python layers; of grebe it imports only inplace.py (numpy
only: read-only saved arrays and write versions, which assign() goes through). The two things
a Tensor does that live higher up reach it without an import:
- `backward()` asks the Function that made the tensor (`self._ctx`, a grebe.autograd.Function)
  to run the graph walk; a leaf only accumulates its gradient, here.
- the operators and methods (+, @, .sum(), .reshape() ...) are grebe.ops functions, which
  grebe/ops/__init__.py hands over once through `define_operators`.
"""
from __future__ import annotations

import types

import numpy as np

from grebe.inplace import write_arrays


def _ops_not_loaded(*args, **kwargs):
    raise RuntimeError("grebe.tensor: the Tensor operators come from grebe.ops; import grebe")


_OPERATOR_NAMES = ("add", "subtract", "multiply", "divide", "negative", "power", "matmul", "abs",
                   "getitem", "sum", "mean", "max", "min", "reshape", "transpose", "exp", "log",
                   "sqrt", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "clip")
_ops = types.SimpleNamespace(**{n: _ops_not_loaded for n in _OPERATOR_NAMES})


def define_operators(**functions) -> None:
    """Sets the functions behind the Tensor operators (called by grebe.ops when it loads);
    every name of _OPERATOR_NAMES is required, no other."""
    if set(functions) != set(_OPERATOR_NAMES):
        raise ValueError(f"define_operators: expected {sorted(_OPERATOR_NAMES)}, received "
                         f"{sorted(functions)}")
    for name, fn in functions.items():
        setattr(_ops, name, fn)


def check_numeric(a: np.ndarray, who: str) -> np.ndarray:
    """`a` as a numeric array, or a TypeError naming `who` (e.g. "fit: x", "Layer 'dense'"):
    None or other objects in an object array (numpy would turn None into NaN), complex,
    strings, dates. Object arrays of plain numbers become float32."""
    kind = a.dtype.kind
    if kind in "fiub":
        return a
    if kind == "c":
        raise TypeError(f"{who}: complex data is not supported (dtype {a.dtype}); pass the "
                        f"real part (x.real) or split real and imaginary parts into features")
    if kind == "O":
        flat = a.reshape(-1)
        for i, v in enumerate(flat):
            if v is None or isinstance(v, (str, bytes, complex)) or \
                    not isinstance(v, (int, float, np.number, bool)):
                where = np.unravel_index(i, a.shape) if a.ndim else ()
                raise TypeError(f"{who}: expected numbers, received {type(v).__name__} "
                                f"{v!r:.40} at index {tuple(int(j) for j in where)} of an "
                                f"object array of shape {a.shape} (None is not turned into NaN)")
        return np.asarray(a, dtype=np.float32)
    raise TypeError(f"{who}: expected numeric data, received dtype {a.dtype} (shape {a.shape})")


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        a = data if isinstance(data, np.ndarray) else np.asarray(data)
        if a.dtype.kind not in "fiub":
            check_numeric(a, "grebe.tensor")
        return np.asarray(data, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
    a = data if isinstance(data, np.ndarray) else np.asarray(data)
    if a.dtype.kind not in "fiub":
        a = check_numeric(a, "grebe.tensor")
    if a.dtype.kind == "f":
        return np.asarray(a, dtype=np.float32, order="C")
    return np.asarray(a, order="C")


class Tensor:
    """An n-dimensional float32 array that records the operations applied to it."""

    # _keras_logits / _logits_kind are set only on softmax and sigmoid outputs (Keras's
    # _keras_logits): the tensor they were computed from, for crossentropy losses.
    __slots__ = ("data", "_grad", "requires_grad", "_ctx", "_out_index", "name", "trainable",
                 "_keras_mask", "_keras_logits", "_logits_kind", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype != np.float32:
            raise TypeError(f"grebe.tensor: only float32 tensors can require grad, received "
                            f"dtype {self.data.dtype}")
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._out_index = 0
        self.name = name
        self.trainable = bool(requires_grad)
        self._keras_mask = None

    @classmethod
    def _make(cls, data, requires_grad, ctx, index):
        """Wraps an op's output without copying (ops already return float32/contiguous)."""
        t = cls.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data, dtype=np.float32)
        t._grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._out_index = index
        t.name = None
        t.trainable = False
        t._keras_mask = None
        return t

    # ---- DLPack: zero-copy exchange with numpy, PyTorch, JAX (grebe.from_dlpack is the way in)
    def __dlpack__(self, *args, **kwargs):
        """The tensor's memory as a DLPack capsule (no copy): `torch.from_dlpack(t)` and
        `np.from_dlpack(t)` see, and write, the same memory."""
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    # ---- numpy-like attributes -------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shares memory; copy it before changing it)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self._ctx is not None:
            extra = f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        if self.data.dtype != np.float32:
            extra = f", dtype={self.data.dtype}" + extra
        return f"tensor({body}{extra})"

    # ---- autograd --------------------------------------------------------------------------
    @property
    def grad(self):
        """The accumulated gradient (a float32 numpy array of the tensor's shape) or None."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is None:
            self._grad = None
            return
        g = value.data if isinstance(value, Tensor) else value
        g = np.asarray(g)
        if g.dtype.kind not in "fiub":
            check_numeric(g, "grad")
        if g.shape != self.data.shape:
            raise ValueError(f"grad: expected shape {self.data.shape} (the tensor's), received "
                             f"{g.shape}" + (f" for '{self.name}'" if self.name else ""))
        self._grad = g if g.dtype == np.float32 and g.flags.c_contiguous else \
            np.ascontiguousarray(g, dtype=np.float32)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulates gradients into the `.grad` of every leaf that requires grad (the walk
        is grebe.autograd.backward, run by the Function that made this tensor)."""
        if self._ctx is not None:
            self._ctx.run_backward(self, grad, retain_graph)
        else:
            accumulate_leaf(self, seed_grad(self, grad))

    def detach(self) -> "Tensor":
        """The same values with no history (shares memory)."""
        return Tensor._make(self.data, False, None, 0)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype != np.float32:
            raise TypeError(f"requires_grad_: only float32 tensors can require grad, received "
                            f"dtype {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def assign(self, value) -> None:
        """Overwrites the values in place (keeps identity, as Keras's Variable.assign)."""
        value = np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float32)
        if value.shape != self.data.shape:
            raise ValueError(f"assign: expected shape {self.data.shape}, received "
                             f"{value.shape}" + (f" for '{self.name}'" if self.name else ""))
        write_arrays([self.data], [f"tensor '{self.name}' (assign)" if self.name
                                            else f"a tensor of shape {self.data.shape} (assign)"],
                              lambda: self.data.__setitem__(Ellipsis, value))

    # ---- operators (implemented in grebe.ops) ----------------------------------------------
    def __add__(self, o): return _ops.add(self, o)
    def __radd__(self, o): return _ops.add(o, self)
    def __sub__(self, o): return _ops.subtract(self, o)
    def __rsub__(self, o): return _ops.subtract(o, self)
    def __mul__(self, o): return _ops.multiply(self, o)
    def __rmul__(self, o): return _ops.multiply(o, self)
    def __truediv__(self, o): return _ops.divide(self, o)
    def __rtruediv__(self, o): return _ops.divide(o, self)
    def __neg__(self): return _ops.negative(self)
    def __pow__(self, o): return _ops.power(self, o)
    def __rpow__(self, o): return _ops.power(o, self)
    def __matmul__(self, o): return _ops.matmul(self, o)
    def __rmatmul__(self, o): return _ops.matmul(o, self)
    def __abs__(self): return _ops.abs(self)
    def __getitem__(self, idx): return _ops.getitem(self, idx)

    # Comparisons give boolean tensors and carry no gradient.
    def __lt__(self, o): return Tensor(self.data < _raw(o))
    def __le__(self, o): return Tensor(self.data <= _raw(o))
    def __gt__(self, o): return Tensor(self.data > _raw(o))
    def __ge__(self, o): return Tensor(self.data >= _raw(o))

    # == and != compare elementwise, as Keras's and torch's tensors do (Keras code writes
    # `ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")`); identity stays `is`, and a
    # tensor is hashed by identity, so tensors still work as dict keys and in `in` by identity.
    def __eq__(self, o):
        if o is None or not isinstance(o, (Tensor, np.ndarray, np.generic, int, float, bool,
                                           list, tuple)):
            return NotImplemented
        return Tensor(self.data == _raw(o))

    def __ne__(self, o):
        if o is None or not isinstance(o, (Tensor, np.ndarray, np.generic, int, float, bool,
                                           list, tuple)):
            return NotImplemented
        return Tensor(self.data != _raw(o))

    def __bool__(self) -> bool:
        """numpy's rule: the truth of a one-element tensor; ambiguous for more elements."""
        if self.data.size != 1:
            raise ValueError(f"The truth value of a tensor with {self.data.size} elements is "
                             f"ambiguous: use ops.any / ops.all (and `is` to compare identity)")
        return bool(self.data.item())

    __hash__ = object.__hash__

    def sum(self, axis=None, keepdims=False): return _ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops.min(self, axis, keepdims)
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)
    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)
    permute = transpose
    @property
    def T(self): return _ops.transpose(self, None)
    def flatten(self): return _ops.reshape(self, (-1,))
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def relu(self): return _ops.relu(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def tanh(self): return _ops.tanh(self)
    def softmax(self, axis=-1): return _ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return _ops.log_softmax(self, axis)
    def clip(self, lo, hi): return _ops.clip(self, lo, hi)
    def argmax(self, axis=None): return Tensor(self.data.argmax(axis=axis))


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def seed_grad(t: Tensor, grad) -> np.ndarray:
    """The gradient backward() starts from: ones for a scalar, else `grad` checked against t."""
    if not t.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from inputs without "
                           "requires_grad=True?)")
    if grad is None:
        if t.data.size != 1:
            raise RuntimeError("backward: grad can be implicitly created only for scalar "
                               f"outputs; received shape {t.shape}. Pass grad=...")
        return np.ones(t.data.shape, dtype=np.float32)
    grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=np.float32)
    if grad.shape != t.shape:
        raise ValueError(f"backward: grad must have the tensor's shape {t.shape}, "
                         f"received {grad.shape}")
    return grad


def accumulate_leaf(t: Tensor, g, owned: bool = False) -> None:
    """t.grad += g; with `owned` (nothing else refers to g) a fresh float32 C-contiguous g of
    t's shape becomes t.grad itself instead of a copy. Writes the slot directly: the grad
    setter's checks are for users, and g is already the tensor's shape here."""
    if t._grad is None:
        if owned and type(g) is np.ndarray and g.base is None and g.dtype == np.float32 and \
                g.shape == t.data.shape and g.flags.c_contiguous and g.flags.writeable:
            t._grad = g
            return
        g = np.asarray(g, dtype=np.float32)
        if g.shape != t.data.shape:
            g = np.broadcast_to(g, t.data.shape)
        t._grad = np.array(g, dtype=np.float32, order="C", copy=True)
    else:
        t._grad += g


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Makes a Tensor from array-like data: `grebe.tensor([[1, 2]], requires_grad=True)`."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
