"""Optimizers with Keras 3's names, arguments, defaults and update formulas, fused native
updates, and PyTorch-style `step()` / `zero_grad()` for custom loops.

>>> import grebe
>>> opt = grebe.optimizers.get("adam")
>>> type(opt).__name__, opt.learning_rate
('Adam', 0.001)
"""
from __future__ import annotations

from grebe.optimizers import schedules  # noqa: F401
from grebe.optimizers.adadelta import Adadelta, Ftrl
from grebe.optimizers.adafactor import Adafactor
from grebe.optimizers.adagrad import Adagrad
from grebe.optimizers.adam import Adam, AdamW
from grebe.optimizers.adamax import Adamax, Lamb, Nadam
from grebe.optimizers.lion import Lion
from grebe.optimizers.loss_scale import LossScaleOptimizer
from grebe.optimizers.multi import MultiOptimizer, OptimizerMap
from grebe.optimizers.optimizer import Optimizer
from grebe.optimizers.rmsprop import RMSprop
from grebe.optimizers.sgd import SGD

_ALL = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
        "adamax": Adamax, "nadam": Nadam, "lamb": Lamb, "lion": Lion, "adadelta": Adadelta,
        "ftrl": Ftrl, "adafactor": Adafactor, "lossscaleoptimizer": LossScaleOptimizer}


def serialize(optimizer: Optimizer) -> dict:
    """{'module', 'class_name', 'config', 'registered_name'}, Keras's layout (JSON-able)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizers.serialize: expected an Optimizer, received {optimizer!r}")
    return {"module": "grebe.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """The optimizer a `serialize` dict (or Keras's) describes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"optimizers.deserialize: expected a dict with 'class_name' and "
                         f"'config', received {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _ALL.get(str(name).lower())
    if cls is None:
        raise ValueError(f"optimizers.deserialize: unknown optimizer '{name}' (known: "
                         f"{', '.join(c.__name__ for c in _ALL.values())})")
    return cls.from_config(config.get("config", {}), custom_objects)


def get(identifier) -> Optimizer:
    """An optimizer from a name ('adam', 'SGD', ...), a config dict or an Optimizer (returned
    as is). Names give the Keras defaults."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _ALL.get(identifier.lower())
        if cls is None:
            raise ValueError(f"optimizers.get: could not interpret optimizer identifier "
                             f"'{identifier}' (known: {', '.join(sorted(_ALL))})")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"optimizers.get: could not interpret optimizer identifier: {identifier!r}")


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "Nadam",
           "Lamb", "Lion", "Adadelta", "Ftrl", "Adafactor", "LossScaleOptimizer",
           "MultiOptimizer", "OptimizerMap", "schedules", "get",
           "serialize", "deserialize"]
