"""grebe.activations: Keras names and arguments, get/serialize, relu's options vs Keras's rule."""
import numpy as np
import pytest
import torch

import grebe
from grebe import activations
from helpers import check_op

NAMES = ["relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "gelu",
         "silu", "swish", "softplus", "softsign", "hard_silu", "hard_swish", "mish",
         "log_sigmoid", "exponential", "linear", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", NAMES)
def test_get_serialize_round_trip_and_runs_on_tensors(name):
    fn = activations.get(name)
    assert callable(fn)
    assert activations.get(activations.serialize(fn)) is fn
    x = grebe.tensor(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    y = fn(x)
    assert y.shape == (3, 4) and np.isfinite(y.numpy()).all()
    if name != "linear":
        y.sum().backward()
        assert x.grad is not None


def test_get_accepts_none_callables_and_dicts():
    assert activations.get(None) is activations.linear
    f = lambda x: x * 2  # noqa: E731
    assert activations.get(f) is f
    assert activations.get({"class_name": "function", "config": "tanh"}) is activations.tanh
    assert activations.get("ReLU".lower()) is activations.relu
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: "
                                         "'relux'"):
        activations.get("relux")
    # A custom function serializes as Keras's function dict and resolves through a scope.
    cfg = activations.serialize(f)
    assert cfg["class_name"] == "function" and cfg["config"] == "<lambda>"
    with pytest.raises(ValueError, match="custom_objects="):
        activations.get(cfg)
    from grebe import registry

    with registry.custom_object_scope({"<lambda>": f}):
        assert activations.get(cfg) is f
    with pytest.raises(ValueError, match="neither a built-in"):
        activations.serialize(3)


def test_keras_defaults():
    x = grebe.tensor([-1.0, 2.0])
    np.testing.assert_allclose(activations.leaky_relu(x).numpy(), [-0.2, 2.0])
    np.testing.assert_allclose(activations.elu(x).numpy(), [np.expm1(-1.0), 2.0], rtol=1e-6)
    exact = activations.gelu(x).numpy()
    approx = activations.gelu(x, approximate=True).numpy()
    np.testing.assert_allclose(exact, torch.nn.functional.gelu(torch.tensor([-1.0, 2.0])).numpy(),
                               rtol=1e-6)
    assert not np.allclose(exact, approx, rtol=1e-7, atol=0)
    np.testing.assert_allclose(activations.softmax(grebe.tensor([[1.0, 1.0]]), axis=-1).numpy(),
                               [[0.5, 0.5]])


def _keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's activations.relu, written out in numpy."""
    neg = np.maximum(threshold - x, 0) if threshold else np.maximum(-x, 0)
    if threshold:
        y = x * (x > threshold)
    else:
        y = np.maximum(x, 0)
    if max_value is not None:
        y = np.clip(y, 0, max_value)
    if negative_slope:
        y = y - negative_slope * neg
    return y


@pytest.mark.parametrize("kw", [{}, {"negative_slope": 0.1}, {"max_value": 2.0},
                                {"threshold": 0.5}, {"max_value": 6.0},
                                {"negative_slope": 0.1, "max_value": 2.5, "threshold": 0.3}])
def test_relu_options_follow_keras(kw):
    check_op(lambda x: activations.relu(x, **kw), lambda x: _keras_relu(x, **kw), [(5, 7)],
             low=-3, high=3)
