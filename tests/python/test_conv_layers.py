"""layers.Conv1D / layers.Conv2D: run_layer_test, Keras weight shapes and config, build-time
errors, agreement with ops and with torch.nn.Conv2d given the same weights, and training."""
import numpy as np
import pytest

import grebe
from grebe import layers, ops
from helpers import run_layer_test, torch_or_none

torch = torch_or_none()


@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(filters=4, kernel_size=3), (2, 8, 9, 3), (2, 6, 7, 4)),
    (dict(filters=4, kernel_size=(3, 2), padding="same", activation="relu"), (2, 7, 6, 3),
     (2, 7, 6, 4)),
    (dict(filters=5, kernel_size=3, strides=2, padding="same", use_bias=False), (1, 9, 8, 2),
     (1, 5, 4, 5)),
    (dict(filters=3, kernel_size=2, dilation_rate=2), (2, 7, 7, 2), (2, 5, 5, 3)),
    (dict(filters=6, kernel_size=1, groups=2), (2, 4, 4, 4), (2, 4, 4, 6)),
    (dict(filters=4, kernel_size=3, kernel_initializer="he_normal", bias_initializer="ones",
          kernel_regularizer="l2"), (2, 5, 5, 3), (2, 3, 3, 4)),
])
def test_conv2d_layer(kwargs, input_shape, output_shape):
    k = kwargs["kernel_size"]
    k = (k, k) if isinstance(k, int) else k
    groups = kwargs.get("groups", 1)
    shapes = [k + (input_shape[-1] // groups, kwargs["filters"])]
    if kwargs.get("use_bias", True):
        shapes.append((kwargs["filters"],))
    run_layer_test(layers.Conv2D, kwargs, input_shape, output_shape,
                   expected_weight_shapes=shapes, expected_num_trainable_weights=len(shapes),
                   expected_num_non_trainable_weights=0)


@pytest.mark.parametrize("kwargs,input_shape,output_shape", [
    (dict(filters=4, kernel_size=3), (2, 10, 3), (2, 8, 4)),
    (dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, activation="relu"),
     (2, 10, 3), (2, 10, 4)),
    (dict(filters=2, kernel_size=4, strides=3, padding="same"), (1, 10, 5), (1, 4, 2)),
])
def test_conv1d_layer(kwargs, input_shape, output_shape):
    run_layer_test(layers.Conv1D, kwargs, input_shape, output_shape,
                   expected_weight_shapes=[(kwargs["kernel_size"], input_shape[-1],
                                            kwargs["filters"]), (kwargs["filters"],)])


def test_layer_equals_op_and_keras_config():
    layer = layers.Conv2D(8, (3, 3), activation="relu", input_shape=(10, 10, 3), name="c1")
    x = np.random.default_rng(0).standard_normal((2, 10, 10, 3)).astype(np.float32)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 3, 8) and bias.shape == (8,)
    np.testing.assert_array_equal(y.numpy(), ops.conv2d(x, kernel, bias,
                                                        activation="relu").numpy())
    cfg = layer.get_config()
    for key, value in dict(name="c1", filters=8, kernel_size=(3, 3), strides=(1, 1),
                           padding="valid", data_format="channels_last", dilation_rate=(1, 1),
                           groups=1, activation="relu", use_bias=True,
                           input_shape=[10, 10, 3]).items():
        assert cfg[key] == value, key
    assert cfg["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert layer.compute_output_shape((None, 10, 10, 3)) == (None, 8, 8, 8)
    assert layer.count_params() == 3 * 3 * 3 * 8 + 8


def test_build_time_errors():
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layers.Conv2D(4, 3)(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"larger than the input \(2, 5\)"):
        layers.Conv2D(4, 3)(np.zeros((1, 2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"larger than the input"):
        layers.Conv2D(4, 3).build((None, 8, 2, 3))
    with pytest.raises(ValueError, match=r"channel dimension of the inputs should be defined"):
        layers.Conv2D(4, 3).build((None, 8, 8, None))
    with pytest.raises(ValueError, match=r"evenly divisible by the number of groups"):
        layers.Conv2D(4, 3, groups=2).build((None, 8, 8, 3))
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=4"):
        layers.Conv1D(4, 3)(np.zeros((1, 8, 8, 3), np.float32))
    # 'same' padding fits any input.
    assert layers.Conv2D(4, 5, padding="same")(np.zeros((1, 2, 2, 3))).shape == (1, 2, 2, 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(filters=4, kernel_size=0), r"kernel_size.*positive"),
    (dict(filters=4, kernel_size=(3, -1)), r"kernel_size.*positive"),
    (dict(filters=4, kernel_size=(3, 3, 3)),
     r"`kernel_size` expected a tuple of 2 positive integers. Received: kernel_size=\(3, 3, 3\)"),
    (dict(filters=0, kernel_size=3), r"filters.*strictly positive"),
    (dict(filters=4, kernel_size=3, strides=0), r"strides.*positive"),
    (dict(filters=4, kernel_size=3, padding="full"), r"padding.*'valid', 'same'"),
    (dict(filters=4, kernel_size=3, padding="causal"), r"padding.*'valid', 'same'"),
    (dict(filters=4, kernel_size=3, data_format="channels_first"), r"channels_last"),
    (dict(filters=4, kernel_size=3, data_format="nhwc"), r"data_format"),
    (dict(filters=4, kernel_size=3, groups=3), r"divisible by the number of groups"),
    (dict(filters=4, kernel_size=3, strides=2, dilation_rate=2), r"strides > 1"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Conv2D(**kwargs)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_same_weights_as_torch_module():
    layer = layers.Conv2D(6, 3, padding="same", activation="relu")
    x = np.random.default_rng(1).standard_normal((2, 7, 7, 4)).astype(np.float32)
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    tconv = torch.nn.Conv2d(4, 6, 3, padding=1)
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(kernel).permute(3, 2, 0, 1))
        tconv.bias.copy_(torch.tensor(bias))
        yt = torch.relu(tconv(torch.tensor(x).permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-4, atol=1e-5)


def test_training_reduces_a_loss():
    # Learn a fixed random 3x3 filter bank by plain gradient descent on a squared error.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8, 8, 2)).astype(np.float32)
    target = ops.conv2d(x, rng.standard_normal((3, 3, 2, 3)).astype(np.float32)).numpy()
    layer = layers.Conv2D(3, 3)
    losses = []
    for _ in range(60):
        y = layer(x)
        diff = y - grebe.tensor(target)
        loss = (diff * diff).sum() * (1.0 / target.size)
        for w in layer.trainable_weights:
            w.grad = None
        loss.backward()
        for w in layer.trainable_weights:
            w.data -= 0.05 * w.grad
        losses.append(float(loss.item()))
    assert losses[-1] < 0.05 * losses[0]


def test_fused_pair_equals_the_two_layers():
    from grebe.layers import fusion

    pooling = layers.MaxPooling2D
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 12, 12, 3)).astype(np.float32)
    conv, pool = layers.Conv2D(6, 3, activation="relu"), pooling(2)
    assert fusion.can_fuse(conv, pool)
    assert not fusion.can_fuse(layers.Conv2D(6, 3), pool)  # no relu
    assert not fusion.can_fuse(conv, pooling(2, strides=1))
    assert not fusion.can_fuse(conv, pooling(2, padding="same"))
    assert not fusion.can_fuse(conv, layers.AveragePooling2D(2))
    assert not fusion.can_fuse(pool, conv)
    xs = grebe.tensor(x, requires_grad=True)
    y = pool(conv(xs))
    y.backward(np.ones(y.shape, np.float32))
    grads = [w.grad.copy() for w in conv.trainable_weights] + [xs.grad.copy()]
    for w in conv.trainable_weights:
        w.grad = None
    xf = grebe.tensor(x, requires_grad=True)
    yf = fusion.run_pair(conv, pool, xf)
    assert type(yf._ctx).__name__ != type(y._ctx).__name__  # the fused op, not the pool
    np.testing.assert_array_equal(yf.numpy(), y.numpy())
    yf.backward(np.ones(y.shape, np.float32))
    for got, want in zip([w.grad for w in conv.trainable_weights] + [xf.grad], grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_activation_is_kept_like_dense():
    """Conv2D keeps the activation it was given (relu runs fused, the attribute stays)."""
    from grebe import activations

    conv = grebe.layers.Conv2D(4, 3, activation="relu")
    dense = grebe.layers.Dense(4, activation="relu")
    assert conv.activation is activations.relu and dense.activation is activations.relu
    assert grebe.layers.Conv1D(4, 3, activation="tanh").activation is activations.tanh
    assert grebe.layers.Conv2D(4, 3).activation is activations.linear


@pytest.mark.parametrize("layer_cls,shape", [(grebe.layers.Conv2D, (2, 6, 6, 3)),
                                             (grebe.layers.Conv1D, (2, 7, 3))])
def test_activity_regularizer_is_applied_like_dense(layer_cls, shape):
    """Each call's output penalty (Keras 3: l2 * sum(y^2), no batch division) joins the
    layer's and the model's losses, as Dense does."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    layer = layer_cls(4, 3, activation="relu", activity_regularizer=grebe.regularizers.L2(0.05))
    y = layer(x)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.05 * np.sum(np.square(y.data)),
                               rtol=1e-5)
    model = grebe.Sequential([grebe.Input(shape[1:]), layer, grebe.layers.Flatten(),
                              grebe.layers.Dense(1)])
    model(x)
    assert any(abs(float(l) - float(layer.losses[0])) < 1e-6 for l in model.losses)


def test_dense_activity_penalty_reaches_the_model_losses():
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    dense = grebe.layers.Dense(4, activity_regularizer=grebe.regularizers.L1(0.1))
    model = grebe.Sequential([grebe.Input((5,)), dense])
    y = model(x)
    np.testing.assert_allclose([float(v) for v in model.losses], [0.1 * np.abs(y.data).sum()],
                               rtol=1e-5)
