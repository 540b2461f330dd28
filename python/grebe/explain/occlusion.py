"""Occlusion (Zeiler & Fergus 2014): slide a window over the input, replace what it covers by a
baseline, and attribute to each input element the mean drop of the target score over the windows
that covered it. Every occluded copy of the batch runs through the model in large batches."""
from __future__ import annotations

import itertools

import numpy as np

from grebe.explain import _core


def _per_dim(v, nd, full, name, who):
    v = (v,) if np.isscalar(v) else tuple(v)
    if not 1 <= len(v) <= nd or any(int(s) != s or s < 1 for s in v):
        raise ValueError(f"{who}: {name} must be positive integers, at most one per sample "
                         f"axis {full}, received {v}")
    v = tuple(int(s) for s in v) + full[len(v):]  # trailing axes (channels) whole
    if any(s > f for s, f in zip(v, full)):
        raise ValueError(f"{who}: {name} {v} is larger than a sample {full}")
    return v


def occlusion(model, x, target=None, window=(4, 4), strides=None, baseline=0.0):
    """x (N, ...) -> attributions shaped like x. window/strides: one size per leading sample
    axis (e.g. (4, 4) on (N, H, W, C) images covers all channels); strides default to window.
    baseline: a scalar, or an array shaped like one sample or like x."""
    who = "occlusion"
    x = _core.as_batch(x, who)
    full = x.shape[1:]
    window = _per_dim(window, len(full), full, "window", who)
    strides = window if strides is None else _per_dim(strides, len(full), full, "strides", who)
    t = _core.resolve_target(model, x, target, who)
    b = np.asarray(baseline, x.dtype)
    if b.ndim and b.shape not in (full, x.shape):
        raise ValueError(f"{who}: baseline must be a scalar or shaped like a sample {full} or "
                         f"the batch {x.shape}, received {b.shape}")
    b = np.broadcast_to(b, x.shape)
    starts = [range(0, f - w + 1, s) for f, w, s in zip(full, window, strides)]
    corners = list(itertools.product(*starts))
    n, rows = x.shape[0], np.arange(x.shape[0])
    score = _core.forward(model, x)[rows, t]
    total = np.zeros(x.shape, np.float64)
    count = np.zeros(full, np.float64)
    per = max(1, _core.CHUNK_ROWS // n)  # windows per forward pass
    for c0 in range(0, len(corners), per):
        group = corners[c0:c0 + per]
        batch = np.repeat(x[None], len(group), axis=0)
        boxes = [tuple(slice(c, c + w) for c, w in zip(corner, window)) for corner in group]
        for j, box in enumerate(boxes):
            batch[(j, slice(None)) + box] = b[(slice(None),) + box]
        out = _core.forward(model, batch.reshape((-1,) + full))
        drop = score[None] - out[np.arange(len(group) * n), np.tile(t, len(group))].reshape(
            len(group), n)
        for j, box in enumerate(boxes):
            total[(slice(None),) + box] += drop[j].reshape((n,) + (1,) * len(full))
            count[box] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
