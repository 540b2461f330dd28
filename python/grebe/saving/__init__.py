"""Model and weight files: safetensors for the tensors, JSON for everything else, no pickle.

A model file (``model.save("digits.grebe")``) is a zip archive holding

- ``config.json``: the architecture (``model.get_config()`` with the class name), the build
  input shape, the compile config (optimizer config, loss, metrics) and an index that lists,
  layer by layer, the names of that layer's tensors in model.safetensors;
- ``model.safetensors``: every weight (named ``<layer>/<weight>``) and the optimizer state
  (``optimizer/<key>``: moments, iteration counters).

A weights file (``model.save_weights("w.weights.safetensors")``) is a plain safetensors file with
the same layer index in its ``__metadata__``; any safetensors reader opens it.

    model.save("digits.grebe")
    model2 = grebe.load_model("digits.grebe")
    report = other.load_weights("digits.grebe", by_name=True, skip_mismatch=True)

Opening a file never runs code (JSON + raw numbers). Writes are atomic: the bytes go to a
temporary file in the same directory, are flushed and fsync'ed, then renamed over the target, so
a crash leaves either the old file or the new one. A truncated, corrupted or foreign file gives a
ValueError that names the file and what is wrong.
"""
from __future__ import annotations

from grebe.atomic_io import atomic_write
from grebe.saving.archive import FORMAT_VERSION, MODEL_FORMAT, WEIGHTS_FORMAT
from grebe.saving.json_config import serialize_object
from grebe.saving.model_file import load_model, save_model
from grebe.saving.weights_file import load_weights, save_weights
from grebe.saving.weights_index import WeightsReport
from grebe.saving.serialization_lib import (deserialize_keras_object,  # noqa: F401
                                            serialize_keras_object)
from grebe.registry import (CustomObjectScope, custom_object_scope,  # noqa: F401
                            get_custom_objects, get_registered_name, get_registered_object,
                            register_keras_serializable)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "WeightsReport",
           "serialize_object", "atomic_write", "MODEL_FORMAT", "WEIGHTS_FORMAT", "FORMAT_VERSION",
           "serialize_keras_object", "deserialize_keras_object", "register_keras_serializable",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope",
           "get_registered_name", "get_registered_object"]
