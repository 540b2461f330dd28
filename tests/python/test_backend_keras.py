"""grebe.backend against keras.backend (torch backend): names, dtype helpers, configuration."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import grebe

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

B = grebe.backend
DATA = Path(__file__).parent / "data"


def test_keras_backend_coverage():
    want = [ln.strip() for ln in (DATA / "keras_backend_names.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    missing = [n for n in want if not hasattr(B, n)]
    print(f"keras.backend: {len(want) - len(missing)}/{len(want)}; missing: {missing}")
    assert not missing


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64", "bool", "uint8", np.float32,
                                   np.int32, "int", None])
def test_standardize_dtype_matches_keras(dtype):
    assert B.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    assert B.is_float_dtype(dtype or "float32") == keras.backend.is_float_dtype(
        dtype or "float32")
    assert B.is_int_dtype(dtype or "float32") == keras.backend.is_int_dtype(dtype or "float32")


@pytest.mark.parametrize("dtypes", [("int32", "float32"), ("int16", "int32"), ("bool", "int32"),
                                    ("uint8", "int32"), ("bool",), ("float32",)])
def test_result_type_matches_keras(dtypes):
    assert B.result_type(*dtypes) == keras.backend.result_type(*dtypes)


def test_configuration():
    assert B.floatx() == keras.backend.floatx() == "float32"
    assert B.image_data_format() == keras.backend.image_data_format()
    assert B.epsilon() == keras.backend.epsilon()
    B.set_epsilon(1e-5)
    try:
        assert B.epsilon() == 1e-5
        y = grebe.ops.binary_crossentropy(np.ones(1, np.float32), np.zeros(1, np.float32))
        np.testing.assert_allclose(y.numpy(), -np.log(np.float32(1e-5)), rtol=1e-5)
    finally:
        B.set_epsilon(1e-7)
    with pytest.raises(ValueError, match="float32 only"):
        B.set_floatx("float16")
    with pytest.raises(ValueError, match="channels_last"):
        B.set_image_data_format("channels_first")
    assert B.is_keras_tensor(grebe.Input((2,))) and not B.is_keras_tensor(np.zeros(2))
    B.clear_session()
    assert grebe.layers.Dense(2).name == "dense"
    assert B.get_uid("x") == 1 and B.get_uid("x") == 2
