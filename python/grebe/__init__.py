"""grebe — a small, fast deep-learning library for training on the CPU.

Native C++/OpenMP kernels (GEMM, convolution, pooling, LSTM/GRU, fused elementwise and optimizer
updates) under a Keras-3-style API and PyTorch-style autograd.

>>> import grebe
>>> grebe.show_config()  # doctest: +SKIP
"""
from __future__ import annotations

__version__ = "0.1.0"

from grebe import _C
from grebe.autograd import enable_grad, is_grad_enabled, no_grad
from grebe.tensor import Tensor, tensor
from grebe import ops  # noqa: E402  (sets the Tensor operators)
from grebe.ops.matmul import matmul  # noqa: E402


def set_num_threads(n: int) -> None:
    """Sets the number of OpenMP threads every grebe kernel uses (default: physical cores)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected a positive integer, received {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of OpenMP threads grebe's kernels use."""
    return _C.num_threads()


def show_config(file=None) -> dict:
    """Prints (and returns) the build and run-time configuration: ISA, threads, compiler."""
    import sys

    import numpy as np

    cfg = {
        "version": __version__,
        "isa": _C.active_isa(),
        "cpu_best_isa": _C.detect_isa(),
        "threads": _C.num_threads(),
        "physical_cores": _C.physical_cores(),
        "compiler": _C.compiler,
        "openmp": _C.openmp_version,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    out = file or sys.stdout
    for k, v in cfg.items():
        print(f"{k:>15}: {v}", file=out)
    return cfg


_LAZY = {
    # name -> module that defines it; loaded on first use so `import grebe` stays fast.
    "layers": "grebe.layers",
    "optimizers": "grebe.optimizers",
    "losses": "grebe.losses",
    "metrics": "grebe.metrics",
    "initializers": "grebe.initializers",
    "activations": "grebe.activations",
    "callbacks": "grebe.callbacks",
    "utils": "grebe.utils",
    "datasets": "grebe.datasets",
    "data": "grebe.data",
    "models": "grebe.models",
    "saving": "grebe.saving",
    "regularizers": "grebe.regularizers",
    "random": "grebe.random",
    "backend": "grebe.backend",
    "constraints": "grebe.constraints",
    "explain": "grebe.explain",
    "applications": "grebe.applications",
    "preprocessing": "grebe.preprocessing",
}
_LAZY_NAMES = {
    "Sequential": "grebe.models",
    "Model": "grebe.models",
    "Input": "grebe.models",
    "load_model": "grebe.saving",
    "from_dlpack": "grebe.dlpack",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'grebe' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + list(_LAZY_NAMES))
