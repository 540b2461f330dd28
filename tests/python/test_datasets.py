"""grebe.datasets: digits (scikit-learn), MNIST-1D (generated locally), and the MNIST/CIFAR-10
readers on small files in the standard formats that these tests write."""
from __future__ import annotations

import gzip
import io
import random
import struct
import tarfile

import numpy as np
import pytest

from grebe.datasets import cifar10, digits, mnist, mnist1d


# ---- digits ------------------------------------------------------------------------------------
def test_digits_shapes_range_and_split():
    pytest.importorskip("sklearn")
    (x, y), (xt, yt) = digits.load_data()
    assert x.shape == (1437, 8, 8) and xt.shape == (360, 8, 8)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    assert np.bincount(yt).min() >= 35  # stratified: every class in the test part
    (x2, y2), _ = digits.load_data()
    np.testing.assert_array_equal(y, y2)  # same seed, same split
    (x3, y3), _ = digits.load_data(seed=1)
    assert not np.array_equal(y, y3)


def test_digits_are_the_sklearn_images():
    sk = pytest.importorskip("sklearn.datasets")
    ref = sk.load_digits()
    (x, y), (xt, yt) = digits.load_data()
    allx = np.concatenate([x, xt]).reshape(len(x) + len(xt), -1)
    ally = np.concatenate([y, yt])
    key = {(tuple((row * 16).round().astype(int)), lab) for row, lab in zip(allx, ally)}
    refkey = {(tuple(r.astype(int)), lab) for r, lab in zip(ref.data, ref.target)}
    assert key == refkey


def test_digits_upsampled_for_the_cnn():
    pytest.importorskip("sklearn")
    (x, y), (xt, _) = digits.load_data(size=32, channels=3)
    assert x.shape == (1437, 32, 32, 3) and xt.shape == (360, 32, 32, 3)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    (x8, _), _ = digits.load_data()
    torch = pytest.importorskip("torch")
    # the same bilinear resize as PyTorch's (half-pixel centers, clamped edges)
    ref = torch.nn.functional.interpolate(torch.tensor(x8[:50, None]), size=(32, 32),
                                          mode="bilinear", align_corners=False)
    np.testing.assert_allclose(x[:50, :, :, 0], ref[:, 0].numpy(), atol=1e-6)
    (x1, _), _ = digits.load_data(channels=1)
    assert x1.shape == (1437, 8, 8, 1)


def test_resize_matrix_rows_sum_to_one_and_identity():
    r = digits.resize_matrix(8, 32)
    np.testing.assert_allclose(r.sum(axis=1), 1.0)
    np.testing.assert_allclose(digits.resize_matrix(8, 8), np.eye(8))


def test_digits_errors():
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=1.0)
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match="size"):
        digits.load_data(size=0)


def test_digits_missing_sklearn(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        digits.load_data()


# ---- MNIST-1D ----------------------------------------------------------------------------------
def test_mnist1d_generates_offline_and_keeps_global_rng(tmp_path, monkeypatch):
    pytest.importorskip("mnist1d")
    monkeypatch.chdir(tmp_path)  # the package's cache/download path would write here
    mnist1d._cache.clear()
    try:
        import requests

        def no_network(*a, **k):
            raise AssertionError("mnist1d.load_data tried to download")

        monkeypatch.setattr(requests, "get", no_network)
    except ImportError:
        pass
    np.random.seed(123)
    random.seed(123)
    expect_np, expect_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    (x, y), (xt, yt) = mnist1d.load_data(num_samples=200)
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or cached on disk
    assert np.random.rand() == expect_np and random.random() == expect_py
    assert x.shape == (160, 40) and xt.shape == (40, 40)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) <= set(range(10))
    (xs, _), _ = mnist1d.load_data(num_samples=200, as_sequence=True)
    assert xs.shape == (160, 40, 1)
    np.testing.assert_array_equal(xs[..., 0], x)  # same data: deterministic and cached


def test_mnist1d_errors():
    with pytest.raises(ValueError, match="num_samples"):
        mnist1d.load_data(num_samples=5)


# ---- MNIST IDX / npz ---------------------------------------------------------------------------
def _idx(arr: np.ndarray, code=0x08) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + \
        arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _mnist_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 12).astype(np.uint8),
            "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 5).astype(np.uint8)}


_NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
          "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def _write_mnist(folder, arrays, gz):
    for k, name in _NAMES.items():
        blob = _idx(arrays[k])
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(blob))
        else:
            (folder / name).write_bytes(blob)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_roundtrip(tmp_path, gz):
    arrays = _mnist_arrays()
    _write_mnist(tmp_path, arrays, gz)
    (x, y), (xt, yt) = mnist.load_data(str(tmp_path))
    for got, k in ((x, "x_train"), (y, "y_train"), (xt, "x_test"), (yt, "y_test")):
        np.testing.assert_array_equal(got, arrays[k])
        assert got.dtype == np.uint8


def test_idx_other_dtypes():
    a = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    np.testing.assert_array_equal(mnist.parse_idx(_idx(a, 0x0C)), a)
    f = np.linspace(0, 1, 4).astype(np.float32)
    np.testing.assert_array_equal(mnist.parse_idx(_idx(f, 0x0D)), f)


def test_mnist_npz(tmp_path):
    arrays = _mnist_arrays(1)
    np.savez(tmp_path / "mnist.npz", **arrays)
    (x, y), (xt, yt) = mnist.load_data(str(tmp_path))
    np.testing.assert_array_equal(xt, arrays["x_test"])
    (x2, _), _ = mnist.load_data(str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(x2, arrays["x_train"])
    np.savez(tmp_path / "other.npz", x_train=arrays["x_train"])
    with pytest.raises(ValueError, match="missing"):
        mnist.load_data(str(tmp_path / "other.npz"))
    np.savez(tmp_path / "obj.npz", x_train=np.array([{"a": 1}], dtype=object),
             y_train=arrays["y_train"], x_test=arrays["x_test"], y_test=arrays["y_test"])
    with pytest.raises(ValueError, match="obj.npz"):  # object arrays need pickle: refused
        mnist.load_data(str(tmp_path / "obj.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="junk.npz"):
        mnist.load_data(str(tmp_path / "junk.npz"))


def test_mnist_damaged_files(tmp_path):
    arrays = _mnist_arrays()
    _write_mnist(tmp_path, arrays, gz=False)
    p = tmp_path / _NAMES["x_train"]
    blob = p.read_bytes()
    p.write_bytes(blob[:-100])
    with pytest.raises(ValueError, match="truncated: shape"):
        mnist.load_data(str(tmp_path))
    p.write_bytes(blob + b"xx")
    with pytest.raises(ValueError, match="trailing bytes"):
        mnist.load_data(str(tmp_path))
    p.write_bytes(b"\x12\x34" + blob[2:])
    with pytest.raises(ValueError, match="bad magic"):
        mnist.load_data(str(tmp_path))
    p.write_bytes(blob[:10])
    with pytest.raises(ValueError, match="truncated IDX header"):
        mnist.load_data(str(tmp_path))
    p.write_bytes(blob)
    (tmp_path / _NAMES["y_train"]).write_bytes(_idx(arrays["y_train"][:5]))
    with pytest.raises(ValueError, match="12 train images but 5 labels"):
        mnist.load_data(str(tmp_path))
    bad_labels = arrays["y_train"].copy()
    bad_labels[0] = 11
    (tmp_path / _NAMES["y_train"]).write_bytes(_idx(bad_labels))
    with pytest.raises(ValueError, match="outside 0..9"):
        mnist.load_data(str(tmp_path))


def test_mnist_corrupted_gzip_and_missing(tmp_path):
    _write_mnist(tmp_path, _mnist_arrays(), gz=True)
    p = tmp_path / (_NAMES["x_test"] + ".gz")
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ValueError, match="gzip"):
        mnist.load_data(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="does not download"):
        mnist.load_data(str(empty))
    with pytest.raises(FileNotFoundError):
        mnist.load_data(str(tmp_path / "nowhere"))


# ---- CIFAR-10 binary ---------------------------------------------------------------------------
def _cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.uint8)
    planes = x.transpose(0, 3, 1, 2).reshape(n, -1)  # R plane, G plane, B plane
    return x, y, np.concatenate([y[:, None], planes], axis=1).tobytes()


def _write_cifar(folder, sizes=(3, 4), test=2):
    xs, ys = [], []
    for i, n in enumerate(sizes, start=1):
        x, y, blob = _cifar_batch(n, i)
        (folder / f"data_batch_{i}.bin").write_bytes(blob)
        xs.append(x)
        ys.append(y)
    xt, yt, blob = _cifar_batch(test, 99)
    (folder / "test_batch.bin").write_bytes(blob)
    return np.concatenate(xs), np.concatenate(ys), xt, yt


def test_cifar10_binary_roundtrip(tmp_path):
    x, y, xt, yt = _write_cifar(tmp_path)
    (gx, gy), (gxt, gyt) = cifar10.load_data(str(tmp_path))
    assert gx.shape == (7, 32, 32, 3) and gy.shape == (7, 1) and gx.dtype == np.uint8
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy[:, 0], y)
    np.testing.assert_array_equal(gxt, xt)
    np.testing.assert_array_equal(gyt[:, 0], yt)


def test_cifar10_channel_layout():
    # one record: red plane all 10, green 20, blue 30; pixel (0, 1) of red is 99
    planes = np.concatenate([np.full(1024, v, np.uint8) for v in (10, 20, 30)])
    planes[1] = 99
    x, y = cifar10.parse_batch(bytes([7]) + planes.tobytes())
    assert y.tolist() == [7]
    assert x[0, 5, 5].tolist() == [10, 20, 30]
    assert x[0, 0, 1].tolist() == [99, 20, 30]


def test_cifar10_parent_folder_and_tar(tmp_path):
    inner = tmp_path / "cifar-10-batches-bin"
    inner.mkdir()
    x, y, xt, yt = _write_cifar(inner)
    (gx, _), _ = cifar10.load_data(str(tmp_path))
    np.testing.assert_array_equal(gx, x)
    tar_path = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(inner, arcname="cifar-10-batches-bin")
    (gx, gy), (gxt, _) = cifar10.load_data(str(tar_path))
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gxt, xt)


def test_cifar10_damaged_files(tmp_path):
    _write_cifar(tmp_path)
    p = tmp_path / "data_batch_2.bin"
    blob = p.read_bytes()
    p.write_bytes(blob[:-1])
    with pytest.raises(ValueError, match="data_batch_2.bin: truncated"):
        cifar10.load_data(str(tmp_path))
    bad = bytearray(blob)
    bad[0] = 42
    p.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="label 42"):
        cifar10.load_data(str(tmp_path))
    p.write_bytes(blob)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch.bin"):
        cifar10.load_data(str(tmp_path))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable tar"):
        cifar10.load_data(str(junk))


def test_cifar10_truncated_tar(tmp_path):
    inner = tmp_path / "b"
    inner.mkdir()
    _write_cifar(inner, sizes=(50,))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(inner, arcname="cifar-10-batches-bin")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match="cut.tar.gz"):
        cifar10.load_data(str(cut))
