"""grebe.applications against real Keras 3 (torch backend): the same layer names, weight
shapes and parameter counts for the same config, and — with Keras's weights copied in — the
same outputs on a small input; weights='imagenet' refused with a clear message; the
preprocessing functions equal Keras's."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import grebe
from grebe import applications
from grebe.applications import imagenet_utils


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


def assert_same_architecture(ours, theirs):
    assert ours.count_params() == theirs.count_params()
    assert [la.name for la in ours.layers] == [la.name for la in theirs.layers]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]


def assert_same_outputs(ours, theirs, shape, atol):
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2,) + shape).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-3, atol=atol)


CASES = [("ResNet50", {"input_shape": (32, 32, 3), "classes": 7}),
         ("ResNet50", {"include_top": False, "pooling": "max", "input_shape": (40, 48, 3)}),
         ("VGG16", {"input_shape": (32, 32, 3), "classes": 5, "classifier_activation": None}),
         ("VGG16", {"include_top": False, "pooling": "avg", "input_shape": (32, 32, 3)}),
         ("MobileNetV2", {"input_shape": (32, 32, 3), "classes": 6}),
         ("MobileNetV2", {"include_top": False, "alpha": 0.5, "pooling": "avg",
                          "input_shape": (40, 48, 3)})]


@pytest.mark.parametrize("arch,kwargs", CASES)
def test_architecture_and_outputs_match_keras(keras, arch, kwargs):
    # Automatic layer names (global_average_pooling2d_1, ...) count per session on both sides:
    # start both counts afresh, whatever other tests built before.
    grebe.backend.clear_session()
    keras.backend.clear_session()
    grebe.utils.set_random_seed(0)
    ours = getattr(applications, arch)(weights=None, **kwargs)
    theirs = getattr(keras.applications, arch)(weights=None, **kwargs)
    assert_same_architecture(ours, theirs)
    assert_same_outputs(ours, theirs, kwargs["input_shape"], atol=1e-4)


@pytest.mark.parametrize("arch,kwargs", [("ResNet50", {}), ("ResNet50", {"include_top": False}),
                                         ("VGG16", {"include_top": False}), ("MobileNetV2", {}),
                                         ("MobileNetV2", {"alpha": 1.4})])
def test_default_configs_count_params_like_keras(keras, arch, kwargs):
    """The default configs: 224x224x3 and 1000 classes, or no top and any image size (VGG16's
    top, 138 M parameters, is left out to keep the test quick)."""
    ours = getattr(applications, arch)(weights=None, **kwargs)
    theirs = getattr(keras.applications, arch)(weights=None, **kwargs)
    assert ours.count_params() == theirs.count_params()
    assert ours.output.shape == tuple(theirs.output.shape)


def test_weights_argument_and_input_tensor(tmp_path):
    with pytest.raises(ValueError, match=r"local file path.*resnet50_weights_tf_dim_ordering"
                                         r"_tf_kernels_notop\.h5"):
        applications.ResNet50(include_top=False)
    with pytest.raises(ValueError, match="no such file"):
        applications.VGG16(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="static `input_shape`"):
        applications.VGG16(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        applications.ResNet50(weights=None, input_shape=(16, 16, 3))
    small = dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")
    model = applications.VGG16(weights=None, **small)
    path = str(tmp_path / "vgg.weights.h5")
    model.save_weights(path)
    again = applications.VGG16(weights=path, **small)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    inp = grebe.Input((32, 32, 3))
    x = grebe.layers.Rescaling(1 / 255.0)(inp)
    net = applications.VGG16(weights=None, input_tensor=x, **{k: v for k, v in small.items()
                                                               if k != "input_shape"})
    assert net.inputs[0] is inp and net.output.shape == (None, 512)


@pytest.mark.parametrize("module", ["resnet50", "vgg16", "efficientnet"])
def test_preprocess_input_matches_keras(keras, module):
    rng = np.random.default_rng(1)
    for x in (rng.uniform(0, 255, (2, 4, 5, 3)).astype(np.float32),
              rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)):
        ours = getattr(applications, module).preprocess_input(x)
        theirs = getattr(keras.applications, module).preprocess_input(x.copy())
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=1e-4)
    for mode in ("tf", "torch"):
        x = rng.uniform(0, 255, (2, 3, 4, 4)).astype(np.float32)
        ours = imagenet_utils.preprocess_input(x, data_format="channels_first", mode=mode)
        from keras.src.applications import imagenet_utils as kiu
        theirs = kiu.preprocess_input(x.copy(), data_format="channels_first", mode=mode)
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=1e-5)


def test_decode_predictions_from_a_local_class_index(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    preds = np.random.default_rng(2).random((2, 1000)).astype(np.float32)
    with pytest.raises(FileNotFoundError, match=r"imagenet_class_index\.json.*kh/models"):
        applications.resnet50.decode_predictions(preds)
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index))
    out = applications.vgg16.decode_predictions(preds, top=3, class_index_path=str(path))
    for row, decoded in zip(preds, out):
        best = np.argsort(-row)[:3]
        assert [d[1] for d in decoded] == [f"class_{i}" for i in best]
        assert [d[2] for d in decoded] == [row[i] for i in best]
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        applications.resnet50.decode_predictions(preds[:, :10])


def random_weights(model, seed=0):
    """Weights of moderate scale for every variable (Keras's fresh EfficientNet squashes its
    activations to ~1e-6, so equal outputs there would prove little): He-scaled kernels,
    positive variances and gammas, small biases and means, count 0."""
    rng, out = np.random.default_rng(seed), []
    for w in model.weights:
        name, shape = w.path.split("/")[-1], tuple(w.shape)
        if name in ("moving_variance", "variance", "gamma"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name == "count":
            v = np.zeros(shape)
        elif name in ("kernel", "depthwise_kernel"):
            fan = int(np.prod(shape[:-1] if name == "kernel" else shape[:2]))
            v = rng.normal(size=shape) / np.sqrt(fan)
        else:
            v = rng.normal(size=shape) * 0.1
        out.append(v.astype(np.float32))
    return out


@pytest.mark.parametrize("arch,kwargs", [
    ("EfficientNetB0", {"input_shape": (32, 32, 3), "classes": 10,
                        "classifier_activation": None}),
    ("EfficientNetB1", {"include_top": False, "pooling": "max", "input_shape": (33, 35, 3)})])
def test_efficientnet_matches_keras(keras, arch, kwargs, tmp_path):
    grebe.backend.clear_session()
    keras.backend.clear_session()
    ours = getattr(applications, arch)(weights=None, **kwargs)
    theirs = getattr(keras.applications, arch)(weights=None, **kwargs)
    assert_same_architecture(ours, theirs)
    assert ours.name == theirs.name
    weights = random_weights(theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = np.random.default_rng(0).uniform(0, 255, (2,) + kwargs["input_shape"]).astype(np.float32)
    want = np.asarray(theirs.predict(x, verbose=0))
    assert want.std() > 0.05  # the comparison sees real activations
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    if arch == "EfficientNetB0":  # Keras's own .keras file of it loads into grebe
        theirs.save(tmp_path / "k.keras")
        np.testing.assert_allclose(grebe.load_model(tmp_path / "k.keras").predict(x, verbose=0),
                                   want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch,kwargs", [("EfficientNetB0", {}),
                                         ("EfficientNetB2", {"include_top": False})])
def test_efficientnet_default_configs_count_params_like_keras(keras, arch, kwargs):
    """B0 at 224x224 with the top; B2 scales both width (1.1, with the rounding to multiples
    of 8) and depth (1.2, rounded up per stage), the builder's whole rule."""
    ours = getattr(applications, arch)(weights=None, **kwargs)
    theirs = getattr(keras.applications, arch)(weights=None, **kwargs)
    assert ours.count_params() == theirs.count_params()
    assert len(ours.layers) == len(theirs.layers)
    assert ours.output.shape == tuple(theirs.output.shape)


def test_efficientnet_training_drops_whole_residual_branches(tmp_path):
    """Stochastic depth: each block's Dropout(noise_shape=(None, 1, 1, 1)) keeps or drops the
    residual branch of a whole sample; training runs and the gradients are finite."""
    model = applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=3)
    drops = [la for la in model.layers if la.name.endswith("_drop")]
    assert drops and all(la.noise_shape == (None, 1, 1, 1) for la in drops)
    assert [round(la.rate, 4) for la in drops[:2]] == [round(0.2 * 2 / 16, 4),
                                                       round(0.2 * 4 / 16, 4)]
    y = drops[-1](grebe.tensor(np.ones((64, 2, 2, 3), np.float32)), training=True).numpy()
    per_sample = y.reshape(64, -1)
    assert all(len(set(row.tolist())) == 1 for row in per_sample)  # one draw per sample
    assert 0 < (per_sample[:, 0] == 0).sum() < 64
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    hist = model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    with pytest.raises(ValueError, match=r"local file path.*efficientnetb0_notop\.h5"):
        applications.EfficientNetB0(include_top=False)
    x = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(applications.efficientnet.preprocess_input(x), x)
