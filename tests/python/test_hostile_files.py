"""Hostile model files: every read is bounded by what the archive directory and the file declare,
shapes in the config are checked against the tensor headers before anything is allocated, and
every problem raises the documented ValueError naming the file and the member — never a
RecursionError, a MemoryError, a TypeError from deep inside a layer, or gigabytes of memory."""
from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import grebe
from grebe import layers, safetensors_io


def _safetensors(header: dict, data: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


# ---- safetensors ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [[2**32, 2**32], [2**62, 4], [3, 2**61, 2**61],
                                   [2**63], [2**64]])
def test_safetensors_element_counts_that_overflow_int64_are_rejected(shape):
    blob = _safetensors({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
    with pytest.raises(ValueError, match=r"weights\.safetensors.*tensor 'w'.*shape"):
        safetensors_io.loads(blob, source="weights.safetensors")


@pytest.mark.parametrize("entry", [{"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]},
                                   {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]},
                                   {"dtype": "F32", "shape": [1], "data_offsets": {"a": 1}},
                                   [1, 2], 5])
def test_safetensors_entries_of_the_wrong_type_are_value_errors(entry):
    blob = _safetensors({"w": entry}, b"\0" * 4)
    with pytest.raises(ValueError, match=r"w\.safetensors.*'w'"):
        safetensors_io.loads(blob, source="w.safetensors")


def test_safetensors_deeply_nested_header_is_a_value_error():
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    head = deep.encode()
    blob = struct.pack("<Q", len(head)) + head
    with pytest.raises(ValueError, match=r"w\.safetensors.*nest"):
        safetensors_io.loads(blob, source="w.safetensors")


# ---- model files ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    model = grebe.Sequential([grebe.Input((7,)), layers.Dense(5, activation="relu"),
                              layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    path = d / "good.grebe"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    return d, members


def _write(d, members, name="bad.grebe", compress=None):
    path = d / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for n, data in members.items():
            z.writestr(n, data, compress_type=(compress or {}).get(n))
    return path


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


@pytest.mark.parametrize("member", ["config.json", "model.safetensors"])
def test_a_small_archive_that_decompresses_to_far_more_is_rejected_before_reading(saved, member):
    d, members = saved
    bomb = dict(members)
    bomb[member] = members[member] + b" " * (64 << 20)  # 64 MiB of padding, 64 KB compressed
    path = _write(d, bomb, compress={member: zipfile.ZIP_DEFLATED})
    assert path.stat().st_size < 1 << 20
    box = {}

    def load():
        with pytest.raises(ValueError) as e:
            grebe.load_model(path)
        box["e"] = e
    assert _peak_mb(load) < 16
    msg = str(box["e"].value)
    assert "bad.grebe" in msg and member in msg


def _config_with(members, edit):
    config = json.loads(members["config.json"])
    edit(config)
    return dict(members, **{"config.json": json.dumps(config).encode()})


def test_config_shapes_are_checked_against_the_tensor_headers_before_allocating(saved):
    d, members = saved

    def huge(config):  # 3 KB of JSON asking for a 7 x 10^9 kernel (26 GiB)
        config["config"]["layers"][1]["config"]["units"] = 10**9
    path = _write(d, _config_with(members, huge))
    box = {}

    def load():
        with pytest.raises(ValueError) as e:
            grebe.load_model(path)
        box["e"] = e
    assert _peak_mb(load) < 16
    msg = str(box["e"].value)
    assert "bad.grebe" in msg and "model.safetensors" in msg and "dense" in msg


def test_deeply_nested_config_is_the_documented_value_error(saved):
    d, members = saved
    text = members["config.json"].decode()
    deep = text.replace('"config"', '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "config"', 1)
    path = _write(d, dict(members, **{"config.json": deep.encode()}))
    with pytest.raises(ValueError, match=r"bad\.grebe.*config\.json.*nest"):
        grebe.load_model(path)


def _set(path_keys, value):
    def edit(config):
        node = config
        for k in path_keys[:-1]:
            node = node[k]
        if value is KeyError:
            del node[path_keys[-1]]
        else:
            node[path_keys[-1]] = value
    return edit


@pytest.mark.parametrize("keys,value", [
    (("config", "layers"), 5),
    (("config", "layers"), "x"),
    (("config",), KeyError),
    (("config",), 7),
    (("format_version",), "1"),
    (("config", "layers", 1, "config", "units"), "5"),
    (("config", "layers", 1, "config", "units"), -3),
    (("config", "layers", 1, "config", "activation"), ""),
    (("config", "layers", 1, "config", "name"), 5),
    (("config", "layers", 1, "class_name"), ""),
    (("config", "layers", 1, "config"), KeyError),
    (("config", "layers", 1), 5),
    (("config", "layers", 1, "config", "kernel_initializer"), 5),
    (("config", "layers", 0, "config", "batch_shape"), [None, "", 7]),
    (("config", "name"), 5),
    (("compile_config", "optimizer", "config", "gradient_accumulation_steps"), 2),
    (("compile_config",), 5),
    (("weights_index",), {"a": 1}),
    (("weights_index", 0), 5),
])
def test_malformed_config_fields_raise_a_value_error_naming_the_file(saved, keys, value):
    d, members = saved
    path = _write(d, _config_with(members, _set(keys, value)))
    with pytest.raises(ValueError, match=r"bad\.grebe.*config\.json"):
        grebe.load_model(path)


@pytest.mark.parametrize("offset,value", [(24, 2**31), (24, 1), (20, 1)])
def test_an_archive_directory_that_lies_about_sizes_is_a_value_error(saved, offset, value):
    # offset 24: file_size, 20: compress_size of the last member in the central directory
    d, members = saved
    path = _write(d, members)
    blob = bytearray(path.read_bytes())
    cd = blob.rfind(b"PK\x01\x02")
    blob[cd + offset:cd + offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"bad\.grebe"):
        grebe.load_model(path)


def test_a_safetensors_shape_that_overflows_is_rejected_in_a_model_file(saved):
    d, members = saved
    blob = members["model.safetensors"]
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2**32, 2**32]
    path = _write(d, dict(members, **{"model.safetensors": _safetensors(header, blob[8 + n:])}))
    with pytest.raises(ValueError, match=r"bad\.grebe.*model\.safetensors"):
        grebe.load_model(path)


# ---- atomic save through a symbolic link ---------------------------------------------------
@pytest.mark.parametrize("relative", [False, True])
def test_saving_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path, relative):
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    target = real_dir / "model.grebe"
    target.write_bytes(b"old")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    link = link_dir / "current.grebe"
    link.symlink_to(("../store/model.grebe") if relative else target)
    model = grebe.Sequential([grebe.Input((3,)), layers.Dense(2)])
    model.save(link)
    assert link.is_symlink() and link.resolve() == target.resolve()
    again = grebe.load_model(target)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not [p for p in link_dir.iterdir() if p.name != "current.grebe"]  # no temp left
    assert [p.name for p in real_dir.iterdir()] == ["model.grebe"]
    model.save_weights(link_dir / "w.weights.safetensors")  # a plain path still works


def test_saving_through_a_chain_of_symlinks_and_a_dangling_one(tmp_path):
    target = tmp_path / "real.grebe"
    first = tmp_path / "a.grebe"
    second = tmp_path / "b.grebe"
    second.symlink_to(target)  # dangling until the save creates the target
    first.symlink_to(second)
    model = grebe.Sequential([grebe.Input((3,)), layers.Dense(2)])
    model.save(first)
    assert first.is_symlink() and second.is_symlink() and target.is_file()
    grebe.load_model(first)
