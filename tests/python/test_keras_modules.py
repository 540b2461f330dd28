"""Keras's module layout under grebe: every `keras.X` the keras-io guides use resolves as
`grebe.X`, and the ones grebe does not have raise an AttributeError that says what it offers."""
import importlib

import pytest

import grebe

# The keras.X modules and names the adapted keras-io programs (tests/keras_io) use.
USED_BY_THE_GUIDES = ["layers", "models", "losses", "metrics", "optimizers", "callbacks",
                      "utils", "saving", "initializers", "activations", "regularizers",
                      "random", "ops", "Input", "Model", "Sequential", "Variable",
                      "KerasTensor"]


@pytest.mark.parametrize("name", USED_BY_THE_GUIDES)
def test_keras_paths_used_by_the_guides_resolve(name):
    assert getattr(grebe, name) is not None


@pytest.mark.parametrize("name", ["quantizers", "legacy", "visualization"])
def test_missing_keras_modules_say_what_grebe_offers(name):
    with pytest.raises(AttributeError, match=rf"keras\.{name}\): grebe"):
        getattr(grebe, name)


def test_schedules_and_saving_helpers_paths():
    assert importlib.import_module("grebe.optimizers.schedules").ExponentialDecay
    for fn in ("load_model", "clone_model", "model_from_json", "save_model"):
        assert callable(getattr(grebe.models, fn))
