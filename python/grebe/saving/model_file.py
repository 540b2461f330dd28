"""Model files (.grebe): save_model / load_model."""
from __future__ import annotations

import inspect
import io
import math
import os
import zipfile

import numpy as np

from grebe import safetensors_io
from grebe.atomic_io import atomic_write
from grebe.saving.archive import (_OPT, _check_overwrite, MODEL_FORMAT, FORMAT_VERSION, _CONFIG, _TENSORS, _read_bytes, _read_model_zip, _config_errors)
from grebe.saving.json_config import _compile_config, _to_json, _deserialize_compile
from grebe.saving.weights_index import _weight_groups, _weight_tensors, _weights_index, _assign
from grebe.layers.layer import weight_budget


# ---- model files -------------------------------------------------------------------------------
def _build_config(model):
    getter = getattr(model, "get_build_config", None)
    if getter is not None:
        try:
            cfg = getter()
        except Exception:  # noqa: BLE001 - an unbuilt model has none; fall back below
            cfg = None
        if cfg:
            return cfg
    for attr in ("_build_input_shape", "input_shape"):
        try:
            shape = getattr(model, attr, None)
        except Exception:  # noqa: BLE001 - Keras raises on input_shape for unbuilt models
            shape = None
        if shape is not None:
            return {"input_shape": shape}
    return None


def _optimizer_state(model) -> dict:
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "get_state"):
        return {}
    return {_OPT + k: np.asarray(v) for k, v in opt.get_state().items()}


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Saves architecture, weights, compile config and optimizer state in one zip file."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):  # Keras 3's own archive
        from grebe.saving import keras_files

        return keras_files.save_keras(model, filepath, overwrite=overwrite)
    _check_overwrite(filepath, overwrite)
    groups = _weight_groups(model)
    tensors = _weight_tensors(groups)
    if include_optimizer:
        tensors.update(_optimizer_state(model))
    import grebe

    config = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "grebe_version": grebe.__version__,
        "class_name": type(model).__name__,
        "registered_name": getattr(type(model), "_registered_name", None),
        "config": model.get_config(),
        "build_config": _build_config(model),
        "compile_config": _compile_config(model) if include_optimizer else None,
        "weights_index": _weights_index(groups),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(_CONFIG, _to_json(config))
        z.writestr(_TENSORS, safetensors_io.dumps(tensors, {"format": MODEL_FORMAT}))
    atomic_write(filepath, buf.getvalue())


def _resolve_class(config, custom_objects):
    from grebe.serialization import get_class

    return get_class(config["class_name"], custom_objects, config.get("registered_name"))


_MAX_BUILD_INPUT = 1 << 26  # values in the zeros a model is built on (256 MiB as float32)


def _build_model(model, build_config) -> None:
    if model.weights or not build_config or build_config.get("input_shape") is None:
        return
    shape = build_config["input_shape"]
    if hasattr(model, "build"):
        multi = isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple))
        model.build([tuple(s) for s in shape] if multi else tuple(shape))
    if not model.weights:  # build() made nothing: run a forward pass on zeros
        from grebe import autograd
        from grebe.tensor import Tensor

        zeros = math.prod(1 if d is None else int(d) for d in shape)
        if zeros > _MAX_BUILD_INPUT:
            raise ValueError(f"build_config input_shape {shape} has {zeros} values, more than "
                             f"the {_MAX_BUILD_INPUT} a build pass may use")

        with autograd.no_grad():
            model(Tensor(np.zeros(tuple(1 if d is None else d for d in shape), np.float32)))


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True):
    """Rebuilds a model saved with save_model: architecture, weights and, with compile=True,
    the compile config and the optimizer state, so that training continues exactly. A path
    ending in .keras is read as a Keras 3 archive (saving/keras_files.py; safe_mode as Keras).

    custom_objects (name -> class or function) are visible to everything the file names
    (layers, activations, losses, metrics), as inside grebe.saving.custom_object_scope.
    safe_mode=True (Keras's default) refuses to rebuild anything that would run code stored
    in the file (a Lambda layer's Python function)."""
    from grebe import registry

    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        from grebe.saving import keras_files

        with registry.custom_object_scope(custom_objects or {}), \
                registry.safe_mode_scope(safe_mode):
            return keras_files.load_keras(filepath, custom_objects, compile, safe_mode)
    blob = _read_bytes(filepath)
    if not blob.startswith(b"PK"):
        hint = ""
        if len(blob) >= 8 and blob[8:9] == b"{":
            hint = " (this looks like a weights file: build the model, then load_weights)"
        raise ValueError(f"{filepath}: not a grebe model file (not a zip archive){hint}")
    with registry.custom_object_scope(custom_objects or {}), registry.safe_mode_scope(safe_mode):
        return _load_archive(filepath, blob, custom_objects, compile)


def _load_archive(filepath, blob, custom_objects, compile):
    """The model in a grebe archive, built within what its tensors declare."""
    built = {}

    def build(config, entries):  # after the tensor header is read, before its data is
        # Slack (2x + 1 Mi values) so that a small mismatch still gets _assign's exact message;
        # what matters is that building cannot allocate far more than the file holds.
        values = 2 * sum(math.prod(shape) for name, (_, shape, _, _) in entries.items()
                         if not name.startswith(_OPT)) + (1 << 20)
        with _config_errors(filepath, "cannot rebuild the model"), \
                weight_budget(values, f"{filepath}: member {_TENSORS}"):
            built["model"] = _model_from_config(config, custom_objects, filepath)

    config, tensors = _read_model_zip(filepath, blob, before_data=build)
    model = built["model"]
    with _config_errors(filepath, "the weights do not match 'weights_index'"):
        _assign(model, tensors, config["weights_index"], by_name=False, skip_mismatch=False,
                source=filepath)
    cc = config.get("compile_config")
    if compile and cc:
        with _config_errors(filepath, "cannot restore 'compile_config'"):
            model.compile(**_deserialize_compile(cc, custom_objects))
        state = {k[len(_OPT):]: v for k, v in tensors.items() if k.startswith(_OPT)}
        if state:
            _restore_optimizer(model, state, filepath)
    return model


def _model_from_config(config, custom_objects, filepath):
    cls = _resolve_class(config, custom_objects)
    kwargs = {}
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        kwargs["custom_objects"] = custom_objects
    model = cls.from_config(config["config"], **kwargs)
    _build_model(model, config.get("build_config"))
    return model


def _restore_optimizer(model, state: dict, source) -> None:
    """Hands the saved state to the optimizer; an optimizer that builds its slots lazily (on
    the first apply) keeps it until then, so the slots line up with the weights it trains."""
    opt = model.optimizer
    if not hasattr(opt, "set_state"):
        return
    lr = getattr(opt, "_learning_rate", None)
    if type(lr) is float and "learning_rate" in state and \
            np.float32(lr) == np.asarray(state["learning_rate"]).astype(np.float32):
        # The config holds the rate as an exact double; the state only as float32. Keep the
        # double, or the resumed run would step with a rate rounded to float32.
        state = dict(state, learning_rate=np.asarray(lr, np.float64))
    try:
        opt.set_state(state)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{source}: cannot restore the optimizer state: {e}") from e
