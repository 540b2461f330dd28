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


@pytest.mark.parametrize("module", ["resnet50", "vgg16"])
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
