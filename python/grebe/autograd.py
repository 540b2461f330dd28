"""Autograd: Function nodes (forward and backward side by side) and the reverse graph walk.

A differentiable op is a subclass of `Function` with two static methods::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):          # numpy arrays in, numpy array (or tuple) out
            ctx.save(a, b)
            return a * b

        @staticmethod
        def backward(ctx, dy):           # one upstream gradient per output
            a, b = ctx.saved
            return dy * b, dy * a        # one gradient (or None) per input

    y = Mul.apply(x1, x2)                # Tensors (or plain values) in, Tensor(s) out

`ctx.needs_input_grad[i]` tells backward which input gradients are wanted, so an op can skip
work nobody needs (the first conv layer's input gradient, a frozen layer's weights).
"""
from __future__ import annotations

import functools

import numpy as np

_state = {"grad_enabled": True}


def is_grad_enabled() -> bool:
    return _state["grad_enabled"]


class _GradMode:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _state["grad_enabled"]
        _state["grad_enabled"] = self.enabled
        return self

    def __exit__(self, *exc):
        _state["grad_enabled"] = self.prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def no_grad():
    """Context manager (and decorator) that records no graph: `with grebe.no_grad(): ...`."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


class Function:
    """A node of the autograd graph. Subclasses define static `forward` and `backward`."""

    __slots__ = ("inputs", "saved", "needs_input_grad", "out_meta", "__dict__")

    def save(self, *values):
        self.saved = values

    @classmethod
    def apply(cls, *args, **kwargs):
        from grebe.tensor import Tensor

        ctx = cls.__new__(cls)
        ctx.saved = ()
        raw = []
        needs = []
        any_needs = False
        grad_on = _state["grad_enabled"]
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                n = grad_on and a.requires_grad
                needs.append(n)
                any_needs = any_needs or n
            else:
                raw.append(a)
                needs.append(False)
        ctx.needs_input_grad = tuple(needs)
        out = cls.forward(ctx, *raw, **kwargs)
        if not any_needs:
            if isinstance(out, tuple):
                return tuple(Tensor._make(o, False, None, 0) for o in out)
            return Tensor._make(out, False, None, 0)
        ctx.inputs = args
        if isinstance(out, tuple):
            ctx.out_meta = tuple((o.shape, o.dtype) for o in out)
            return tuple(Tensor._make(o, True, ctx, i) for i, o in enumerate(out))
        ctx.out_meta = None
        return Tensor._make(out, True, ctx, 0)

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError


def _topological_order(root_ctx):
    """Function nodes reachable from root_ctx, each after every node that consumes it."""
    from grebe.tensor import Tensor

    order, visited = [], set()
    stack = [(root_ctx, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for inp in node.inputs:
            if isinstance(inp, Tensor) and inp._ctx is not None and id(inp._ctx) not in visited:
                stack.append((inp._ctx, False))
    order.reverse()  # consumers first
    return order


def backward(tensor, grad=None, retain_graph: bool = False) -> None:
    """Accumulates d(tensor)/d(leaf) * grad into every leaf's `.grad` that requires it."""
    from grebe.tensor import Tensor

    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from inputs without "
                           "requires_grad=True?)")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError("backward: grad can be implicitly created only for scalar "
                               f"outputs; received shape {tensor.shape}. Pass grad=...")
        grad = np.ones_like(tensor.data)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=np.float32)
        if grad.shape != tensor.shape:
            raise ValueError(f"backward: grad must have the tensor's shape {tensor.shape}, "
                             f"received {grad.shape}")
    if tensor._ctx is None:  # a leaf
        _accumulate_leaf(tensor, grad)
        return

    pending = {id(tensor._ctx): [None] * _n_outputs(tensor._ctx)}
    pending[id(tensor._ctx)][tensor._out_index] = grad
    with no_grad():
        for node in _topological_order(tensor._ctx):
            grads = pending.pop(id(node), None)
            if grads is None:
                continue
            if node.out_meta is None:
                result = node.backward(node, grads[0] if grads[0] is not None
                                       else np.zeros((), np.float32))
            else:
                full = [g if g is not None else np.zeros(shape, dtype)
                        for g, (shape, dtype) in zip(grads, node.out_meta)]
                result = node.backward(node, *full)
            if not isinstance(result, tuple):
                result = (result,)
            for inp, g, need in zip(node.inputs, result, node.needs_input_grad):
                if not need or g is None:
                    continue
                if inp._ctx is None:
                    _accumulate_leaf(inp, g)
                else:
                    slot = pending.setdefault(id(inp._ctx), [None] * _n_outputs(inp._ctx))
                    prev = slot[inp._out_index]
                    slot[inp._out_index] = g if prev is None else prev + g
            if not retain_graph:
                node.saved = ()
                node.inputs = ()
                node.needs_input_grad = ()


def _n_outputs(ctx) -> int:
    return 1 if ctx.out_meta is None else len(ctx.out_meta)


def _accumulate_leaf(t, g) -> None:
    g = np.asarray(g, dtype=np.float32)
    if g.shape != t.data.shape:
        g = np.broadcast_to(g, t.data.shape)
    if t.grad is None:
        t.grad = np.array(g, dtype=np.float32, order="C", copy=True)
    else:
        t.grad += g


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sums `grad` over the axes numpy broadcasting added or stretched to reach `shape`."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
