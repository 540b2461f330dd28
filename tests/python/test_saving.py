"""Model and weight files: the safetensors reader/writer (against the `safetensors` package),
atomic writes, the .grebe zip, weights files with partial/mismatched loading, clear errors on
damaged files, and exact training resumption from a saved model."""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import grebe
from grebe import safetensors_io, saving
from grebe.layers import Layer


# ---- a small model made only of the Layer base (independent of Dense/Sequential) ---------------
class Affine(Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.bias = self.add_weight("bias", (self.units,), initializer="zeros")

    def call(self, x):
        return x @ self.kernel + self.bias

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class TinyModel(Layer):
    def __init__(self, units=(4, 3), n_in=5, names=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.n_in = list(units), n_in
        self.names = list(names) if names else [f"{self.name}_affine_{i}" for i in
                                                 range(len(units))]
        self.blocks = [Affine(u, name=n) for u, n in zip(units, self.names)]
        shape = (None, n_in)
        for b in self.blocks:
            b._build_once(shape)
            shape = (None, b.units)
        self.built = True

    @property
    def layers(self):
        return self.blocks

    def call(self, x):
        for b in self.blocks:
            x = b(x)
        return x

    def get_config(self):
        return {"name": self.name, "units": self.units, "n_in": self.n_in, "names": self.names}


CUSTOM = {"TinyModel": TinyModel}


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.data[...] = rng.standard_normal(w.shape)


def _x(n=6, d=5):
    return np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)


# ---- safetensors -----------------------------------------------------------------------------
def _tensors():
    rng = np.random.default_rng(0)
    return {"a/kernel": rng.standard_normal((3, 4)).astype(np.float32),
            "a/bias": np.zeros(4, np.float32),
            "steps": np.array(7, np.int64),
            "idx": np.arange(5, dtype=np.int64),
            "empty": np.zeros((0, 3), np.float32),
            "half": np.ones((2, 2), np.float16),
            "mask": np.array([True, False])}


def test_safetensors_roundtrip():
    t = _tensors()
    out, meta = safetensors_io.loads(safetensors_io.dumps(t, {"k": "v"}))
    assert meta == {"k": "v"}
    assert set(out) == set(t)
    for k in t:
        assert out[k].dtype == t[k].dtype and out[k].shape == t[k].shape
        np.testing.assert_array_equal(out[k], t[k])
        assert out[k].flags.writeable


def test_safetensors_header_is_aligned_and_little_endian():
    blob = safetensors_io.dumps({"x": np.array([1.0, 2.0], np.float32)})
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    assert blob[8 + n:] == np.array([1.0, 2.0], "<f4").tobytes()
    big = np.array([1.0, 2.0], ">f4")  # big-endian input is written little-endian
    assert safetensors_io.dumps({"x": big}) == blob


def test_safetensors_interop_with_reference_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    t = _tensors()
    ours = tmp_path / "ours.safetensors"
    safetensors_io.save_file(t, ours, metadata={"format": "grebe"})
    theirs = st.load_file(str(ours))
    for k in t:
        np.testing.assert_array_equal(theirs[k], t[k])
        assert theirs[k].dtype == t[k].dtype
    ref = tmp_path / "ref.safetensors"
    st.save_file(t, str(ref), metadata={"who": "reference"})
    back, meta = safetensors_io.load_file_with_metadata(ref)
    assert meta == {"who": "reference"}
    for k in t:
        np.testing.assert_array_equal(back[k], t[k])


def _raw(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


@pytest.mark.parametrize("blob, match", [
    (b"\x01\x02", "8-byte header length"),
    (struct.pack("<Q", 1000) + b"{}", "truncated"),
    (struct.pack("<Q", 4) + b"{no}", "not valid JSON"),
    (struct.pack("<Q", 2) + b"[]", "JSON object"),
    (_raw({"x": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "data_offsets"),
    (_raw({"x": {"dtype": "Q99", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
     "unsupported dtype"),
    (_raw({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, b"\0" * 8),
     "truncated file"),
    (_raw({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
     r"shape \(3,\) x F32 is 12 bytes"),
    (_raw({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}, b"\0" * 8),
     "invalid shape"),
    (_raw({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8),
     "invalid data_offsets"),
    (_raw({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
     "overlaps"),
    (_raw({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8), "hole"),
    (_raw({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8),
     "cover 4 bytes"),
])
def test_safetensors_damaged_input_is_a_clear_error(blob, match):
    with pytest.raises(ValueError, match=match):
        safetensors_io.loads(blob, source="f.safetensors")


def test_safetensors_rejects_unsupported_dtype_on_write():
    with pytest.raises(TypeError, match="unsupported dtype"):
        safetensors_io.dumps({"c": np.zeros(2, np.complex64)})


# ---- atomic writes ---------------------------------------------------------------------------
def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "f.bin"
    saving.atomic_write(p, b"old")
    saving.atomic_write(p, b"new")
    assert p.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_gives_usual_permissions(tmp_path):
    p = tmp_path / "f.bin"
    saving.atomic_write(p, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    p.chmod(0o640)
    saving.atomic_write(p, b"y")  # overwriting keeps the file's mode
    assert p.stat().st_mode & 0o777 == 0o640


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        saving.atomic_write(p, b"new")
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        saving.atomic_write(tmp_path / "nope" / "f.bin", b"x")


# ---- model files (Layer-only model) ------------------------------------------------------------
def test_save_load_model_roundtrip(tmp_path):
    m = TinyModel(name="tiny")
    _perturb(m)
    p = tmp_path / "m.grebe"
    saving.save_model(m, p)
    with zipfile.ZipFile(p) as z:
        assert {"config.json", "model.safetensors"} <= set(z.namelist())
        config = json.loads(z.read("config.json"))
        tensors, _ = safetensors_io.loads(z.read("model.safetensors"))
    assert config["class_name"] == "TinyModel"
    assert set(tensors) == {"tiny_affine_0/kernel", "tiny_affine_0/bias",
                            "tiny_affine_1/kernel", "tiny_affine_1/bias"}
    m2 = saving.load_model(p, custom_objects=CUSTOM)
    assert isinstance(m2, TinyModel)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m(_x()).numpy(), m2(_x()).numpy())


def test_save_refuses_to_overwrite_when_asked(tmp_path):
    m = TinyModel()
    p = tmp_path / "m.grebe"
    saving.save_model(m, p)
    with pytest.raises(FileExistsError):
        saving.save_model(m, p, overwrite=False)


def test_unknown_class_needs_custom_objects(tmp_path):
    p = tmp_path / "m.grebe"
    saving.save_model(TinyModel(), p)
    with zipfile.ZipFile(p) as z:
        config = json.loads(z.read("config.json"))
    config["class_name"] = "NoSuchModel"
    renamed = tmp_path / "renamed.grebe"
    _rewrite_zip(p, renamed, replace={"config.json": json.dumps(config).encode()})
    with pytest.raises(ValueError, match="custom_objects"):
        saving.load_model(renamed)
    m = saving.load_model(renamed, custom_objects={"NoSuchModel": TinyModel})
    assert isinstance(m, TinyModel)


def _rewrite_zip(src, dst, replace=None, drop=()):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist() if n not in drop}
    members.update(replace or {})
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.fixture
def saved(tmp_path):
    m = TinyModel()
    _perturb(m)
    p = tmp_path / "m.grebe"
    saving.save_model(m, p)
    return p


def test_truncated_model_file(saved, tmp_path):
    blob = saved.read_bytes()
    for cut in (len(blob) // 2, len(blob) - 10, 30):
        bad = tmp_path / f"cut{cut}.grebe"
        bad.write_bytes(blob[:cut])
        with pytest.raises(ValueError, match=str(bad)):
            saving.load_model(bad, custom_objects=CUSTOM)


def test_corrupted_bytes_in_model_file(saved, tmp_path):
    blob = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("model.safetensors")
    pos = info.header_offset + 30 + len(info.filename) + info.file_size - 3
    blob[pos] ^= 0xFF  # flips a byte of weight data: the zip CRC catches it
    bad = tmp_path / "flip.grebe"
    bad.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="corrupted"):
        saving.load_model(bad, custom_objects=CUSTOM)


def test_foreign_files(saved, tmp_path):
    txt = tmp_path / "notes.grebe"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="not a zip"):
        saving.load_model(txt)
    other = tmp_path / "other.grebe"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="'config.json' is missing"):
        saving.load_model(other)
    nocfg = tmp_path / "nocfg.grebe"
    _rewrite_zip(saved, nocfg, replace={"config.json": b"{broken"})
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        saving.load_model(nocfg, custom_objects=CUSTOM)
    fmt = tmp_path / "fmt.grebe"
    _rewrite_zip(saved, fmt, replace={"config.json": b'{"format": "keras"}'})
    with pytest.raises(ValueError, match="not a grebe model file"):
        saving.load_model(fmt, custom_objects=CUSTOM)
    notensors = tmp_path / "notensors.grebe"
    _rewrite_zip(saved, notensors, drop=("model.safetensors",))
    with pytest.raises(ValueError, match="'model.safetensors' is missing"):
        saving.load_model(notensors, custom_objects=CUSTOM)


def test_bad_tensors_inside_zip(saved, tmp_path):
    with zipfile.ZipFile(saved) as z:
        raw = z.read("model.safetensors")
    short = tmp_path / "short.grebe"
    _rewrite_zip(saved, short, replace={"model.safetensors": raw[:-4]})
    with pytest.raises(ValueError, match="model.safetensors"):
        saving.load_model(short, custom_objects=CUSTOM)
    # a tensor the index names is missing from the data
    tensors, meta = safetensors_io.loads(raw)
    del tensors[next(iter(tensors))]
    gone = tmp_path / "gone.grebe"
    _rewrite_zip(saved, gone, replace={"model.safetensors": safetensors_io.dumps(tensors)})
    with pytest.raises(ValueError, match="lists tensors"):
        saving.load_model(gone, custom_objects=CUSTOM)
    # shapes that do not fit the architecture
    tensors, _ = safetensors_io.loads(raw)
    k = next(k for k in tensors if k.endswith("kernel"))
    tensors[k] = np.zeros((2, 2), np.float32)
    wrong = tmp_path / "wrong.grebe"
    _rewrite_zip(saved, wrong, replace={"model.safetensors": safetensors_io.dumps(tensors)})
    with pytest.raises(ValueError, match=r"the file has shape \(2, 2\)"):
        saving.load_model(wrong, custom_objects=CUSTOM)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        saving.load_model("/nonexistent/model.grebe")


def test_no_pickle_in_saving_code():
    import grebe.data
    import grebe.datasets
    import grebe.utils

    mods = [saving, safetensors_io, grebe.utils, grebe.data] + [
        getattr(grebe.datasets, n) for n in grebe.datasets.__all__]
    for mod in mods:
        src = open(mod.__file__).read()
        assert "import pickle" not in src and "allow_pickle=True" not in src, mod.__name__


# ---- weights files ---------------------------------------------------------------------------
def test_weights_roundtrip_and_reference_reader(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    m = TinyModel(names=["a", "b"])
    _perturb(m)
    p = tmp_path / "w.weights.safetensors"
    saving.save_weights(m, p)
    assert set(st.load_file(str(p))) == {"a/kernel", "a/bias", "b/kernel", "b/bias"}
    m2 = TinyModel(names=["c", "d"])  # other names: matched by position
    report = saving.load_weights(m2, p)
    assert len(report.loaded) == 4 and not report.skipped and not report.mismatched
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_from_model_file(tmp_path):
    m = TinyModel()
    _perturb(m)
    p = tmp_path / "m.grebe"
    saving.save_model(m, p)
    m2 = TinyModel()
    saving.load_weights(m2, p)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_mismatch_raises_and_leaves_model_unchanged(tmp_path):
    m = TinyModel(units=(4, 3), names=["a", "b"])
    _perturb(m)
    p = tmp_path / "w.safetensors"
    saving.save_weights(m, p)
    m2 = TinyModel(units=(4, 7), names=["a", "b"])
    before = m2.get_weights()
    with pytest.raises(ValueError, match=r"weight 'b/kernel': the file has shape \(4, 3\), "
                                         r"the model \(4, 7\)"):
        saving.load_weights(m2, p)
    for a, b in zip(before, m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    report = saving.load_weights(m2, p, skip_mismatch=True)
    assert report.loaded == ["a/kernel", "a/bias"]
    assert ("b/kernel", (4, 3), (4, 7)) in report.mismatched
    np.testing.assert_array_equal(m2.get_weights()[0], m.get_weights()[0])
    assert "mismatched" in str(report)


def test_load_weights_layer_count_mismatch(tmp_path):
    m = TinyModel(units=(4, 3, 2), names=["a", "b", "c"])
    p = tmp_path / "w.safetensors"
    saving.save_weights(m, p)
    m2 = TinyModel(units=(4, 3), names=["a", "b"])
    with pytest.raises(ValueError, match="3 layers"):
        saving.load_weights(m2, p)
    report = saving.load_weights(m2, p, skip_mismatch=True)
    assert len(report.loaded) == 4 and len(report.skipped) == 2


def test_load_weights_by_name_for_transfer(tmp_path):
    base = TinyModel(units=(4, 3), names=["base", "head"])
    _perturb(base)
    p = tmp_path / "w.safetensors"
    saving.save_weights(base, p)
    new = TinyModel(units=(4, 6, 2), names=["base", "new_head", "out"])
    report = saving.load_weights(new, p, by_name=True)
    assert report.loaded == ["base/kernel", "base/bias"]
    assert {n for n, _ in report.skipped} == {"new_head/kernel", "new_head/bias", "out/kernel",
                                              "out/bias", "head/kernel", "head/bias"}
    np.testing.assert_array_equal(new.get_weights()[0], base.get_weights()[0])


def test_load_weights_plain_safetensors_by_key(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    m = TinyModel(names=["a", "b"])
    arrays = {"a/kernel": np.full((5, 4), 2.0, np.float32), "a/bias": np.ones(4, np.float32)}
    p = tmp_path / "plain.safetensors"
    st.save_file(arrays, str(p))
    report = saving.load_weights(m, p)
    assert report.loaded == ["a/kernel", "a/bias"]
    np.testing.assert_array_equal(m.get_weights()[0], arrays["a/kernel"])


def test_load_weights_into_unbuilt_model(tmp_path):
    m = TinyModel()
    p = tmp_path / "w.safetensors"
    saving.save_weights(m, p)
    with pytest.raises(ValueError, match="no weights yet"):
        saving.load_weights(Affine(3), p)


def test_load_model_rejects_weights_file(tmp_path):
    p = tmp_path / "w.safetensors"
    saving.save_weights(TinyModel(), p)
    with pytest.raises(ValueError, match="weights file"):
        saving.load_model(p)


# ---- with the Keras-style models (once grebe.models has Sequential and Dense) ------------------
def _need_models():
    """The Keras-style model API these tests use (kept as one place to import it)."""
    import grebe.models  # noqa: F401



def _mlp(seed=0):
    from grebe import layers

    grebe.utils.set_random_seed(seed)
    return grebe.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])


def _xy(n=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, grebe.utils.to_categorical(y, 3)


def test_sequential_save_load_with_optimizer_state(tmp_path):
    _need_models()
    x, y = _xy()
    model = _mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    p = tmp_path / "mlp.grebe"
    model.save(str(p))
    m2 = grebe.load_model(str(p))
    np.testing.assert_array_equal(model.predict(x, verbose=0), m2.predict(x, verbose=0))
    with zipfile.ZipFile(p) as z:
        tensors, _ = safetensors_io.loads(z.read("model.safetensors"))
        config = json.loads(z.read("config.json"))
    assert any(k.startswith("optimizer/") for k in tensors)
    assert config["compile_config"]["loss"] == "categorical_crossentropy"
    # the optimizer builds its slots lazily (first step); build it here to read its state
    m2.optimizer.build([w for w in m2.trainable_weights if w.requires_grad])
    s1, s2 = model.optimizer.get_state(), m2.optimizer.get_state()
    assert set(s1) == set(s2)
    for k in s1:
        np.testing.assert_array_equal(np.asarray(s1[k]), np.asarray(s2[k]))
    m3 = grebe.load_model(str(p), compile=False)
    np.testing.assert_array_equal(model.predict(x, verbose=0), m3.predict(x, verbose=0))


def _optimizer(name):
    from grebe import optimizers

    return {"adam": lambda: optimizers.Adam(learning_rate=0.01),
            "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
            "rmsprop": lambda: "rmsprop"}[name]()


@pytest.mark.parametrize("opt", ["adam", "sgd_momentum", "rmsprop"])
def test_resumed_training_is_bitwise_identical(tmp_path, opt):
    """2 epochs straight == 1 epoch, save, load_model, 1 more epoch: every weight bit-equal
    (the optimizer's moments and step counter come back from the file)."""
    _need_models()
    x, y = _xy()
    straight = _mlp()
    straight.compile(optimizer=_optimizer(opt), loss="categorical_crossentropy")
    straight.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)

    first = _mlp()
    first.compile(optimizer=_optimizer(opt), loss="categorical_crossentropy")
    first.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    p = tmp_path / "ckpt.grebe"
    first.save(str(p))
    resumed = grebe.load_model(str(p))
    resumed.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_methods_delegate(tmp_path):
    _need_models()
    model = _mlp()
    model.save_weights(str(tmp_path / "w.weights.safetensors"))
    other = _mlp(seed=5)
    other.load_weights(str(tmp_path / "w.weights.safetensors"))
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_zip_member_bytes_are_plain(saved):
    # the archive holds JSON and safetensors only: nothing that could run code when opened
    with zipfile.ZipFile(saved) as z:
        assert sorted(z.namelist()) == ["config.json", "model.safetensors"]
        json.loads(z.read("config.json"))
        safetensors_io.loads(z.read("model.safetensors"))
    assert io.BytesIO(saved.read_bytes()).read(2) == b"PK"


def _architectures():
    from grebe import layers

    def bn_cnn():
        return grebe.Sequential([
            layers.RandomFlip("horizontal", input_shape=(8, 8, 1)), layers.Rescaling(2.0),
            layers.Conv2D(4, 3), layers.BatchNormalization(), layers.Dropout(0.3),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, activation="softmax")])

    def functional():
        inp = grebe.Input((8, 8, 1))
        h = layers.Flatten()(inp)
        a, b = layers.Dense(8, activation="relu")(h), layers.Dense(8)(h)
        return grebe.Model(inp, layers.Dense(3, activation="softmax")(layers.Add()([a, b])))

    def nested():
        base = grebe.Sequential([layers.Flatten(input_shape=(8, 8, 1)),
                                 layers.Dense(8, activation="relu")], name="base")
        return grebe.Sequential([base, layers.Dense(3, activation="softmax")])

    def rnn():
        return grebe.Sequential([layers.Reshape((8, 8), input_shape=(8, 8, 1)),
                                 layers.LSTM(5, return_sequences=True), layers.GRU(4),
                                 layers.Dense(3, activation="softmax")])

    return {"bn_cnn": bn_cnn, "functional": functional, "nested": nested, "rnn": rnn}


@pytest.mark.parametrize("arch", ["bn_cnn", "functional", "nested", "rnn"])
def test_architectures_roundtrip(tmp_path, arch):
    """Non-trainable state (BatchNormalization's moving statistics), functional graphs, nested
    models and recurrent layers all come back: the reloaded model predicts bit-identically."""
    _need_models()
    model = _architectures()[arch]()
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    p = tmp_path / f"{arch}.grebe"
    model.save(str(p))
    again = grebe.load_model(str(p))
    assert [type(la).__name__ for la in again.layers] == \
        [type(la).__name__ for la in model.layers]
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))
    assert len(again.weights) == len(model.weights)
