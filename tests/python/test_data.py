"""grebe.data (DataLoader, Dataset) and the augmentation layers RandomFlip/RandomTranslation,
Rescaling."""
from __future__ import annotations

import numpy as np
import pytest

import grebe
from grebe import data, layers


def _xy(n=10):
    return np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n)


# ---- DataLoader ----------------------------------------------------------------------------------
def test_loader_batches_in_order():
    x, y = _xy()
    loader = data.DataLoader(x, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x)
    np.testing.assert_array_equal(loader[1][1], [4, 5, 6, 7])
    np.testing.assert_array_equal(loader[-1][1], [8, 9])
    with pytest.raises(IndexError):
        loader[3]


def test_loader_drop_last_and_x_only():
    x, _ = _xy()
    loader = data.DataLoader(x, batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert all(isinstance(b, np.ndarray) and b.shape == (4, 3) for b in loader)


def test_loader_shuffle_is_a_permutation_each_epoch_and_seeded():
    x, y = _xy(50)
    loader = data.DataLoader(x, y, batch_size=8, shuffle=True, seed=0)
    e1 = np.concatenate([yb for _, yb in loader])
    e2 = np.concatenate([yb for _, yb in loader])
    assert sorted(e1.tolist()) == list(range(50)) and sorted(e2.tolist()) == list(range(50))
    assert not np.array_equal(e1, e2)  # a new order every epoch
    for xb, yb in loader:
        np.testing.assert_array_equal(xb[:, 0] / 3, yb)  # pairs stay together
    again = data.DataLoader(x, y, batch_size=8, shuffle=True, seed=0)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), e1)


def test_loader_shuffle_follows_global_seed():
    x, y = _xy(30)
    grebe.utils.set_random_seed(7)
    a = np.concatenate([yb for _, yb in data.DataLoader(x, y, batch_size=8, shuffle=True)])
    grebe.utils.set_random_seed(7)
    b = np.concatenate([yb for _, yb in data.DataLoader(x, y, batch_size=8, shuffle=True)])
    np.testing.assert_array_equal(a, b)


def test_loader_pydataset_protocol():
    x, y = _xy(12)
    loader = data.DataLoader(x, y, batch_size=5, shuffle=True, seed=1)
    first = [loader[i][1] for i in range(len(loader))]
    assert [loader[i][1].tolist() for i in range(len(loader))] == [f.tolist() for f in first]
    loader.on_epoch_end()
    assert sorted(np.concatenate([loader[i][1] for i in range(3)]).tolist()) == list(range(12))


def test_loader_tuple_and_dict_inputs():
    x, y = _xy(6)
    loader = data.DataLoader((x, x * 2), {"out": y}, batch_size=4)
    (a, b), yd = loader[0]
    np.testing.assert_array_equal(b, a * 2)
    np.testing.assert_array_equal(yd["out"], [0, 1, 2, 3])


def test_loader_augment_callable_and_layer():
    x, y = _xy(6)
    loader = data.DataLoader(x, y, batch_size=3, augment=lambda b: b + 100)
    assert float(loader[0][0].min()) >= 100
    imgs = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
    loader = data.DataLoader(imgs, batch_size=2, augment=layers.RandomFlip("vertical", seed=0))
    out = loader[0]
    assert isinstance(out, np.ndarray) and out.shape == imgs.shape
    for o, i in zip(out, imgs):
        assert np.array_equal(o, i) or np.array_equal(o, i[::-1])


def test_loader_errors():
    x, y = _xy()
    with pytest.raises(ValueError, match="same first dimension"):
        data.DataLoader(x, y[:5])
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(x, y, batch_size=0)
    with pytest.raises(TypeError, match="augment"):
        data.DataLoader(x, y, augment=3)


# ---- Dataset -------------------------------------------------------------------------------------
def test_dataset_slices_batch_map():
    x, y = _xy(5)
    ds = data.Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a * 2, b)).batch(2)
    out = list(ds)
    assert len(ds) == 3 and len(out) == 3
    np.testing.assert_array_equal(out[0][0], x[:2] * 2)
    np.testing.assert_array_equal(out[2][1], [4])
    assert len(data.Dataset.from_tensor_slices(x).batch(2, drop_remainder=True)) == 2
    ds = data.Dataset.from_tensor_slices({"a": x, "b": y}).batch(5)
    assert list(ds)[0]["a"].shape == (5, 3)


def test_dataset_shuffle_buffer():
    y = np.arange(100)
    ds = data.Dataset.from_tensor_slices(y).shuffle(100, seed=0)
    a, b = list(ds), list(ds)
    assert sorted(int(v) for v in a) == list(range(100))
    assert a != b  # reshuffles each iteration
    fixed = data.Dataset.from_tensor_slices(y).shuffle(100, seed=0,
                                                       reshuffle_each_iteration=False)
    assert list(fixed) == list(fixed)
    # a small buffer can only move an element a bounded distance forward
    small = [int(v) for v in data.Dataset.from_tensor_slices(y).shuffle(4, seed=1)]
    assert sorted(small) == list(range(100))
    assert all(v <= i + 3 for i, v in enumerate(small))


def test_dataset_take_repeat_prefetch():
    ds = data.Dataset.from_tensor_slices(np.arange(3)).repeat(2).take(5).prefetch(2)
    assert [int(v) for v in ds] == [0, 1, 2, 0, 1]
    assert len(ds) == 5
    inf = data.Dataset.from_tensor_slices(np.arange(3)).repeat()
    assert inf.cardinality() == -1
    with pytest.raises(TypeError):
        len(inf)


# ---- augmentation layers -------------------------------------------------------------------------
def _imgs(n=8, h=5, w=6, c=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)


def test_random_flip_only_in_training():
    x = _imgs()
    flip = layers.RandomFlip("horizontal", seed=0)
    np.testing.assert_array_equal(flip(x).numpy(), x)
    np.testing.assert_array_equal(flip(x, training=False).numpy(), x)
    out = flip(x, training=True).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_random_flip_modes_and_single_image():
    x = _imgs(n=64)
    out = layers.RandomFlip("vertical", seed=1)(x, training=True).numpy()
    assert all(np.array_equal(o, i) or np.array_equal(o, i[::-1]) for o, i in zip(out, x))
    both = layers.RandomFlip(seed=2)(x, training=True).numpy()
    kinds = set()
    for o, i in zip(both, x):
        for k, v in (("n", i), ("h", i[:, ::-1]), ("v", i[::-1]), ("hv", i[::-1, ::-1])):
            if np.array_equal(o, v):
                kinds.add(k)
    assert kinds == {"n", "h", "v", "hv"}
    single = layers.RandomFlip("horizontal", seed=0)(x[0], training=True)
    assert single.shape == x[0].shape
    with pytest.raises(ValueError, match="mode"):
        layers.RandomFlip("diagonal")


def _shift_ref(img, dy, dx, mode, fill=0.0):
    """Integer shift reference: out[i, j] = in[i - dy, j - dx] with Keras's fill modes."""
    h, w = img.shape[:2]
    out = np.empty_like(img)
    for i in range(h):
        for j in range(w):
            r, c = i - dy, j - dx
            if mode == "constant" and not (0 <= r < h and 0 <= c < w):
                out[i, j] = fill
                continue
            if mode == "reflect":
                r = r % (2 * h)
                r = 2 * h - 1 - r if r >= h else r
                c = c % (2 * w)
                c = 2 * w - 1 - c if c >= w else c
            elif mode == "wrap":
                r, c = r % h, c % w
            else:
                r, c = min(max(r, 0), h - 1), min(max(c, 0), w - 1)
            out[i, j] = img[r, c]
    return out


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", "nearest"])
def test_random_translation_integer_shift_matches_reference(mode):
    x = _imgs(n=1, h=5, w=6)
    # a fixed (lo == hi) factor gives an exact integer shift: 0.4 * 5 = 2 rows, -0.5 * 6 = -3
    layer = layers.RandomTranslation((0.4, 0.4), (-0.5, -0.5), fill_mode=mode, fill_value=7.0)
    out = layer(x, training=True).numpy()
    np.testing.assert_allclose(out[0], _shift_ref(x[0], 2, -3, mode, 7.0), rtol=1e-6)


def test_random_translation_bilinear_half_pixel():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 6, 1)
    layer = layers.RandomTranslation(0.0, (1 / 12, 1 / 12), fill_mode="nearest")
    out = layer(x, training=True).numpy().ravel()
    # shift right by half a pixel: each output averages two neighbours, the first clamps
    np.testing.assert_allclose(out, [0.0, 0.5, 1.5, 2.5, 3.5, 4.5], rtol=1e-6)
    nearest = layers.RandomTranslation(0.0, (1 / 3, 1 / 3), fill_mode="constant",
                                       interpolation="nearest")
    np.testing.assert_allclose(nearest(x, training=True).numpy().ravel(), [0, 0, 0, 1, 2, 3])


def test_random_translation_random_and_inactive():
    x = _imgs(n=16)
    layer = layers.RandomTranslation(0.2, 0.2, seed=0)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    out = layer(x, training=True).numpy()
    assert out.shape == x.shape and out.dtype == np.float32
    assert not np.allclose(out, x)
    with pytest.raises(ValueError, match="height_factor"):
        layers.RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match="fill_mode"):
        layers.RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="expected images"):
        layer(np.zeros((2, 3), np.float32), training=True)


def test_random_layers_follow_global_seed_and_config():
    x = _imgs()
    layer = layers.RandomTranslation(0.3, 0.3)
    grebe.utils.set_random_seed(3)
    a = layer(x, training=True).numpy()
    grebe.utils.set_random_seed(3)
    b = layer(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    cfg = layer.get_config()
    again = layers.RandomTranslation.from_config(cfg)
    assert again.get_config() == cfg
    flip = layers.RandomFlip("horizontal", seed=4)
    assert layers.RandomFlip.from_config(flip.get_config()).mode == "horizontal"


def test_rescaling_is_differentiable():
    layer = layers.Rescaling(1 / 255.0, offset=-0.5)
    x = grebe.tensor(np.full((2, 3), 255.0, np.float32), requires_grad=True)
    y = layer(x)
    np.testing.assert_allclose(y.numpy(), 0.5, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1 / 255.0, rtol=1e-6)
    u8 = layer(np.array([[0, 255]], np.uint8)).numpy()
    np.testing.assert_allclose(u8, [[-0.5, 0.5]], rtol=1e-6)
    assert layers.Rescaling.from_config(layer.get_config()).get_config()["offset"] == -0.5
