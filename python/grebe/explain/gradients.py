"""Gradient attributions: saliency (Simonyan et al. 2014), input x gradient, SmoothGrad (Smilkov
et al. 2017) and Integrated Gradients (Sundararajan et al. 2017).

Every method explains `target` (None = the predicted class, an int, or one int per sample) and
returns numpy arrays shaped like the input — or like the layer's output when `layer=` is given
(how a text model is explained through its Embedding: one vector per token; sum the last axis for
one score per token). Batches, IG steps and SmoothGrad samples run as whole batches through the
model (in chunks of `_core.CHUNK_ROWS` rows), never one sample at a time.
"""
from __future__ import annotations

import numpy as np

from grebe.explain import _core


def _gradients(model, x, target, layer, who):
    """(gradients, what they are gradients of) for the input or a layer's output."""
    if layer is None:
        _core.require_float(x, who)
        g, _ = _core.input_gradient(model, x, target)
        return g, x
    la = _core.find_layer(model, layer, who)
    g, a, _ = _core.layer_gradient(model, x, target, la)
    return g, a


def _reduce(a: np.ndarray, reduce_channels, who):
    if reduce_channels is None:
        return a
    if reduce_channels == "max":
        return a.max(axis=-1, keepdims=True)
    if reduce_channels == "mean":
        return a.mean(axis=-1, keepdims=True)
    raise ValueError(f"{who}: reduce_channels must be 'max', 'mean' or None, received "
                     f"{reduce_channels!r}")


def saliency(model, x, target=None, abs=True, reduce_channels="max", layer=None):
    """|d score / d input| (Simonyan 2014). x (N, ...) -> (N, ..., 1) with reduce_channels
    'max' (the map per pixel/step: the largest over the last axis) or 'mean'; the full gradient
    shape with reduce_channels=None.

    >>> import numpy as np, grebe
    >>> m = grebe.Sequential([grebe.Input((4,)), grebe.layers.Dense(3, activation="softmax")])
    >>> grebe.explain.saliency(m, np.ones((2, 4), "float32"), target=1).shape
    (2, 1)
    """
    who = "saliency"
    x = _core.as_batch(x, who)
    t = _core.resolve_target(model, x, target, who)
    g, _ = _gradients(model, x, t, layer, who)
    return _reduce(np.abs(g) if abs else g, reduce_channels, who)


def input_x_gradient(model, x, target=None, layer=None):
    """input * d score / d input, elementwise, shaped like x (or like the layer's output)."""
    who = "input_x_gradient"
    x = _core.as_batch(x, who)
    t = _core.resolve_target(model, x, target, who)
    g, a = _gradients(model, x, t, layer, who)
    return a * g


_METHODS = {"saliency": saliency, "input_x_gradient": input_x_gradient}


def smoothgrad(model, x, target=None, samples=50, noise=0.15, seed=None, method="saliency",
               **method_kwargs):
    """The mean of `method`'s maps over `samples` noisy copies of each input (Smilkov 2017).
    The noise is Gaussian with sigma = noise * (max(x_i) - min(x_i)) per sample. `method` is
    'saliency', 'input_x_gradient', 'integrated_gradients' or a callable(model, x, target, ...).
    The target is fixed from the clean input, so every noisy copy explains the same class."""
    who = "smoothgrad"
    x = _core.as_batch(x, who)
    _core.require_float(x, who)
    if int(samples) < 1:
        raise ValueError(f"{who}: samples must be a positive integer, received {samples}")
    if not noise >= 0:
        raise ValueError(f"{who}: noise must be >= 0, received {noise}")
    fn = method if callable(method) else _METHODS.get(method)
    if fn is None and method == "integrated_gradients":
        fn = integrated_gradients
    if fn is None:
        raise ValueError(f"{who}: unknown method {method!r}; expected 'saliency', "
                         f"'input_x_gradient', 'integrated_gradients' or a function")
    t = _core.resolve_target(model, x, target, who)
    n, samples = x.shape[0], int(samples)
    flat = x.reshape(n, -1)
    sigma = (noise * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)
    rng = np.random.default_rng(seed)
    # All noisy copies as one batch (sample-major), explained in one call of the method.
    eps = rng.standard_normal((samples,) + x.shape).astype(np.float32)
    noisy = x[None] + eps * sigma.reshape((1, n) + (1,) * (x.ndim - 1))
    maps = fn(model, noisy.reshape((samples * n,) + x.shape[1:]), np.tile(t, samples),
              **method_kwargs)
    return maps.reshape((samples, n) + maps.shape[1:]).mean(axis=0)


def _rule(steps: int, method: str, who: str):
    """(alphas, weights) of a quadrature of f over [0, 1] with `steps` points."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"{who}: steps must be a positive integer, received {steps!r}")
    steps = int(steps)
    if method == "riemann_trapezoid":
        if steps == 1:
            return np.array([0.5]), np.array([1.0])
        w = np.full(steps, 1.0 / (steps - 1))
        w[0] = w[-1] = 0.5 / (steps - 1)
        return np.linspace(0.0, 1.0, steps), w
    if method == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1.0) / 2.0, w / 2.0
    raise ValueError(f"{who}: method must be 'riemann_trapezoid' or 'gausslegendre', received "
                     f"{method!r}")


def integrated_gradients(model, x, target=None, baseline=None, steps=50,
                         method="riemann_trapezoid", return_delta=False, layer=None):
    """(x - b) * integral over a in [0, 1] of d score(b + a (x - b)) / d x (Sundararajan 2017).

    baseline: None (zeros), a scalar, or an array shaped like x or like one sample. With
    `layer=`, the path runs in that layer's output space, from the layer's output at the baseline
    input to its output at x (for a text model: baseline=None means token id 0, the padding).
    return_delta: also return, per sample, the completeness error
    sum(attributions) - (score(x) - score(baseline)), which shrinks as steps grow."""
    who = "integrated_gradients"
    x = _core.as_batch(x, who)
    alphas, weights = _rule(steps, method, who)
    b = _baseline(x, baseline, who)
    t = _core.resolve_target(model, x, target, who)
    n = x.shape[0]
    if layer is None:
        _core.require_float(x, who)
        start, end = b, x
    else:
        la = _core.find_layer(model, layer, who)
        start, end = _core.layer_output(model, b, la), _core.layer_output(model, x, la)
    diff = end - start
    # Every (step, sample) point of the path in one batch, step-major.
    shape = (len(alphas), n) + x.shape[1:]
    a = alphas.astype(np.float32).reshape((-1, 1) + (1,) * (diff.ndim - 1))
    path = (start[None] + a * diff[None]).reshape((-1,) + diff.shape[1:])
    tt = np.tile(t, len(alphas))
    if layer is None:
        g, _ = _core.input_gradient(model, path, tt)
    else:
        xs = np.broadcast_to(x[None], shape).reshape((-1,) + x.shape[1:])
        g, _, _ = _core.layer_gradient(model, xs, tt, la, values=path)
    g = g.reshape((len(alphas),) + diff.shape).astype(np.float64)
    avg = np.tensordot(weights, g, axes=(0, 0))
    attr = (diff * avg).astype(np.float32)
    if not return_delta:
        return attr
    rows = np.arange(n)
    fx = _core.forward(model, x)[rows, t].astype(np.float64)
    fb = _core.forward(model, b)[rows, t].astype(np.float64)
    delta = attr.reshape(n, -1).sum(axis=1, dtype=np.float64) - (fx - fb)
    return attr, delta


def _baseline(x: np.ndarray, baseline, who: str) -> np.ndarray:
    if baseline is None:
        return np.zeros_like(x)
    b = np.asarray(baseline, dtype=x.dtype)
    if b.ndim == 0:
        return np.full_like(x, b)
    if b.shape == x.shape[1:]:
        return np.ascontiguousarray(np.broadcast_to(b, x.shape))
    if b.shape != x.shape:
        raise ValueError(f"{who}: baseline must be a scalar, shaped like one sample "
                         f"{x.shape[1:]} or like the batch {x.shape}, received {b.shape}")
    return np.ascontiguousarray(b)
