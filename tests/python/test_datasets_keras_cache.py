"""grebe.datasets' loaders for the files Keras caches in ~/.keras/datasets (imdb, reuters,
boston_housing, fashion_mnist, cifar100): small files in those formats are written here, and the
results compared with real Keras 3's loaders reading the same files (Keras's get_file is pointed
at them; nothing is downloaded)."""
from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile

import numpy as np
import pytest

from grebe.datasets import (_object_npz, boston_housing, cifar10, cifar100, fashion_mnist, imdb,
                            mnist, reuters)


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home folder with an empty ~/.keras/datasets cache."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    cache = tmp_path / ".keras" / "datasets"
    cache.mkdir(parents=True)
    return cache


def ragged(rng, n, vocab, max_len):
    a = np.empty(n, dtype=object)
    for i in range(n):
        a[i] = rng.integers(1, vocab, size=rng.integers(1, max_len)).tolist()
    return a


def point_keras_at(monkeypatch, module, path):
    monkeypatch.setattr(module, "get_file", lambda *a, **k: str(path))


def same_split(a, b):
    (ax, ay), (atx, aty) = a
    (bx, by), (btx, bty) = b
    assert [list(s) for s in ax] == [list(s) for s in bx]
    assert [list(s) for s in atx] == [list(s) for s in btx]
    np.testing.assert_array_equal(ay, by)
    np.testing.assert_array_equal(aty, bty)


IMDB_CASES = [{}, {"num_words": 20}, {"num_words": 20, "skip_top": 5, "oov_char": None},
              {"maxlen": 9}, {"start_char": None, "index_from": 0, "seed": 7},
              {"skip_top": 3, "oov_char": 9, "index_from": 2}]


@pytest.mark.parametrize("kwargs", IMDB_CASES)
def test_imdb_matches_keras(keras, home, monkeypatch, kwargs):
    rng = np.random.default_rng(0)
    np.savez(home / "imdb.npz", x_train=ragged(rng, 30, 40, 12),
             y_train=rng.integers(0, 2, 30), x_test=ragged(rng, 20, 40, 12),
             y_test=rng.integers(0, 2, 20))
    import keras.src.datasets.imdb as kimdb
    point_keras_at(monkeypatch, kimdb, home / "imdb.npz")
    same_split(imdb.load_data(**kwargs), kimdb.load_data(**kwargs))


@pytest.mark.parametrize("kwargs", IMDB_CASES[:4] + [{"test_split": 0.5, "seed": 3}])
def test_reuters_matches_keras(keras, home, monkeypatch, kwargs):
    rng = np.random.default_rng(1)
    np.savez(home / "reuters.npz", x=ragged(rng, 40, 50, 15), y=rng.integers(0, 46, 40))
    import keras.src.datasets.reuters as kreuters
    point_keras_at(monkeypatch, kreuters, home / "reuters.npz")
    same_split(reuters.load_data(**kwargs), kreuters.load_data(**kwargs))
    assert reuters.get_label_names() == tuple(kreuters.get_label_names())


def test_word_index_and_missing_file_message(home):
    (home / "imdb_word_index.json").write_text('{"the": 1, "a": 2}')
    assert imdb.get_word_index() == {"the": 1, "a": 2}
    with pytest.raises(FileNotFoundError, match=r"never downloads.*reuters_word_index\.json"):
        reuters.get_word_index()
    with pytest.raises(FileNotFoundError, match=r"imdb\.npz.*put it at .*\.keras/datasets"):
        imdb.load_data()


def test_object_arrays_are_read_without_unpickling(tmp_path):
    """A stream that names any global besides numpy's array reconstruction is refused, and the
    reader never calls anything: os.system here would create the marker file."""
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    a = np.empty(1, dtype=object)
    a[0] = Evil()
    np.savez(tmp_path / "evil.npz", x=a)
    with pytest.raises(ValueError, match=r"refusing .*system"):
        _object_npz.load_npz(tmp_path / "evil.npz")
    assert not (tmp_path / "pwned").exists()


def test_object_npz_reads_old_protocol_streams(tmp_path):
    """Keras's real files were written by Python 2 numpy (protocol 2: GLOBAL, BINPUT)."""
    import pickle
    import zipfile
    a = np.empty(3, dtype=object)
    a[0], a[1], a[2] = [1, 2, 70000], [], [5]
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "|O", "fortran_order": False,
                                               "shape": (3,)})
    npy.write(pickle.dumps(a, protocol=2))
    with zipfile.ZipFile(tmp_path / "old.npz", "w") as z:
        z.writestr("x.npy", npy.getvalue())
    out = _object_npz.load_npz(tmp_path / "old.npz")["x"]
    assert [list(v) for v in out] == [[1, 2, 70000], [], [5]]


def test_boston_housing_matches_keras(keras, home, monkeypatch):
    rng = np.random.default_rng(2)
    np.savez(home / "boston_housing.npz", x=rng.normal(size=(37, 13)), y=rng.normal(size=37))
    import keras.src.datasets.boston_housing as kb
    point_keras_at(monkeypatch, kb, home / "boston_housing.npz")
    for kwargs in ({}, {"test_split": 0.3, "seed": 5}):
        a, b = boston_housing.load_data(**kwargs), kb.load_data(**kwargs)
        for u, v in zip(a[0] + a[1], b[0] + b[1]):
            np.testing.assert_array_equal(u, v)


def idx_gz(path, arr):
    head = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}i", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_matches_keras(keras, home, monkeypatch):
    rng = np.random.default_rng(3)
    folder = home / "fashion-mnist"
    folder.mkdir()
    parts = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28)),
             "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 12),
             "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28)),
             "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5)}
    for name, arr in parts.items():
        idx_gz(folder / name, arr)
    import keras.src.datasets.fashion_mnist as kf
    monkeypatch.setattr(kf, "get_file", lambda fname, *a, **k: str(folder / fname))
    (x, y), (xt, yt) = fashion_mnist.load_data()
    (kx, ky), (kxt, kyt) = kf.load_data()
    for u, v in ((x, kx), (y, ky), (xt, kxt), (yt, kyt)):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


def cifar100_records(rng, n):
    coarse, fine = rng.integers(0, 20, n), rng.integers(0, 100, n)
    planes = rng.integers(0, 256, (n, 3, 32, 32))
    raw = np.concatenate([coarse[:, None], fine[:, None], planes.reshape(n, -1)], axis=1)
    return raw.astype(np.uint8).tobytes(), coarse, fine, planes.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("as_tar", [False, True])
def test_cifar100_binary(home, as_tar):
    rng = np.random.default_rng(4)
    train, c, f, x = cifar100_records(rng, 7)
    test, tc, tf_, tx = cifar100_records(rng, 3)
    if as_tar:
        with tarfile.open(home / "cifar-100-binary.tar.gz", "w:gz") as t:
            for name, data in (("train.bin", train), ("test.bin", test)):
                info = tarfile.TarInfo("cifar-100-binary/" + name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    else:
        (home / "cifar-100-binary").mkdir()
        (home / "cifar-100-binary" / "train.bin").write_bytes(train)
        (home / "cifar-100-binary" / "test.bin").write_bytes(test)
    (gx, gy), (gxt, gyt) = cifar100.load_data()
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy[:, 0], f)
    np.testing.assert_array_equal(gxt, tx)
    assert gy.shape == (7, 1) and gy.dtype == np.int64 and gx.dtype == np.uint8
    (_, cy), (_, cyt) = cifar100.load_data(label_mode="coarse")
    np.testing.assert_array_equal(cy[:, 0], c)
    np.testing.assert_array_equal(cyt[:, 0], tc)


def test_cifar100_errors(home):
    with pytest.raises(FileNotFoundError, match="cifar-100-binary.tar.gz"):
        cifar100.load_data()
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")
    (home / "cifar-100-binary").mkdir()
    (home / "cifar-100-binary" / "train.bin").write_bytes(b"\0" * 100)
    (home / "cifar-100-binary" / "test.bin").write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="multiple of the 3074-byte record"):
        cifar100.load_data()


def test_mnist_and_cifar10_default_to_the_keras_cache(home):
    rng = np.random.default_rng(5)
    arrays = {"x_train": rng.integers(0, 256, (4, 28, 28)).astype(np.uint8),
              "y_train": rng.integers(0, 10, 4).astype(np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28)).astype(np.uint8),
              "y_test": rng.integers(0, 10, 2).astype(np.uint8)}
    np.savez(home / "mnist.npz", **arrays)
    (x, y), _ = mnist.load_data()
    np.testing.assert_array_equal(x, arrays["x_train"])
    recs = np.concatenate([np.array([[3]], np.uint8), rng.integers(0, 256, (1, 3072))
                           .astype(np.uint8)], axis=1).tobytes()
    with tarfile.open(home / "cifar-10-binary.tar.gz", "w:gz") as t:
        for name in ("data_batch_1.bin", "test_batch.bin"):
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(recs)
            t.addfile(info, io.BytesIO(recs))
    (cx, cy), _ = cifar10.load_data()
    assert cx.shape == (1, 32, 32, 3) and cy.tolist() == [[3]]
