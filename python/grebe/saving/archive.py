"""The .grebe archive: format constants, reading a model zip with a clear error for each
defect, and the file checks that saving and loading share."""
from __future__ import annotations

import io
import json
import os
import zipfile

from grebe import safetensors_io


MODEL_FORMAT = "grebe.model"
WEIGHTS_FORMAT = "grebe.weights"
FORMAT_VERSION = 1
_CONFIG = "config.json"
_TENSORS = "model.safetensors"
_OPT = "optimizer/"


def _check_overwrite(path, overwrite: bool) -> None:
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{os.fspath(path)!r} exists and overwrite=False")


def _read_bytes(filepath) -> bytes:
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"no such file: {filepath!r}")
    with open(filepath, "rb") as f:
        return f.read()


def _read_model_zip(filepath, blob: bytes):
    """(config dict, tensors dict) from a .grebe zip, with a clear error for each defect."""
    try:
        z = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise ValueError(f"{filepath}: not a grebe model file (not a zip archive, or truncated: "
                         f"{len(blob)} bytes)") from None
    with z:
        names = set(z.namelist())
        for member in (_CONFIG, _TENSORS):
            if member not in names:
                raise ValueError(f"{filepath}: not a grebe model file: member {member!r} is "
                                 f"missing (the zip holds {sorted(names)[:10]})")
        try:
            raw_config, raw_tensors = z.read(_CONFIG), z.read(_TENSORS)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise ValueError(f"{filepath}: corrupted model file ({e})") from None
    try:
        config = json.loads(raw_config.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{filepath}: corrupted model file: {_CONFIG} is not valid JSON "
                         f"({e})") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ValueError(f"{filepath}: not a grebe model file ({_CONFIG} has no "
                         f"'format': '{MODEL_FORMAT}')")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{filepath}: written by a newer grebe (format version "
                         f"{config['format_version']}, this one reads {FORMAT_VERSION})")
    for key in ("class_name", "config", "weights_index"):
        if key not in config:
            raise ValueError(f"{filepath}: corrupted model file: {_CONFIG} lacks {key!r}")
    tensors, _ = safetensors_io.loads(raw_tensors, source=f"{filepath}:{_TENSORS}")
    return config, tensors
