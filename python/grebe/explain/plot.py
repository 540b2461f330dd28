"""Pictures of explanations: heat maps over the images (a grid of samples x methods) and grids
of feature maps. Needs matplotlib (`pip install "grebe[plot]"`)."""
from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # matplotlib is an optional extra
        raise ImportError("grebe.explain.plot needs matplotlib: pip install \"grebe[plot]\"") \
            from e
    return plt


def _image(a: np.ndarray) -> np.ndarray:
    """One sample (H, W, C) or (H, W) -> something imshow draws, scaled to [0, 1]."""
    a = np.asarray(a, np.float32)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    lo, hi = np.nanmin(a), np.nanmax(a)
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _heat(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float32)
    if m.ndim == 3:
        m = np.abs(m).max(axis=-1)
    hi = np.nanmax(np.abs(m))
    return m / hi if hi > 0 else m


def plot(images, maps: dict, titles=None, alpha=0.5, path=None):
    """A grid: one row per sample, the image then one heat-map overlay per method.

    images (N, H, W[, C]); maps {method name: (N, H, W[, 1|C])}; titles: one string per row
    (e.g. "pred 3 / true 3"). Returns the matplotlib Figure; saves a PNG when `path` is given."""
    plt = _pyplot()
    images = np.asarray(images)
    n, cols = images.shape[0], 1 + len(maps)
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    for i in range(n):
        img = _image(images[i])
        axes[i, 0].imshow(img, cmap="gray" if img.ndim == 2 else None)
        axes[i, 0].set_ylabel(titles[i] if titles is not None else "", fontsize=7)
        for j, (name, m) in enumerate(maps.items(), start=1):
            axes[i, j].imshow(img, cmap="gray" if img.ndim == 2 else None)
            axes[i, j].imshow(_heat(m[i]), cmap="jet", alpha=alpha)
            if i == 0:
                axes[i, j].set_title(name, fontsize=8)
        if i == 0:
            axes[i, 0].set_title("image", fontsize=8)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_feature_maps(maps: np.ndarray, max_maps: int = 32, path=None):
    """A grid of one sample's feature maps (H, W, K) (the first `max_maps` channels)."""
    plt = _pyplot()
    maps = np.asarray(maps)
    k = min(maps.shape[-1], max_maps)
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
    for c, a in enumerate(axes.ravel()):
        if c < k:
            a.imshow(maps[..., c], cmap="viridis")
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def save_png(path, images, maps: dict, titles=None, alpha=0.5):
    """plot(...) written to a PNG file at `path`; the figure is closed afterwards."""
    plt = _pyplot()
    fig = plot(images, maps, titles=titles, alpha=alpha, path=path)
    plt.close(fig)
    return path
