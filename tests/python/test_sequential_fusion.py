"""Sequential runs relu Conv2D + MaxPooling2D as one fused kernel: same values and gradients as
running the two layers one after the other."""
import numpy as np

import grebe
from grebe import layers


def test_fused_conv_pool_in_sequential_matches_layer_by_layer():
    grebe.utils.set_random_seed(3)
    model = grebe.Sequential([
        layers.Conv2D(8, 3, activation="relu", input_shape=(11, 11, 3)),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(4),
    ])
    conv, pool = model.layers[0], model.layers[1]
    assert conv.fuses_with(pool)
    x = np.random.default_rng(0).standard_normal((5, 11, 11, 3)).astype(np.float32)

    y_fused = model(grebe.tensor(x))
    y_fused.sum().backward()
    fused_grads = [w.grad.copy() for w in model.trainable_weights]
    for w in model.trainable_weights:
        w.grad = None

    h = grebe.tensor(x)
    for layer in model.layers:  # layer by layer: no fusion
        h = layer(h)
    h.sum().backward()
    np.testing.assert_array_equal(y_fused.numpy(), h.numpy())
    for g, w in zip(fused_grads, model.trainable_weights):
        np.testing.assert_allclose(g, w.grad, rtol=1e-5, atol=1e-5)
