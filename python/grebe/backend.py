"""Keras 3's keras.backend basics: the fuzz factor (epsilon), the float type (float32 only),
the image data format (channels_last only), the backend's name, clear_session, dtype helpers.

>>> import grebe
>>> grebe.backend.backend(), grebe.backend.floatx(), grebe.backend.epsilon()
('grebe', 'float32', 1e-07)
"""
from __future__ import annotations

import numpy as np

_config = {"epsilon": 1e-7}
_uids: dict = {}
_name_counts: dict = {}  # the automatic layer names: dense, dense_1, ...


def backend() -> str:
    """The name of the backend: 'grebe' (Keras answers 'tensorflow', 'jax' or 'torch')."""
    return "grebe"


def epsilon() -> float:
    """The fuzz factor numeric expressions use (default 1e-7), as Keras's."""
    return _config["epsilon"]


def set_epsilon(value: float) -> None:
    value = float(value)
    if not value > 0:
        raise ValueError(f"set_epsilon: expected a positive float, received {value!r}")
    _config["epsilon"] = value


def floatx() -> str:
    """The default float type: grebe computes in float32 only."""
    return "float32"


def set_floatx(value) -> None:
    if standardize_dtype(value) != "float32":
        raise ValueError(f"set_floatx: grebe computes in float32 only, received {value!r} "
                         f"(use grebe.mixed_precision for bfloat16 compute where available)")


def image_data_format() -> str:
    """'channels_last': grebe's image layers and ops take (N, H, W, C)."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    if data_format != "channels_last":
        raise ValueError(f"set_image_data_format: grebe supports 'channels_last' only, "
                         f"received {data_format!r}")


def clear_session(free_memory: bool = True) -> None:
    """Restarts the automatic layer names (dense, dense_1, ...) and the uid counters."""
    reset_names()
    _uids.clear()


def unique_name(base: str) -> str:
    """`base`, then base_1, base_2 ... (the automatic layer names; clear_session restarts)."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    """Restarts the automatic layer names (dense, dense_1, ...) as Keras's clear_session."""
    _name_counts.clear()


def get_uid(prefix: str = "") -> int:
    """1, 2, 3, ... per prefix (Keras's unique ids)."""
    _uids[prefix] = _uids.get(prefix, 0) + 1
    return _uids[prefix]


def is_keras_tensor(x) -> bool:
    """True for a symbolic tensor of the functional API (grebe.Input and layer outputs)."""
    return getattr(x, "_grebe_symbolic", False)


_ALIASES = {"float": "float32", "int": "int32", "double": "float64", "bool": "bool",
            "uint8": "uint8"}


def standardize_dtype(dtype=None) -> str:
    """A dtype's canonical name ('float32', 'int32', 'bool', ...); None gives floatx()."""
    if dtype is None:
        return floatx()
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    if hasattr(dtype, "dtype") and not isinstance(dtype, type):
        dtype = dtype.dtype
    name = getattr(dtype, "name", None)
    if isinstance(name, str) and name in ("float32", "float64", "float16", "bfloat16", "int8",
                                         "int16", "int32", "int64", "uint8", "uint16",
                                         "uint32", "uint64", "bool"):
        return name
    try:
        return np.dtype(dtype).name
    except TypeError:
        s = str(dtype).split(".")[-1]
        if s in ("float32", "float64", "float16", "bfloat16", "int32", "int64", "bool"):
            return s
        raise ValueError(f"standardize_dtype: invalid dtype {dtype!r}") from None


def is_float_dtype(dtype) -> bool:
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype) -> bool:
    return standardize_dtype(dtype).startswith(("int", "uint"))


def result_type(*dtypes) -> str:
    """The dtype of an op on inputs of these dtypes, by Keras's rules on grebe's dtypes:
    any float gives float32; otherwise numpy's promotion of the integers and booleans."""
    names = [standardize_dtype(d) for d in dtypes]
    if not names:
        return floatx()
    if any(is_float_dtype(n) for n in names):
        return "float32"
    return np.result_type(*[np.dtype(n) for n in names]).name
