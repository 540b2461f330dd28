"""Models: Sequential, the functional API (Input, Model(inputs, outputs)) and subclassed
Model, with Keras's compile / fit / evaluate / predict."""
from grebe.models.model import Model  # noqa: F401
from grebe.models.functional import Functional, Input, InputLayer, KerasTensor  # noqa: F401
from grebe.models.sequential import Sequential  # noqa: F401
from grebe.models import op_node  # noqa: F401,E402  (grebe.ops on KerasTensors)
from grebe.models.cloning import clone_model, model_from_json  # noqa: F401

__all__ = ["Model", "Sequential", "Functional", "Input", "InputLayer", "KerasTensor",
           "clone_model", "model_from_json", "load_model", "save_model"]


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002
    """keras.models.load_model: the same as grebe.saving.load_model."""
    from grebe import saving

    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                             safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, **kwargs):
    """keras.models.save_model: the same as grebe.saving.save_model."""
    from grebe import saving

    saving.save_model(model, filepath, overwrite=overwrite, **kwargs)
