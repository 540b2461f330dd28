"""The dtype-policy API against real Keras 3 (torch backend): names, compute and variable dtypes,
the global policy, layer `dtype=` arguments, configs, and model files that keep the policy
(grebe's own, .keras written by grebe and read by Keras, .keras written by Keras and read by
grebe)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import grebe  # noqa: E402
from grebe import layers  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_after():
    yield
    grebe.mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16"])
def test_policy_matches_keras(name):
    ours, theirs = grebe.mixed_precision.DTypePolicy(name), keras.mixed_precision.DTypePolicy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == \
        (theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    assert repr(ours) == repr(theirs)
    assert ours.get_config() == theirs.get_config()
    assert grebe.dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert grebe.dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
    assert ours == grebe.DTypePolicy(name) and ours != grebe.DTypePolicy(
        "float32" if name != "float32" else "mixed_bfloat16")


def test_keras_names_resolve_to_the_same_objects():
    mp = grebe.mixed_precision
    assert mp.Policy is mp.DTypePolicy is grebe.DTypePolicy is grebe.dtype_policies.DTypePolicy
    assert mp.global_policy is mp.dtype_policy and mp.set_global_policy is mp.set_dtype_policy
    assert mp.LossScaleOptimizer is grebe.optimizers.LossScaleOptimizer
    for name in ("DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
                 "set_global_policy", "LossScaleOptimizer"):
        assert hasattr(keras.mixed_precision, name) and hasattr(mp, name), name


def test_global_policy_as_keras():
    mp = grebe.mixed_precision
    assert mp.global_policy().name == keras.mixed_precision.global_policy().name == "float32"
    for setter, ns in ((mp.set_global_policy, grebe), (keras.mixed_precision.set_global_policy,
                                                        keras)):
        setter("mixed_bfloat16")
        dense = ns.layers.Dense(3)
        pinned = ns.layers.Dense(3, dtype="float32")
        assert (dense.dtype_policy.name, dense.compute_dtype, dense.variable_dtype, dense.dtype) \
            == ("mixed_bfloat16", "bfloat16", "float32", "float32")
        assert pinned.compute_dtype == "float32"
        setter(ns.mixed_precision.DTypePolicy("float32"))
        assert ns.layers.Dense(3).compute_dtype == "float32"
        assert dense.compute_dtype == "bfloat16"  # the policy is taken at construction
    assert mp.DTypePolicy().name == "float32"  # None: the global policy's name
    mp.set_global_policy("mixed_bfloat16")
    assert mp.DTypePolicy().name == "mixed_bfloat16"


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", {"module": "keras",
                                   "class_name": "DTypePolicy",
                                   "config": {"name": "mixed_bfloat16"}, "registered_name": None}])
def test_layer_dtype_argument_and_config_as_keras(dtype):
    ours = layers.Conv2D(4, 3, dtype=dtype)
    theirs = keras.layers.Conv2D(4, 3, dtype=dtype)
    assert ours.dtype_policy == grebe.DTypePolicy("mixed_bfloat16")
    assert ours.get_config()["dtype"] == theirs.get_config()["dtype"]
    assert layers.Conv2D.from_config(ours.get_config()).compute_dtype == "bfloat16"
    policy = grebe.DTypePolicy("mixed_bfloat16")
    assert layers.LSTM(2, dtype=policy).dtype_policy is policy


def test_dtype_policy_setter():
    layer = layers.Dense(2)
    layer.dtype_policy = "mixed_bfloat16"
    assert layer.compute_dtype == "bfloat16"
    with pytest.raises(ValueError, match="dense.*mixed_float16.*float16"):
        layer.dtype_policy = "mixed_float16"


@pytest.mark.parametrize("bad,err,match", [
    ("mixed_float16", ValueError, "no float16 kernels"),
    ("float16", ValueError, "no float16 kernels"),
    ("bfloat16", ValueError, "variables in float32"),
    ("float64", ValueError, "computes in float32"),
    ("int8_from_float32", ValueError, "cannot use"),
    (3, ValueError, "Cannot interpret"),
])
def test_unsupported_policies_say_what_to_use(bad, err, match):
    with pytest.raises(err, match=match):
        layers.Dense(2, dtype=bad)
    if isinstance(bad, str):
        with pytest.raises(err, match=match):
            grebe.mixed_precision.set_global_policy(bad)
    assert grebe.mixed_precision.global_policy().name == "float32"  # unchanged


def test_set_global_policy_refuses_other_types():
    with pytest.raises(ValueError, match="set_dtype_policy.*DTypePolicy"):
        grebe.mixed_precision.set_global_policy(3)
    with pytest.raises(TypeError, match="must be a string"):
        grebe.DTypePolicy(3)


def _model(ns):
    return ns.Sequential([
        ns.Input((6, 6, 2)),
        ns.layers.Conv2D(3, 3, activation="relu"),
        ns.layers.MaxPooling2D(2),
        ns.layers.Flatten(),
        ns.layers.Dense(4, activation="relu"),
        ns.layers.Dense(3, activation="softmax", dtype="float32")])


def _policies(model):
    return [layer.dtype_policy.name for layer in model.layers]


@pytest.mark.parametrize("ext", ["grebe", "keras"])
def test_save_and_load_keep_the_policy(tmp_path, ext):
    grebe.mixed_precision.set_global_policy("mixed_bfloat16")
    model = _model(grebe)
    grebe.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(0).random((5, 6, 6, 2), np.float32)
    want = model.predict(x, verbose=0)
    path = tmp_path / f"m.{ext}"
    model.save(path)
    loaded = grebe.load_model(path)
    assert _policies(loaded) == _policies(model) == ["mixed_bfloat16"] * 4 + ["float32"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), want)
    if ext == "keras":  # Keras reads the policies grebe wrote
        theirs = keras.saving.load_model(path)
        assert _policies(theirs) == _policies(model)


def test_keras_file_with_mixed_bfloat16_layers_loads(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    theirs = _model(keras)
    keras.mixed_precision.set_global_policy("float32")
    path = tmp_path / "k.keras"
    theirs.save(path)
    ours = grebe.load_model(path)
    assert _policies(ours) == _policies(theirs) == ["mixed_bfloat16"] * 4 + ["float32"]
    assert all(w.dtype == np.float32 for w in ours.get_weights())
    x = np.random.default_rng(1).random((5, 6, 6, 2), np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0), np.float32),
                               rtol=2e-2, atol=2e-2)


def test_readme_mixed_precision_block_runs():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                 if "set_global_policy(\"mixed_bfloat16\")" in b)
    scope = {}
    exec(compile(block, "README mixed precision", "exec"), scope)
    model = scope["model"]
    assert [layer.compute_dtype for layer in model.layers] == ["bfloat16"] * 3 + ["float32"]
    assert grebe.mixed_precision.global_policy().name == "float32"
    x = np.random.default_rng(0).random((4, 32, 32, 3), np.float32)
    model.fit(x, np.arange(4), epochs=1, verbose=0)
