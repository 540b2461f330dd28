"""Fuzzes the model-file loaders (grebe.load_model, model.load_weights, safetensors_io.loads)
with hostile files: each must load or raise the documented ValueError naming the file — never
crash, hang, run out of memory, recurse without bound, or raise anything else.

    python tests/fuzz/fuzz_files.py -runs=5000 -seed=1      # see tests/fuzz/README.md

The inputs are built from a real model file (a small model of several layer kinds with its
optimizer state) by one structured mutation: a value anywhere in config.json replaced (huge,
negative, wrong type, deeply nested), a safetensors header entry changed (shape, dtype,
offsets, an element count that overflows int64), the zip directory lying about sizes, a member
compressed from far more bytes than declared, or raw bytes."""
from __future__ import annotations

import io
import json
import os
import struct
import sys
import tempfile
import zipfile

import atheris
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_util  # noqa: E402

with atheris.instrument_imports():
    import grebe
    from grebe import layers, safetensors_io, saving

_DIR = tempfile.mkdtemp(prefix="grebe-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                        else None)
_PATH = os.path.join(_DIR, "fuzzed.grebe")
_VALUES = [0, -1, 1, 2**31, 2**63, -2**63, 10**30, 1.5, float("nan"), float("inf"), "5", "",
           None, True, [], {}, [1, 2], {"a": 1}, [2**32, 2**32], [-1], "x" * 200]


def _base_files():
    model = grebe.Sequential([
        grebe.Input((6, 3)),
        layers.Conv1D(4, 3, activation="relu"),
        layers.LSTM(4, return_sequences=True),
        layers.GlobalAveragePooling1D(),
        layers.BatchNormalization(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((8, 6, 3)).astype(np.float32)
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    model.save(os.path.join(_DIR, "base.grebe"))
    model.save_weights(os.path.join(_DIR, "base.weights.safetensors"))
    with open(os.path.join(_DIR, "base.grebe"), "rb") as f:
        blob = f.read()
    with open(os.path.join(_DIR, "base.weights.safetensors"), "rb") as f:
        weights = f.read()
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    return model, blob, weights, members


_MODEL, _BLOB, _WEIGHTS, _MEMBERS = _base_files()


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_CONFIG = json.loads(_MEMBERS["config.json"])
_CONFIG_PATHS = [p for p in _paths(_CONFIG) if p]


def _fuzz_value(fdp):
    if fdp.ConsumeIntInRange(0, 5) == 0:
        return fdp.ConsumeUnicodeNoSurrogates(12)
    return fdp.PickValueInList(_VALUES)


def _set_path(root, path, value, delete=False):
    node = root
    for k in path[:-1]:
        node = node[k]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _zip(members: dict, compress=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=compress.get(name) if compress else None)
    return buf.getvalue()


def _mutated_config(fdp) -> bytes:
    config = json.loads(_MEMBERS["config.json"])
    r = fdp.ConsumeIntInRange(0, 9)
    if r == 0:  # deep nesting somewhere
        depth = fdp.PickValueInList([100, 10_000, 200_000])
        text = json.dumps(config)
        return text.replace('"config"', '"deep": ' + "[" * depth + "]" * depth + ', "config"', 1) \
            .encode()
    path = fdp.PickValueInList(_CONFIG_PATHS)
    _set_path(config, path, _fuzz_value(fdp), delete=(r == 1))
    return json.dumps(config).encode()


def _mutated_safetensors(fdp, blob: bytes) -> bytes:
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    names = [k for k in header if k != "__metadata__"]
    r = fdp.ConsumeIntInRange(0, 6)
    name = fdp.PickValueInList(names)
    if r == 0:
        header[name]["shape"] = fdp.PickValueInList(
            [[2**32, 2**32], [2**62, 4], [-1, 4], [0], [10**6, 10**6], [3, 2**61]])
    elif r == 1:
        header[name]["dtype"] = fdp.PickValueInList(["F16", "F64", "I64", "BOOL", "X", 5])
    elif r == 2:
        header[name]["data_offsets"] = [fdp.PickValueInList([0, 8, 2**63, -1]),
                                        fdp.PickValueInList([0, 8, 2**64, len(data)])]
    elif r == 3:
        header[name][fdp.PickValueInList(["shape", "dtype", "data_offsets"])] = _fuzz_value(fdp)
    elif r == 4 and "__metadata__" in header:
        meta = header["__metadata__"]
        key = fdp.PickValueInList(sorted(meta))
        meta[key] = fdp.PickValueInList(['[]', '5', '{"a": 1}', '[[[[' * 5000, 'null', '"x"'])
    elif r == 5:  # lie about the header length
        head = json.dumps(header).encode()
        return struct.pack("<Q", fdp.PickValueInList([0, 7, len(head) + 9, 2**63])) + head + data
    else:
        header[name] = _fuzz_value(fdp)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


def _zip_lies(fdp) -> bytes:
    r = fdp.ConsumeIntInRange(0, 3)
    members = dict(_MEMBERS)
    if r == 0:  # a small archive whose member decompresses to far more than the model needs
        big = fdp.PickValueInList([8, 64, 300]) << 20
        member = fdp.PickValueInList(sorted(members))
        members[member] = members[member] + b" " * big
        return _zip(members, {member: zipfile.ZIP_DEFLATED})
    blob = bytearray(_zip(members))
    # Patch a size field of the central directory (file_size or compress_size).
    cd = blob.rfind(b"PK\x01\x02")
    if cd < 0:
        return bytes(blob)
    off = cd + (24 if r == 1 else 20)
    blob[off:off + 4] = struct.pack("<I", fdp.PickValueInList([0, 1, 2**31, 2**32 - 1]))
    return bytes(blob)


def _check(target: str, fn) -> None:
    try:
        fn()
    except ValueError as e:
        if "fuzzed" not in str(e):
            fuzz_util.finding(target, e, " (the ValueError does not name the file)")
    except Exception as e:  # noqa: BLE001 - anything else is a finding
        fuzz_util.finding(target, e)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 5)
    if mode == 0:
        blob = fdp.ConsumeBytes(atheris.ALL_REMAINING)
    elif mode == 1:
        blob = _zip(dict(_MEMBERS, **{"config.json": _mutated_config(fdp)}))
    elif mode == 2:
        blob = _zip(dict(_MEMBERS, **{"model.safetensors": _mutated_safetensors(
            fdp, _MEMBERS["model.safetensors"])}))
    elif mode == 3:
        blob = _zip_lies(fdp)
    else:
        blob = _mutated_safetensors(fdp, _WEIGHTS) if mode == 4 else \
            fdp.ConsumeBytes(atheris.ALL_REMAINING)
        path = _PATH.replace(".grebe", ".weights.safetensors")
        with open(path, "wb") as f:
            f.write(blob)
        _check("load_weights", lambda: _MODEL.load_weights(path))
        _check("safetensors_io.loads", lambda: safetensors_io.loads(blob, source=path))
        return
    with open(_PATH, "wb") as f:
        f.write(blob)
    _check("load_model", lambda: saving.load_model(_PATH))


def main() -> None:
    fuzz_util.limit_memory()
    grebe.set_num_threads(1)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
