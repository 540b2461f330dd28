"""Grad-CAM (Selvaraju et al. 2017): a class-discriminative map from a spatial layer's feature
maps A (N, h, w, K) — or (N, t, K) for sequences — and the gradient of the target score with
respect to them:  cam = relu(sum_k alpha_k A_k),  alpha_k = mean over positions of dScore/dA_k.
"""
from __future__ import annotations

import numpy as np

from grebe.explain import _core


def _spatial_layer(model, x, who):
    """The last layer, in execution order, whose output keeps the input's spatial rank."""
    order, shapes = [], {}

    def recorder(la):
        def rec(out):
            if la not in shapes:
                order.append(la)
            shapes[la] = tuple(getattr(out, "shape", ()))
            return out
        return rec

    from contextlib import ExitStack
    with ExitStack() as stack:
        for la in _core.all_layers(model):
            if la is not model and not la._layers:  # leaf layers; nested models are walked
                stack.enter_context(_core.layer_hook(la, recorder(la)))
        _core.forward(model, x[:1])
    rank = x.ndim if x.dtype.kind == "f" else x.ndim + 1  # token ids (N, T) -> (N, T, E)
    for la in reversed(order):
        s = shapes[la]
        if len(s) == rank and len(s) >= 3 and max(s[1:-1]) > 1:
            return la
    raise ValueError(f"{who}: model {model.name!r} has no layer with a spatial output "
                     f"(rank {rank}, e.g. Conv1D/Conv2D/pooling); pass layer=")


def _resize(maps: np.ndarray, size) -> np.ndarray:
    """Bilinear (or linear, for 1-D maps) resize with half-pixel centres. maps (N, *src)."""
    out = maps.astype(np.float32)
    for axis, n_out in enumerate(size, start=1):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        w = (pos - lo).astype(np.float32)
        shape = [1] * out.ndim
        shape[axis] = n_out
        w = w.reshape(shape)
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return out


def grad_cam(model, x, target=None, layer=None):
    """Returns (cam, raw): cam (N, *input spatial size) upsampled from raw (N, h, w) (or (N, t)),
    both >= 0 and not normalized (divide by the max to show it). layer: a Layer or its name;
    None picks the last layer with a spatial output (works on Sequential models without an
    Input, functional and nested models)."""
    who = "grad_cam"
    x = _core.as_batch(x, who)
    t = _core.resolve_target(model, x, target, who)
    la = _spatial_layer(model, x, who) if layer is None else _core.find_layer(model, layer, who)
    g, a, _ = _core.layer_gradient(model, x, t, la)
    if a.ndim < 3:
        raise ValueError(f"{who}: layer {la.name!r} has no spatial output (output shape "
                         f"{a.shape[1:]}); choose a Conv1D/Conv2D/pooling layer")
    axes = tuple(range(1, a.ndim - 1))
    alpha = g.mean(axis=axes, keepdims=True)
    raw = np.maximum((alpha * a).sum(axis=-1), 0.0).astype(np.float32)
    spatial = x.shape[1:-1] if x.dtype.kind == "f" else x.shape[1:]
    size = spatial if len(spatial) == raw.ndim - 1 else raw.shape[1:]
    return _resize(raw, size), raw
