"""Weights files (.weights.safetensors): save_weights / load_weights."""
from __future__ import annotations

import json
import os

from grebe import safetensors_io
from grebe.atomic_io import atomic_write
from grebe.saving.archive import (_check_overwrite, WEIGHTS_FORMAT, FORMAT_VERSION, _OPT, _read_bytes, _read_model_zip)
from grebe.saving.weights_index import (_weight_groups, _weights_index, _weight_tensors, WeightsReport, _assign)


# ---- weights files -----------------------------------------------------------------------------
def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Saves the weights alone as a safetensors file (layer index in its metadata); a path
    ending in .h5 gets Keras 3's HDF5 layout (saving/keras_files.py)."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".h5"):
        from grebe.saving import keras_files

        return keras_files.save_weights_h5(model, filepath, overwrite=overwrite)
    _check_overwrite(filepath, overwrite)
    groups = _weight_groups(model)
    import grebe

    meta = {"format": WEIGHTS_FORMAT, "format_version": str(FORMAT_VERSION),
            "grebe_version": grebe.__version__,
            "weights_index": json.dumps(_weights_index(groups))}
    atomic_write(filepath, safetensors_io.dumps(_weight_tensors(groups), meta))


def _file_groups_from_plain(tensors: dict) -> list:
    """A safetensors file written elsewhere: group '<layer>/<weight>' keys by layer prefix, in
    the order the keys appear."""
    groups = {}
    for k in tensors:
        if k.startswith(_OPT):
            continue
        groups.setdefault(k.split("/", 1)[0], []).append(k)
    return [{"name": n, "weights": ks, "by_key": True} for n, ks in groups.items()]


def load_weights(model, filepath, skip_mismatch: bool = False,
                 by_name: bool = False) -> WeightsReport:
    """Loads weights from a weights file or a .grebe model file into `model`.

    Layers are matched by position among the layers that hold weights (by_name=False, Keras's
    default) or by layer name (by_name=True: partial loading into a different architecture,
    e.g. a pre-trained base under a new head). A shape or count mismatch raises ValueError,
    unless skip_mismatch=True, which skips that layer. Returns a WeightsReport. A Keras 3
    `.weights.h5` file (or a `.keras` archive) is read by saving/keras_files.py."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".h5"):
        from grebe.saving import keras_files

        return keras_files.load_weights_h5(model, filepath, skip_mismatch)
    if filepath.endswith(".keras"):
        from grebe.saving import keras_files

        return model.set_weights(keras_files.load_keras(filepath, compile=False).get_weights())
    blob = _read_bytes(filepath)
    if blob.startswith(b"PK"):
        config, tensors = _read_model_zip(filepath, blob)
        index = config["weights_index"]
    else:
        tensors, meta = safetensors_io.loads(blob, source=filepath)
        if "weights_index" in meta:
            try:
                index = json.loads(meta["weights_index"])
            except ValueError as e:
                raise ValueError(f"{filepath}: corrupted weights index in the metadata "
                                 f"({e})") from None
        else:
            index = _file_groups_from_plain(tensors)
            by_name = True
    if not isinstance(index, list) or not all(
            isinstance(g, dict) and isinstance(g.get("name"), str)
            and isinstance(g.get("weights"), list) for g in index):
        raise ValueError(f"{filepath}: corrupted weights index (expected a list of "
                         f"{{'name', 'weights'}} entries)")
    return _assign(model, tensors, index, by_name=by_name, skip_mismatch=skip_mismatch,
                   source=filepath)
