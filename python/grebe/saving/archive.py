"""The .grebe archive: format constants, reading a model zip with a clear error for each
defect, and the file checks that saving and loading share."""
from __future__ import annotations

import contextlib
import io
import os
import struct
import zipfile
import zlib

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


_MAX_CONFIG = 16 << 20  # bytes of config.json: a model with 10^4 layers needs a few MB
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
               NotImplementedError, RuntimeError, struct.error)  # what a damaged zip raises


def _read_model_zip(filepath, blob: bytes, before_data=None):
    """(config dict, tensors dict) from a .grebe zip, with a clear error for each defect.

    Every read is bounded by what the archive directory declares, checked before anything is
    decompressed: config.json at most 16 MiB; model.safetensors exactly the 8 + header + data
    bytes its own header declares. `before_data(config, entries)` runs after the config and the
    tensor header are read and checked, before the tensor data is (load_model builds the model
    there, within the weight values the header declares)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(blob))
    except _ZIP_ERRORS:
        raise ValueError(f"{filepath}: not a grebe model file (not a zip archive, or truncated: "
                         f"{len(blob)} bytes)") from None
    with z:
        names = set(z.namelist())
        for member in (_CONFIG, _TENSORS):
            if member not in names:
                raise ValueError(f"{filepath}: not a grebe model file: member {member!r} is "
                                 f"missing (the zip holds {sorted(names)[:10]})")
        info = z.getinfo(_CONFIG)
        if info.file_size > _MAX_CONFIG:
            raise ValueError(f"{filepath}: member {_CONFIG}: the archive declares "
                             f"{info.file_size} bytes, more than "
                             f"the {_MAX_CONFIG} a model config may have")
        config = safetensors_io.parse_json(_read_member(z, filepath, _CONFIG, info.file_size),
                                           str(filepath), f"member {_CONFIG}")
        _check_config(filepath, config)
        tensors = _read_tensors(z, filepath, config, before_data)
    return config, tensors


def _read_member(z, filepath, member, size) -> bytes:
    """The member's bytes, reading at most the `size` the archive directory declares."""
    try:
        with z.open(member) as f:
            data = f.read(size + 1)
    except _ZIP_ERRORS as e:
        raise ValueError(f"{filepath}: member {member}: corrupted ({type(e).__name__}: {e})") \
            from None
    if len(data) != size:
        raise ValueError(f"{filepath}: member {member}: the archive declares {size} bytes, the "
                         f"member holds {len(data)}{'+' if len(data) > size else ''}")
    return data


def _check_config(filepath, config) -> None:
    where = f"{filepath}: member {_CONFIG}"
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ValueError(f"{filepath}: not a grebe model file ({_CONFIG} has no "
                         f"'format': '{MODEL_FORMAT}')")
    version = config.get("format_version", 0)
    if type(version) is not int or version < 0:
        raise ValueError(f"{where}: 'format_version' must be a non-negative integer, received "
                         f"{version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{filepath}: written by a newer grebe (format version "
                         f"{config['format_version']}, this one reads {FORMAT_VERSION})")
    for key in ("class_name", "config", "weights_index"):
        if key not in config:
            raise ValueError(f"{filepath}: corrupted model file: {_CONFIG} lacks {key!r}")
    for key, kind in (("class_name", str), ("config", dict), ("weights_index", list)):
        if not isinstance(config[key], kind):
            raise ValueError(f"{where}: {key!r} must be a {kind.__name__}, received "
                             f"{type(config[key]).__name__}")
    for key in ("build_config", "compile_config"):
        if not isinstance(config.get(key), (dict, type(None))):
            raise ValueError(f"{where}: {key!r} must be an object or null, received "
                             f"{type(config[key]).__name__}")


def _read_tensors(z, filepath, config, before_data) -> dict:
    """Streams model.safetensors: the 8-byte length, the header (checked against the size the
    directory declares), `before_data`, then exactly the data bytes the header declares."""
    source = f"{filepath}: member {_TENSORS}"
    size = z.getinfo(_TENSORS).file_size
    try:
        with z.open(_TENSORS) as f:
            n = safetensors_io.header_length(f.read(8), size, source)
            entries, _ = safetensors_io.parse_header(f.read(n), size - 8 - n, source)
            if before_data is not None:
                before_data(config, entries)
            data = f.read(size - 8 - n + 1)
    except _ZIP_ERRORS as e:
        if isinstance(e, ValueError) and str(e).startswith(str(filepath)):
            raise  # already ours
        raise ValueError(f"{source}: corrupted ({type(e).__name__}: {e})") from None
    if len(data) != size - 8 - n:
        raise ValueError(f"{source}: the archive declares {size} bytes, the member holds "
                         f"{8 + n + len(data)}")
    return safetensors_io.tensors_from(entries, data)


# What a malformed config can make deserialization raise, deep inside a layer or a factory.
_CONFIG_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                  RecursionError, NotImplementedError)


@contextlib.contextmanager
def _config_errors(filepath, what: str, member: str = _CONFIG):
    """Turns an error raised while interpreting config.json into the documented ValueError
    naming the file and the member (the original stays chained as __cause__)."""
    try:
        yield
    except _CONFIG_ERRORS as e:
        if isinstance(e, ValueError) and str(e).startswith(str(filepath)):
            raise  # already names the file and the member
        where = f"{filepath}: member {member}" if member else str(filepath)
        raise ValueError(f"{where}: {what}: {type(e).__name__}: {e}") from e
