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

In-place writes: every numpy array a recorded node saved for backward (and the input array a
saved view was taken from) is read-only while the node is alive. A raw numpy write to it (the
user's array, `t.data[...] = v`, `layer.kernel.data[...] = v`) fails at once with numpy's
"read-only" ValueError; grebe's own writes (`assign`, `set_weights`, `load_weights`, optimizer
steps) go through and bump a version, and that node's backward then raises a RuntimeError
naming the weight. Either way `.grad` is never silently wrong. backward (without retain_graph)
or dropping the graph makes the arrays writable again; arrays read-only before stay so.
"""
from __future__ import annotations

import functools
import sys
import threading

import numpy as np

from grebe.inplace import _hold_saved, write_arrays  # noqa: F401 (write_arrays re-exported)
from grebe.tensor import Tensor, accumulate_leaf, seed_grad


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: `no_grad` (or `predict`) in one thread never
    changes whether another thread records a graph. Every new thread starts with grad on."""
    grad_enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.grad_enabled


class _GradMode:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _state.grad_enabled
        _state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev
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

    __slots__ = ("inputs", "saved", "needs_input_grad", "out_meta", "_hold", "__dict__")

    def save(self, *values):
        self.saved = values

    @classmethod
    def apply(cls, *args, **kwargs):
        # The hot path of every op: keep it to a few hundred nanoseconds.
        T = Tensor
        ctx = cls.__new__(cls)
        ctx.saved = ()
        grad_on = _state.grad_enabled
        raw = []
        needs = []
        for a in args:
            if isinstance(a, T):
                raw.append(a.data)
                needs.append(grad_on and a.requires_grad)
            else:
                raw.append(a)
                needs.append(False)
        ctx.needs_input_grad = needs = tuple(needs)
        out = cls.forward(ctx, *raw, **kwargs)
        make = T._make
        if True not in needs:
            if type(out) is tuple:
                return tuple(make(o, False, None, 0) for o in out)
            return make(out, False, None, 0)
        ctx.inputs = args
        ctx._hold = _hold_saved(ctx.saved, raw) if ctx.saved else None
        if type(out) is tuple:
            ctx.out_meta = tuple((o.shape, o.dtype) for o in out)
            return tuple(make(o, True, ctx, i) for i, o in enumerate(out))
        ctx.out_meta = None
        return make(out, True, ctx, 0)

    def run_backward(self, tensor, grad=None, retain_graph: bool = False) -> None:
        """Tensor.backward() on an output of this node: the graph walk below."""
        backward(tensor, grad, retain_graph)

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        raise NotImplementedError


def _topological_order(root_ctx):
    """Function nodes reachable from root_ctx through inputs that need grad, each after every
    node that consumes it."""
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
        # needs_input_grad is True only for Tensor inputs, so no type checks are needed here.
        for inp, need in zip(node.inputs, node.needs_input_grad):
            if need:
                c = inp._ctx
                if c is not None and id(c) not in visited:
                    stack.append((c, False))
    order.reverse()  # consumers first
    return order


# A gradient array can become a leaf's .grad without a copy when nothing else refers to it:
# referenced only by the op's result tuple, the loop variable and getrefcount's own argument.
# Anything more (an op that returns the same array twice, or also keeps it in ctx, or passes
# the upstream gradient through) means shared memory, and the gradient is copied as before.
_getrefcount = getattr(sys, "getrefcount", None)
_SOLE_OWNER_REFS = 3


_FREED = ("backward: this graph was already freed by an earlier backward(); to call backward "
          "twice through it, pass retain_graph=True to the first call (as in PyTorch), or run "
          "the forward again")


def backward(tensor, grad=None, retain_graph: bool = False, on_ready=None) -> None:
    """Accumulates d(tensor)/d(leaf) * grad into every leaf's `.grad` that requires it.

    on_ready(leaves): called as soon as the listed leaves' gradients are final (their last
    consumer in the walk has run), so that a caller can start sending them while backward goes
    on (grebe.distribution's bucketed allreduce); leaves the walk never reaches are not listed."""
    grad = seed_grad(tensor, grad)
    if tensor._ctx is None:  # a leaf
        accumulate_leaf(tensor, grad)
        return

    if not tensor._ctx.needs_input_grad:
        raise RuntimeError(_FREED)
    pending = {id(tensor._ctx): [None] * _n_outputs(tensor._ctx)}
    pending[id(tensor._ctx)][tensor._out_index] = grad
    del grad
    prev_mode = _state.grad_enabled
    _state.grad_enabled = False
    order = _topological_order(tensor._ctx)
    ready = None if on_ready is None else _leaves_final_before(order)
    try:
        for k, node in enumerate(order):
            if ready is not None and ready[k]:
                on_ready(ready[k])
            grads = pending.pop(id(node), None)
            if grads is None:
                continue
            if not node.needs_input_grad:
                raise RuntimeError(_FREED)
            hold = getattr(node, "_hold", None)
            if hold is not None:
                hold.check(node)
            if node.out_meta is None:
                g0 = grads[0]
                del grads
                result = node.backward(node, g0 if g0 is not None
                                       else np.zeros((), np.float32))
                del g0
            else:
                full = [g if g is not None else np.zeros(shape, dtype)
                        for g, (shape, dtype) in zip(grads, node.out_meta)]
                del grads
                result = node.backward(node, *full)
                del full
            if type(result) is not tuple:
                result = (result,)
            inputs, needs = node.inputs, node.needs_input_grad
            g = None
            for i in range(min(len(result), len(inputs))):
                if not needs[i]:
                    continue
                g = result[i]
                if g is None:
                    continue
                inp = inputs[i]
                if inp._ctx is None:
                    owned = _getrefcount is not None and _getrefcount(g) <= _SOLE_OWNER_REFS
                    accumulate_leaf(inp, g, owned)
                else:
                    slot = pending.get(id(inp._ctx))
                    if slot is None:
                        slot = pending[id(inp._ctx)] = [None] * _n_outputs(inp._ctx)
                    prev = slot[inp._out_index]
                    slot[inp._out_index] = g if prev is None else prev + g
            del result, g
            if not retain_graph:
                node.saved = ()
                node.inputs = ()
                node.needs_input_grad = ()
                if hold is not None:
                    hold.release()
        if ready is not None and ready[-1]:
            on_ready(ready[-1])
    finally:
        _state.grad_enabled = prev_mode


def _leaves_final_before(order) -> list:
    """ready[k]: the leaves whose last consumer in `order` is order[k - 1], so whose gradients
    are final before node k runs (ready[len(order)]: after the last node)."""
    last = {}
    for k, node in enumerate(order):
        for inp, need in zip(node.inputs, node.needs_input_grad):
            if need and inp._ctx is None:
                last[id(inp)] = (k, inp)
    ready = [[] for _ in range(len(order) + 1)]
    for k, inp in last.values():
        ready[k + 1].append(inp)
    return ready


def _n_outputs(ctx) -> int:
    return 1 if ctx.out_meta is None else len(ctx.out_meta)




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
