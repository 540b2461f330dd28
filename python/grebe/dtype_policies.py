"""Dtype policies (Keras 3's keras.DTypePolicy): what a layer computes in, what it stores.

grebe runs two policies:

- ``"float32"`` (the default): weights and arithmetic in float32.
- ``"mixed_bfloat16"``: weights (and the optimizer's state) stay float32; the layers with a
  bfloat16 kernel (Dense, Conv1D/Conv2D, LSTM/GRU/SimpleRNN and their cells) round the operands
  of their matrix products (forward and backward) to bfloat16, round to nearest even, and
  accumulate in float32. Everything else (softmax, losses, batch-norm statistics, metrics,
  elementwise work) stays float32. Layer outputs are float32 arrays, as every grebe Tensor is.

A layer takes its policy from ``dtype=`` (a name, a DTypePolicy or its config dict) or, when
that is None, from the global policy at construction time (``set_dtype_policy``). Layers hand
the policy's compute dtype to the ops explicitly (``ops.dense(..., compute_dtype=...)``): no op
reads a global mode.

>>> from grebe import dtype_policies
>>> p = dtype_policies.DTypePolicy("mixed_bfloat16")
>>> p.compute_dtype, p.variable_dtype
('bfloat16', 'float32')
>>> dtype_policies.serialize(p)["config"]
{'name': 'mixed_bfloat16'}
"""
from __future__ import annotations

import threading

from grebe.backend import standardize_dtype

__all__ = ["DTypePolicy", "FloatDTypePolicy", "get", "serialize", "deserialize",
           "set_dtype_policy", "dtype_policy", "HasDTypePolicy", "policy_of"]

_MIXED = {"mixed_bfloat16": ("bfloat16", "float32")}
_REFUSED = {  # Keras policies grebe has no kernels for, with what to use instead
    "mixed_float16": "grebe has no float16 kernels: use 'mixed_bfloat16'",
    "float16": "grebe has no float16 kernels: use 'mixed_bfloat16'",
    "bfloat16": "grebe keeps variables in float32: use 'mixed_bfloat16' (bfloat16 compute, "
                "float32 variables)",
    "float64": "grebe computes in float32 (or bfloat16 with 'mixed_bfloat16')",
}


def _parse(name) -> tuple:
    """A policy name -> (compute_dtype, variable_dtype), or a clear error."""
    if not isinstance(name, str):
        raise TypeError(f"DTypePolicy: 'name' must be a string, such as 'mixed_bfloat16'. "
                        f"Received: name={name!r} (of type {type(name).__name__})")
    if name in _MIXED:
        return _MIXED[name]
    if name in _REFUSED:
        raise ValueError(f"DTypePolicy: policy {name!r} is not supported: {_REFUSED[name]}")
    try:
        dtype = standardize_dtype(name)
    except ValueError:
        dtype = None
    if dtype != "float32":
        raise ValueError(f"DTypePolicy: cannot use {name!r} as a dtype policy; grebe runs "
                         f"'float32' and 'mixed_bfloat16'")
    return dtype, dtype


class DTypePolicy:
    """A layer's dtype policy: its compute dtype and its variable dtype (Keras 3's class).

    ``DTypePolicy(name=None)``: 'float32' or 'mixed_bfloat16' (None: the global policy's name).

    >>> DTypePolicy("mixed_bfloat16")
    <DTypePolicy "mixed_bfloat16">
    """

    def __init__(self, name=None):
        if name is None:
            name = dtype_policy().name
        self._compute_dtype, self._variable_dtype = _parse(name)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in: 'bfloat16' means bfloat16 matrix-product operands
        with float32 accumulation; the layer's output arrays stay float32."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights: always 'float32' in grebe."""
        return self._variable_dtype

    @property
    def quantization_mode(self):
        return None  # grebe has no quantized policies

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and other._name == self._name

    __hash__ = None  # as Keras's: policies compare by name and are not dict keys


class FloatDTypePolicy(DTypePolicy):
    """Keras's alias of DTypePolicy."""


# The global policy, per thread as Keras's global state; None until first read or set.
_state = threading.local()


def set_dtype_policy(policy) -> None:
    """Sets the policy that layers created afterwards (in this thread) take when their `dtype`
    is None: a name ('float32', 'mixed_bfloat16') or a DTypePolicy.

    >>> set_dtype_policy("mixed_bfloat16"); dtype_policy().name
    'mixed_bfloat16'
    >>> set_dtype_policy("float32")
    """
    if isinstance(policy, str):
        policy = DTypePolicy(policy)
    elif not isinstance(policy, DTypePolicy):
        raise ValueError(f"set_dtype_policy: expected the string name of a policy (such as "
                         f"'mixed_bfloat16') or a DTypePolicy instance. Received: "
                         f"policy={policy!r} (of type {type(policy).__name__})")
    _state.policy = policy


def dtype_policy() -> DTypePolicy:
    """The global dtype policy (DTypePolicy('float32') until set_dtype_policy changes it)."""
    policy = getattr(_state, "policy", None)
    if policy is None:
        policy = _state.policy = DTypePolicy("float32")
    return policy


def serialize(policy: DTypePolicy) -> dict:
    """Keras 3's serialized form, as a Keras layer config holds it under "dtype"."""
    return {"module": "keras", "class_name": "DTypePolicy",
            "config": policy.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects=None) -> DTypePolicy:
    """The policy of a serialized form (serialize's output, or Keras's)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in ("DTypePolicy", "FloatDTypePolicy") or \
            not isinstance(config.get("config"), dict):
        raise ValueError(f"dtype_policies.deserialize: expected {{'class_name': "
                         f"'DTypePolicy', 'config': {{'name': ...}}}}, received {config!r}")
    return DTypePolicy.from_config(config["config"])


def get(identifier) -> DTypePolicy:
    """None (the global policy), a name, a config dict, a numpy dtype or a DTypePolicy
    -> a DTypePolicy."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:
        name = standardize_dtype(identifier)
    except ValueError:
        name = None
    if name is None:
        raise ValueError(f"Cannot interpret `dtype` argument. Expected a string or an "
                         f"instance of DTypePolicy. Received: dtype={identifier!r}")
    return DTypePolicy(name)


def policy_of(who: str, dtype) -> DTypePolicy:
    """The DTypePolicy for a layer's `dtype` argument (None: the global policy), or an error
    naming `who`."""
    try:
        return get(dtype)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{who}: dtype={dtype!r}: {err}") from None


class HasDTypePolicy:
    """Keras 3's policy properties of a Layer (grebe.layers.Layer derives from this); the layer
    sets `self._dtype_policy = policy_of(...)` in __init__."""

    @property
    def dtype_policy(self) -> DTypePolicy:
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value) -> None:
        self._dtype_policy = policy_of(f"Layer '{self.name}'", value)

    @property
    def compute_dtype(self) -> str:
        """'float32', or 'bfloat16' under mixed_bfloat16 (bfloat16 products, float32 sums)."""
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype_policy.variable_dtype

    @property
    def dtype(self) -> str:
        """Alias of `variable_dtype` (Keras)."""
        return self._dtype_policy.variable_dtype

    def _dtype_config(self):
        """get_config's "dtype": float32 keeps the plain name grebe always wrote, another policy
        Keras's serialized form."""
        policy = self._dtype_policy
        return "float32" if policy.name == "float32" else serialize(policy)
