"""Keras 3's keras.mixed_precision: bfloat16 compute with float32 variables.

>>> import grebe
>>> grebe.mixed_precision.set_global_policy("mixed_bfloat16")
>>> layer = grebe.layers.Dense(4)
>>> layer.compute_dtype, layer.variable_dtype
('bfloat16', 'float32')
>>> grebe.mixed_precision.set_global_policy("float32")

The policies live in grebe.dtype_policies (layers read them there); this module gives Keras's
names for them. LossScaleOptimizer is Keras's dynamic loss scaling, which float16 needs and
bfloat16 (float32's exponent range) does not: compile() never adds it, as in Keras.
"""
from __future__ import annotations

from grebe.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from grebe.optimizers.loss_scale import LossScaleOptimizer

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = ["DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
           "set_global_policy", "LossScaleOptimizer"]
