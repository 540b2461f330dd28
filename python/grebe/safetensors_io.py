"""A small reader/writer for the safetensors format, so that grebe's runtime needs only numpy.

The format (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 N, then N
bytes of JSON header ``{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
..., "__metadata__": {"str": "str"}}``, then the raw little-endian C-order data; the offsets are
relative to the end of the header and the tensors tile the data without holes or overlaps.

>>> import numpy as np

from grebe.atomic_io import atomic_write
>>> from grebe import safetensors_io
>>> blob = safetensors_io.dumps({"w": np.ones((2, 3), np.float32)}, {"note": "hi"})
>>> tensors, meta = safetensors_io.loads(blob)
>>> tensors["w"].shape, meta
((2, 3), {'note': 'hi'})

Files written here load with ``safetensors.numpy.load_file`` and the other way round. Nothing
here can execute code: the header is JSON and the data are plain numbers.
"""
from __future__ import annotations

import json
import struct

import numpy as np

from grebe.atomic_io import atomic_write

# safetensors dtype name <-> numpy dtype (little-endian on disk, whatever the host).
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


def dumps(tensors: dict, metadata: dict | None = None) -> bytes:
    """Serializes {name: numpy array} (+ optional {str: str} metadata) to safetensors bytes."""
    header, chunks, offset = {}, [], 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"safetensors: invalid tensor name {name!r}")
        a = np.asarray(value)
        key = (a.dtype.kind, a.dtype.itemsize)
        if key not in _NAMES:
            raise TypeError(f"safetensors: unsupported dtype {a.dtype} for tensor {name!r}")
        dtype_name = _NAMES[key]
        data = np.ascontiguousarray(a, dtype=_DTYPES[dtype_name]).tobytes()
        header[name] = {"dtype": dtype_name, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # pad with spaces so the data starts 8-byte aligned
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def loads(blob, source: str = "safetensors data") -> tuple[dict, dict]:
    """Parses safetensors bytes into ({name: numpy array}, metadata). Every inconsistency (short
    file, bad JSON, unknown dtype, offsets out of range, shape x dtype != bytes) raises a
    ValueError that names `source` and what is wrong."""
    blob = memoryview(blob)
    if len(blob) < 8:
        raise ValueError(f"{source}: not a safetensors file (only {len(blob)} bytes, the "
                         f"8-byte header length is missing)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise ValueError(f"{source}: truncated or not a safetensors file (header length {n} "
                         f"but the file holds {len(blob) - 8} bytes after the length)")
    try:
        header = json.loads(bytes(blob[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{source}: corrupted safetensors header (not valid JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{source}: corrupted safetensors header (expected a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: corrupted safetensors header (__metadata__ is not an object)")
    data = blob[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        dtype, shape, (begin, end) = _check_entry(source, name, info, len(data))
        spans.append((begin, end, name))
        # copy(): the result owns writable memory and does not pin the whole blob
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else f"leaves a hole at {pos}"
            raise ValueError(f"{source}: corrupted safetensors data: tensor {name!r} {what}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{source}: corrupted safetensors data: the tensors cover {pos} bytes, "
                         f"the file holds {len(data)}")
    return tensors, metadata


def _check_entry(source, name, info, data_len):
    if not (isinstance(info, dict) and {"dtype", "shape", "data_offsets"} <= set(info)):
        raise ValueError(f"{source}: corrupted safetensors header: entry {name!r} needs dtype, "
                         f"shape and data_offsets, received {info!r}")
    dtype = _DTYPES.get(info["dtype"])
    if dtype is None:
        raise ValueError(f"{source}: tensor {name!r} has unsupported dtype {info['dtype']!r} "
                         f"(supported: {', '.join(_DTYPES)})")
    shape, offsets = info["shape"], info["data_offsets"]
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise ValueError(f"{source}: tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"{source}: tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if end > data_len:
        raise ValueError(f"{source}: truncated file: tensor {name!r} needs bytes {begin}..{end} "
                         f"but the data section holds {data_len}")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if end - begin != expected:
        raise ValueError(f"{source}: tensor {name!r}: shape {tuple(shape)} x {info['dtype']} is "
                         f"{expected} bytes but data_offsets span {end - begin}")
    return dtype, tuple(shape), (begin, end)


def save_file(tensors: dict, path, metadata: dict | None = None) -> None:
    """Writes a .safetensors file atomically (a temp file beside it, fsync, rename)."""
    atomic_write(path, dumps(tensors, metadata))


def load_file(path) -> dict:
    """Reads a .safetensors file into {name: numpy array}."""
    return load_file_with_metadata(path)[0]


def load_file_with_metadata(path) -> tuple[dict, dict]:
    with open(path, "rb") as f:
        blob = f.read()
    return loads(blob, source=str(path))
