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
    assert model.fusion_plan() == [(conv.name, pool.name)]
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


# ---- the same rule on functional models (grebe.layers.fusion.plan_graph) -------------------

def _layer_by_layer(model, x):
    """The reference: every node of the model's graph run as its own layer call."""
    values = {id(model.inputs[0]): grebe.tensor(x)}
    for node in model._exec_nodes:
        values[id(node.outputs[0])] = node.layer(values[id(node.call_inputs)])
    return values[id(model.outputs[0])]


def _grads(model, y):
    for w in model.trainable_weights:
        w.grad = None
    y.sum().backward()
    return [w.grad.copy() for w in model.trainable_weights]


def test_functional_model_fuses_like_sequential(monkeypatch):
    from grebe import ops
    from grebe.layers import fusion

    calls = []
    fused_op = ops.conv2d_relu_maxpool
    monkeypatch.setattr(ops, "conv2d_relu_maxpool",
                        lambda *a, **k: calls.append(1) or fused_op(*a, **k))

    grebe.utils.set_random_seed(5)
    inp = grebe.Input((12, 12, 3))
    c1 = layers.Conv2D(6, 3, activation="relu")
    h = layers.MaxPooling2D(2)(c1(inp))
    h = layers.Dense(4)(layers.Flatten()(h))
    model = grebe.Model(inp, h)
    assert model.fusion_plan() == [(c1.name, model.layers[2].name)]
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith(" Fused: " + c1.name) for line in lines)

    x = np.random.default_rng(1).standard_normal((3, 12, 12, 3)).astype(np.float32)
    y = model(grebe.tensor(x))
    assert len(calls) == 1  # the pair ran as the fused op
    fused_grads = _grads(model, y)
    ref = _layer_by_layer(model, x)
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    for g, want in zip(fused_grads, _grads(model, ref)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5)
    with fusion.blocked(c1):  # blocked: the two layers run, same values
        np.testing.assert_array_equal(model(grebe.tensor(x)).numpy(), ref.numpy())
    assert len(calls) == 1


def test_functional_fusion_only_when_the_conv_output_has_one_use():
    inp = grebe.Input((10, 10, 2))
    conv = layers.Conv2D(4, 3, activation="relu")
    c = conv(inp)
    p = layers.MaxPooling2D(2)(c)
    # The conv output also feeds a second branch: it must be written, no fusion.
    g = layers.GlobalMaxPooling2D()(c)
    out = layers.Concatenate()([layers.Flatten()(p), g])
    assert grebe.Model(inp, out).fusion_plan() == []
    # The conv output is a model output: no fusion either.
    assert grebe.Model(inp, [p, c]).fusion_plan() == []
    # A conv without relu or a pool that is not 'valid' with strides == pool_size: no fusion.
    q = layers.MaxPooling2D(2, padding="same")(layers.Conv2D(4, 3, activation="relu")(inp))
    r = layers.MaxPooling2D(2)(layers.Conv2D(4, 3)(inp))
    assert grebe.Model(inp, [q, r]).fusion_plan() == []
    assert grebe.Model(inp, p).fusion_plan() == [(conv.name, p._node.layer.name)]
