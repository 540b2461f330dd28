"""Models: Sequential, the functional API (Input, Model(inputs, outputs)) and subclassed
Model, with Keras's compile / fit / evaluate / predict."""
from grebe.models.model import Model  # noqa: F401
from grebe.models.functional import Functional, Input, InputLayer, KerasTensor  # noqa: F401
from grebe.models.sequential import Sequential  # noqa: F401
from grebe.models import op_node  # noqa: F401,E402  (grebe.ops on KerasTensors)

__all__ = ["Model", "Sequential", "Functional", "Input", "InputLayer", "KerasTensor"]
