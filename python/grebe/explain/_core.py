"""What every explanation method needs: the input as a float batch, the target class of each
sample, the model's weights held out of the graph, a layer's output captured or replaced during
one forward pass, and the gradient of each sample's target score with respect to the input (or to
a layer's output) for a whole batch in one backward pass.

Why one backward pass serves a batch: every method here runs the model in inference mode, where no
sample's output depends on another sample, so seeding the backward pass with a one-hot row per
sample gives each sample's own gradient d out[i, target[i]] / d x[i].
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from grebe import autograd
from grebe.layers import fusion
from grebe.tensor import Tensor

# Rows per forward/backward pass when a method expands the batch (IG steps, SmoothGrad samples,
# occlusion windows): bounds memory; results do not depend on it.
CHUNK_ROWS = 256


def as_batch(x, who: str) -> np.ndarray:
    """x (numpy, Tensor or nested lists) -> a C-contiguous numpy batch; floats become float32."""
    a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected a numeric batch (numpy array or Tensor), received "
                        f"dtype {a.dtype}")
    if a.ndim < 2:
        raise ValueError(f"{who}: expected a batch with a leading sample axis (ndim >= 2), "
                         f"received shape {a.shape}")
    if a.dtype.kind == "f":
        a = a.astype(np.float32, copy=False)
    return np.ascontiguousarray(a)


def require_float(x: np.ndarray, who: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: input gradients need a float input, received dtype {x.dtype} "
                        f"(token ids?); pass layer=<the Embedding layer or its name> to "
                        f"attribute to that layer's output instead")


def forward(model, x) -> np.ndarray:
    """Model outputs (N, C) for a batch, in inference mode, without a graph."""
    with autograd.no_grad():
        out = model(Tensor(x) if not isinstance(x, Tensor) else x, training=False)
    return _output_2d(out, "explain")


def _output_2d(out, who: str):
    if isinstance(out, (list, tuple, dict)):
        raise ValueError(f"{who}: the model has several outputs; explain one output at a time "
                         f"(build a model whose output is the one to explain)")
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    if data.ndim == 1:
        return data[:, None]
    if data.ndim != 2:
        raise ValueError(f"{who}: expected model outputs of shape (batch, classes), received "
                         f"{data.shape}")
    return data


def resolve_target(model, x: np.ndarray, target, who: str) -> np.ndarray:
    """target: None (the predicted class), an int, or one int per sample -> int64 (N,)."""
    n = x.shape[0]
    if target is None:
        outs = [forward(model, x[i:i + CHUNK_ROWS]) for i in range(0, n, CHUNK_ROWS)]
        return np.concatenate(outs).argmax(axis=1).astype(np.int64)
    t = np.asarray(target)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(t == np.round(t))):
        raise TypeError(f"{who}: target must be class indices (ints), received {t.dtype}")
    t = np.broadcast_to(t.astype(np.int64), (n,)) if t.ndim == 0 else t.astype(np.int64)
    if t.shape != (n,):
        raise ValueError(f"{who}: expected one target per sample, shape ({n},), received "
                         f"shape {t.shape}")
    classes = forward(model, x[:1]).shape[1]
    bad = (t < 0) | (t >= classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{who}: target {int(t[i])} of sample {i} is out of range for a model "
                         f"with {classes} outputs (expected 0..{classes - 1})")
    return t


@contextlib.contextmanager
def weights_held(model):
    """Keeps the model's weights out of the graph (no weight gradients computed or stored)."""
    ws = [w for w in model.weights if isinstance(w, Tensor)]
    flags = [w.requires_grad for w in ws]
    try:
        for w in ws:
            w.requires_grad = False
        yield
    finally:
        for w, f in zip(ws, flags):
            w.requires_grad = f


def all_layers(model) -> list:
    """Every layer under the model, depth first (nested models' layers included)."""
    return list(model._flat_layers())


def find_layer(model, layer, who: str):
    """A Layer object from a Layer or its name (searched in nested models too)."""
    layers = all_layers(model)
    if isinstance(layer, str):
        for la in layers:
            if la.name == layer:
                return la
        names = ", ".join(la.name for la in layers)
        raise ValueError(f"{who}: no layer named {layer!r} in model {model.name!r}; its layers "
                         f"are: {names}")
    if layer not in layers:
        raise ValueError(f"{who}: layer {getattr(layer, 'name', layer)!r} is not part of model "
                         f"{model.name!r}")
    return layer


@contextlib.contextmanager
def layer_hook(layer, fn):
    """Runs `fn(output) -> output` on the layer's output during forward passes, and keeps the
    layer out of fused kernels (a fused conv+pool never writes the conv output)."""
    original = layer.call

    @functools.wraps(original)
    def call(*args, **kwargs):
        return fn(original(*args, **kwargs))

    layer.__dict__["call"] = call
    try:
        with fusion.blocked(layer):
            yield
    finally:
        del layer.__dict__["call"]


def _seed(out: Tensor, target: np.ndarray) -> np.ndarray:
    seed = np.zeros(out.shape, np.float32)
    seed.reshape(out.shape[0], -1)[np.arange(out.shape[0]), target] = 1.0
    return seed


def input_gradient(model, x: np.ndarray, target: np.ndarray):
    """d out[i, target[i]] / d x[i] for every row: (grads like x, scores (N,))."""
    grads = np.empty_like(x)
    scores = np.empty(x.shape[0], np.float32)
    with weights_held(model), autograd.enable_grad():
        for i in range(0, x.shape[0], CHUNK_ROWS):
            xt = Tensor(x[i:i + CHUNK_ROWS], requires_grad=True)
            out = model(xt, training=False)
            _output_2d(out, "explain")
            t = target[i:i + CHUNK_ROWS]
            scores[i:i + len(t)] = out.data.reshape(len(t), -1)[np.arange(len(t)), t]
            out.backward(_seed(out, t))
            grads[i:i + len(t)] = xt.grad
    return grads, scores


def layer_output(model, x: np.ndarray, layer) -> np.ndarray:
    """The layer's output for a batch (one inference pass, chunked)."""
    got = []

    def keep(out):
        got.append(np.array(out.data if isinstance(out, Tensor) else out))
        return out

    with layer_hook(layer, keep):
        for i in range(0, x.shape[0], CHUNK_ROWS):
            forward(model, x[i:i + CHUNK_ROWS])
    return np.concatenate(got)


def layer_gradient(model, x: np.ndarray, target: np.ndarray, layer, values=None):
    """Gradient of each row's target score w.r.t. the layer's output.

    values None: the layer computes its output as usual and the graph is cut there (nothing
    above the layer is differentiated). values given (one row per row of x): the layer's output
    is replaced by them, as Integrated Gradients on a layer needs. Returns (grads, outputs, scores)
    where outputs are the layer outputs the gradients refer to."""
    grads, outs, scores = [], [], np.empty(x.shape[0], np.float32)
    with weights_held(model), autograd.enable_grad():
        for i in range(0, x.shape[0], CHUNK_ROWS):
            leaf = {}

            def swap(out, i=i):
                data = out.data if values is None else values[i:i + out.shape[0]]
                leaf["t"] = Tensor(np.ascontiguousarray(data, np.float32), requires_grad=True)
                return leaf["t"]

            with layer_hook(layer, swap):
                out = model(Tensor(x[i:i + CHUNK_ROWS]), training=False)
            _output_2d(out, "explain")
            t = target[i:i + CHUNK_ROWS]
            scores[i:i + len(t)] = out.data.reshape(len(t), -1)[np.arange(len(t)), t]
            out.backward(_seed(out, t))
            g = leaf["t"].grad
            grads.append(np.zeros_like(leaf["t"].data) if g is None else g)
            outs.append(leaf["t"].data)
    return np.concatenate(grads), np.concatenate(outs), scores
