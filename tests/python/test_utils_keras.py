"""grebe.utils against real Keras 3 (torch backend) where Keras runs without TensorFlow:
pad_sequences on edge cases, the image helpers; get_file's cache lookup and offline errors;
PyDataset (with worker threads) in fit; split_dataset; plot_model's PNG."""
from __future__ import annotations

import os
import tarfile
import threading

import numpy as np
import pytest

import grebe
from grebe import layers, utils
from grebe.preprocessing.sequence import pad_sequences as legacy_pad


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


SEQS = [[1, 2, 3, 4, 5], [6], [], [7, 8, 9]]
PAD_CASES = [{}, {"maxlen": 3}, {"maxlen": 3, "padding": "post"},
             {"maxlen": 3, "truncating": "post"},
             {"maxlen": 2, "padding": "post", "truncating": "post", "value": -1},
             {"maxlen": 7, "value": 9}, {"dtype": "float32", "value": 0.5},
             {"dtype": "int64", "maxlen": 1}]


@pytest.mark.parametrize("kwargs", PAD_CASES)
def test_pad_sequences_matches_keras(keras, kwargs):
    ours, theirs = utils.pad_sequences(SEQS, **kwargs), keras.utils.pad_sequences(SEQS, **kwargs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(legacy_pad(SEQS, **kwargs), theirs)


def test_pad_sequences_steps_strings_and_errors(keras):
    steps = [np.ones((2, 3)), np.arange(9.0).reshape(3, 3)]
    np.testing.assert_array_equal(utils.pad_sequences(steps, dtype="float32"),
                                  keras.utils.pad_sequences(steps, dtype="float32"))
    words = [["a", "b"], ["c"]]
    np.testing.assert_array_equal(
        utils.pad_sequences(words, dtype=object, value="<pad>"),
        keras.utils.pad_sequences(words, dtype=object, value="<pad>"))
    with pytest.raises(ValueError, match="not compatible"):
        utils.pad_sequences(words, value="<pad>")
    with pytest.raises(ValueError, match='padding must be "pre" or "post"'):
        utils.pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="non-iterable"):
        utils.pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="Shape of sample"):
        utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_get_file_cache_extract_and_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(FileNotFoundError, match=r"never downloads.*http://x/d\.npz.*"
                                                r"kh/datasets/d\.npz"):
        utils.get_file("d.npz", origin="http://x/d.npz")
    cache = tmp_path / "kh" / "datasets"
    cache.mkdir(parents=True)
    (cache / "d.npz").write_bytes(b"data")
    assert utils.get_file("d.npz", origin="http://x/d.npz") == str(cache / "d.npz")
    assert utils.get_file(origin="http://x/d.npz") == str(cache / "d.npz")
    sha = "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"
    assert utils.get_file("d.npz", file_hash=sha) == str(cache / "d.npz")
    with pytest.raises(ValueError, match="does not match the expected hash"):
        utils.get_file("d.npz", file_hash="0" * 64)
    assert utils.get_file(str(cache / "d.npz")) == str(cache / "d.npz")  # a path works too
    inner = tmp_path / "inner.txt"
    inner.write_text("hello")
    with tarfile.open(cache / "arch.tar.gz", "w:gz") as t:
        t.add(inner, arcname="folder/inner.txt")
    out = utils.get_file("arch.tar.gz", extract=True)
    assert out == str(cache / "arch_extracted")
    assert (cache / "arch_extracted" / "folder" / "inner.txt").read_text() == "hello"
    with tarfile.open(cache / "evil.tar", "w") as t:
        t.add(inner, arcname="../escaped.txt")
    with pytest.raises(ValueError, match="outside"):
        utils.get_file("evil.tar", extract=True)
    assert not (cache / "escaped.txt").exists()


class Batches(utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.threads, self.epochs_ended = set(), 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.threads.add(threading.get_ident())
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_py_dataset_in_fit_matches_arrays(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = (x @ rng.normal(size=(4, 1))).astype(np.float32)

    def trained(data, **kw):
        grebe.utils.set_random_seed(1)
        m = grebe.Sequential([grebe.Input((4,)), layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        m.fit(data, epochs=3, verbose=0, **kw)
        return m.get_weights()

    ds = Batches(x, y, 8, workers=3, use_multiprocessing=True, max_queue_size=2)
    w_ds = trained(ds)
    w_arrays = trained(x, y=y, batch_size=8, shuffle=False)
    for a, b in zip(w_ds, w_arrays):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert ds.epochs_ended == 3 and len(ds.threads) >= 1
    assert [yb.tolist() for _, yb in ds] == [y[i:i + 8].tolist() for i in range(0, 50, 8)]
    assert isinstance(keras.utils.PyDataset, type) and ds.num_batches == 7
    with pytest.raises(ValueError, match="workers"):
        Batches(x, y, 8, workers=0)


def test_split_dataset():
    x, y = np.arange(10), np.arange(10) * 2
    left, right = utils.split_dataset((x, y), left_size=0.8)
    assert [int(a) for a, _ in left] == list(range(8))
    assert [(int(a), int(b)) for a, b in right] == [(8, 16), (9, 18)]
    left, right = utils.split_dataset(x, right_size=3, shuffle=True, seed=0)
    got = sorted([int(v) for v in left] + [int(v) for v in right])
    assert len(right) == 3 and got == list(range(10))
    left, right = utils.split_dataset({"a": x}, left_size=4, right_size=2)
    assert len(left) == 4 and len(right) == 2
    with pytest.raises(ValueError, match="left_size"):
        utils.split_dataset(x, left_size=1.5)
    with pytest.raises(ValueError, match="exceeds"):
        utils.split_dataset(x, left_size=6, right_size=6)


def test_image_helpers_match_keras(keras, tmp_path):
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 255, (5, 7, 3)).astype(np.float32)
    for fmt in ("png", "bmp"):
        path = tmp_path / f"i.{fmt}"
        utils.save_img(path, a, scale=False)
        keras.utils.save_img(tmp_path / f"k.{fmt}", a, scale=False)
        ours = utils.img_to_array(utils.load_img(path))
        theirs = keras.utils.img_to_array(keras.utils.load_img(tmp_path / f"k.{fmt}"))
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours, a.astype(np.uint8))
    for kw in ({"color_mode": "grayscale"}, {"target_size": (3, 4)},
               {"target_size": (4, 4), "interpolation": "bilinear", "keep_aspect_ratio": True},
               {"color_mode": "rgba"}):
        np.testing.assert_array_equal(
            utils.img_to_array(utils.load_img(tmp_path / "i.png", **kw)),
            keras.utils.img_to_array(keras.utils.load_img(tmp_path / "i.png", **kw)))
    np.testing.assert_array_equal(
        np.asarray(utils.array_to_img(a)), np.asarray(keras.utils.array_to_img(a)))
    np.testing.assert_array_equal(utils.img_to_array(utils.array_to_img(a[:, :, :1]),
                                                     data_format="channels_first"),
                                  keras.utils.img_to_array(keras.utils.array_to_img(a[:, :, :1]),
                                                           data_format="channels_first"))
    with pytest.raises(ValueError, match="rank 3"):
        utils.array_to_img(a[0])


def test_plot_model_writes_a_png_of_the_graph(tmp_path):
    import matplotlib.image

    a, b = grebe.Input((8,), name="a"), grebe.Input((8,), name="b")
    x = layers.Concatenate()([layers.Dense(4)(a), layers.Dense(4)(b)])
    model = grebe.Model([a, b], layers.Dense(1)(x))
    tall, wide = tmp_path / "tb.png", tmp_path / "lr.png"
    utils.plot_model(model, tall, show_shapes=True, show_layer_names=True, dpi=50)
    utils.plot_model(model, wide, rankdir="LR", dpi=50)
    img_tb, img_lr = matplotlib.image.imread(tall), matplotlib.image.imread(wide)
    assert img_tb.shape[0] > img_lr.shape[0] and img_lr.shape[1] > img_tb.shape[1]
    assert img_tb[..., :3].std() > 0.05  # boxes and text were drawn, not a blank page
    boxes, edges = utils.model_visualization._graph(model)
    assert [type(bx["layer"]).__name__ for bx in boxes] == \
        ["InputLayer", "InputLayer", "Dense", "Dense", "Concatenate", "Dense"]
    assert sorted(edges) == [(0, 2), (1, 3), (2, 4), (3, 4), (4, 5)]
    seq = grebe.Sequential([grebe.Input((3,)), layers.Dense(2), layers.Dense(1)])
    utils.plot_model(seq, tmp_path / "s.png", show_shapes=True, dpi=50)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="rankdir"):
        utils.plot_model(seq, tmp_path / "x.png", rankdir="BT")
