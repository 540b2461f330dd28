"""grebe — a small, fast deep-learning library for training on the CPU.

Native C++/OpenMP kernels (GEMM, convolution, pooling, LSTM/GRU, fused elementwise and optimizer
updates) under a Keras-3-style API and PyTorch-style autograd.

>>> import grebe
>>> grebe.show_config()  # doctest: +SKIP
"""
from __future__ import annotations

__version__ = "0.1.0"

import os as _os

# libgomp's waiting threads spin ~300000 times before they sleep: when another job takes a core,
# the spinning thread burns it while its partner waits to be scheduled, and a 2-thread step ran
# 8-15x slower than its 1-thread CPU time (ResNet-20 training, load average 12: 1.7-3.3 s against
# 0.2 s). 1000 spins keep back-to-back parallel regions warm on a quiet machine and cut that to
# 0.46-0.5 s. Set only when the user set neither variable, before _C loads libgomp.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "1000"

from grebe import _C  # noqa: E402
from grebe.autograd import enable_grad, is_grad_enabled, no_grad
from grebe.tensor import Tensor, tensor
from grebe.variables import Variable  # noqa: F401
from grebe import ops  # noqa: E402  (sets the Tensor operators)
from grebe.ops.matmul import matmul  # noqa: E402


def set_num_threads(n: int) -> None:
    """Sets the number of OpenMP threads every grebe kernel uses (default: physical cores).

    `n` is an integer (Python or numpy) from 1 to `max_num_threads()`, which is 4 x the logical
    CPUs (`os.cpu_count()`): more threads only add stacks and contention, and a huge count can
    make the OpenMP runtime abort the process when it cannot create them. Anything else raises
    (TypeError for a non-integer, ValueError out of range) and changes nothing.

    >>> grebe.set_num_threads(1); grebe.get_num_threads()
    1
    """
    import operator

    import numpy as np

    if isinstance(n, (bool, np.bool_)) or not hasattr(type(n), "__index__"):
        raise TypeError(f"set_num_threads: expected an integer. Received: n={n!r} "
                        f"(of type {type(n).__name__})")
    n = operator.index(n)
    top = _C.max_threads()
    if not 1 <= n <= top:
        raise ValueError(f"set_num_threads: expected a positive integer at most {top} "
                         f"(4 x the logical CPUs). Received: n={n}")
    _C.set_num_threads(n)


def max_num_threads() -> int:
    """The largest value `set_num_threads` accepts: 4 x the logical CPUs."""
    return _C.max_threads()


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
    "distribution": "grebe.distribution",
    "applications": "grebe.applications",
    "preprocessing": "grebe.preprocessing",
    "mixed_precision": "grebe.mixed_precision",
    "dtype_policies": "grebe.dtype_policies",
}
_LAZY_NAMES = {
    "Sequential": "grebe.models",
    "Model": "grebe.models",
    "Input": "grebe.models",
    "KerasTensor": "grebe.models",
    "load_model": "grebe.saving",
    "from_dlpack": "grebe.dlpack",
    "DTypePolicy": "grebe.dtype_policies",
    "FloatDTypePolicy": "grebe.dtype_policies",
}


# Keras modules grebe does not have, with what it offers instead (`keras.X` -> `grebe.X`).
_NOT_IN_GREBE = {
    "export": "grebe exports no SavedModel/TFLite: use model.save(...) (safetensors + JSON) or "
              "ONNX export where available",
    "config": "grebe keeps its settings in grebe.backend (epsilon(), floatx()), "
              "grebe.set_num_threads() and grebe.mixed_precision (set_global_policy)",
    "quantizers": "grebe has no quantization API",
    "visualization": "grebe has no plotting helpers: model.summary() prints the model",
    "legacy": "grebe implements Keras 3 only (no Keras 2 legacy API)",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    if name in _NOT_IN_GREBE:
        import importlib.util

        if importlib.util.find_spec(f"grebe.{name}") is not None:  # a module landed since
            return importlib.import_module(f"grebe.{name}")
        raise AttributeError(f"module 'grebe' has no attribute '{name}' (keras.{name}): "
                             f"{_NOT_IN_GREBE[name]}")
    raise AttributeError(f"module 'grebe' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + list(_LAZY_NAMES))


def _distribute_from_environment() -> None:
    """GREBE_DISTRIBUTED=1 (under mpirun/srun): fit/evaluate/predict run data-parallel with
    no change to the script, as if it called set_distribution(DataParallel())."""
    import os

    if os.environ.get("GREBE_DISTRIBUTED", "") not in ("", "0"):
        from grebe import distribution

        distribution.set_distribution(distribution.DataParallel())


_distribute_from_environment()
