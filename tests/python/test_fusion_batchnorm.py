"""Conv2D + BatchNormalization (+ ReLU) folded at inference (grebe.layers.fusion.can_fold):
the folded conv gives the layer-by-layer values, follows weight and moving-statistic changes,
and never runs where the conv output is needed elsewhere, in training or under autograd."""
import numpy as np

import grebe
from grebe import autograd, layers
from grebe.layers import fusion


def _block(inp, f, stride, shortcut):
    """A ResNet basic block: conv-bn-relu, conv-bn, shortcut (conv-bn when strided), add, relu."""
    c1 = layers.Conv2D(f, 3, strides=stride, padding="same", use_bias=False)
    b1, a1 = layers.BatchNormalization(), layers.Activation("relu")
    c2, b2 = layers.Conv2D(f, 3, padding="same"), layers.BatchNormalization(center=False)
    y = b2(c2(a1(b1(c1(inp)))))
    s = inp
    if shortcut:
        cs, bs = layers.Conv2D(f, 1, strides=stride), layers.BatchNormalization(scale=False)
        s = bs(cs(inp))
    out = layers.ReLU()(layers.Add()([y, s]))
    runs = [(c1, b1, a1), (c2, b2)] + ([(cs, bs)] if shortcut else [])
    return out, runs


def _resnet_block_model():
    grebe.utils.set_random_seed(7)
    inp = grebe.Input((8, 8, 3))
    t, runs = _block(inp, 6, 2, True)
    t, more = _block(t, 6, 1, False)
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(t))
    model = grebe.Model(inp, out)
    model.compile(optimizer=grebe.optimizers.SGD(0.05, momentum=0.9),
                  loss="categorical_crossentropy")
    return model, runs + more


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 8, 8, 3)) * 2 + 1).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y


def _unfused_predict(model, x):
    with fusion.blocked(*model.layers):
        return model.predict_on_batch(x)


def _count_folds(monkeypatch):
    calls = []
    fold = fusion.folded_weights
    monkeypatch.setattr(fusion, "folded_weights", lambda c, n: calls.append(1) or fold(c, n))
    return calls


def test_functional_resnet_block_folds_and_matches_layer_by_layer(monkeypatch):
    model, runs = _resnet_block_model()
    assert model.fusion_plan() == [tuple(la.name for la in r) for r in runs]
    lines = []
    model.summary(print_fn=lines.append)
    assert any(" + ".join(la.name for la in runs[0]) in line for line in lines)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)  # moving statistics away from 0/1
    calls = _count_folds(monkeypatch)
    got = model.predict_on_batch(x)
    assert len(calls) == len(runs)
    want = _unfused_predict(model, x)
    assert len(calls) == len(runs)  # blocked: no fold ran
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_fold_follows_weight_and_statistic_changes():
    model, runs = _resnet_block_model()
    x, y = _data()
    before = model.predict_on_batch(x)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # kernels, gamma/beta, moving stats move
    after = model.predict_on_batch(x)
    assert np.abs(after - before).max() > 1e-4
    np.testing.assert_allclose(after, _unfused_predict(model, x), rtol=2e-5, atol=2e-6)
    conv, norm = runs[0][0], runs[0][1]
    kernel = conv.get_weights()[0]
    conv.set_weights([kernel * 1.5])
    norm.moving_variance.assign(norm.moving_variance.numpy() * 3.0)
    changed = model.predict_on_batch(x)
    assert np.abs(changed - after).max() > 1e-4
    np.testing.assert_allclose(changed, _unfused_predict(model, x), rtol=2e-5, atol=2e-6)


def test_sequential_fold_values_and_gradients():
    grebe.utils.set_random_seed(2)
    model = grebe.Sequential([
        layers.Conv2D(5, 3, strides=2, padding="same", input_shape=(9, 9, 4)),
        layers.BatchNormalization(momentum=0.5),
        layers.ReLU(),
        layers.Conv2D(4, 3, groups=1, use_bias=False),
        layers.BatchNormalization(epsilon=0.1),
        layers.Flatten(),
        layers.Dense(2),
    ])
    c1, b1, r1, c2, b2 = model.layers[:5]
    assert model.fusion_plan() == [(c1.name, b1.name, r1.name), (c2.name, b2.name)]
    x = np.random.default_rng(3).standard_normal((6, 9, 9, 4)).astype(np.float32)
    for _ in range(3):  # moving statistics move in training calls (no fold there)
        model(grebe.tensor(x), training=True)
    got = model.predict_on_batch(x)
    ref = grebe.tensor(x)
    for layer in model.layers:
        ref = layer(ref, training=False)
    np.testing.assert_allclose(got, ref.numpy(), rtol=2e-5, atol=2e-6)
    # Under autograd (training=False, gradients recorded) the layers run one by one: the
    # gradients of kernel, gamma and beta are the layer-by-layer ones.
    for train in (False, True):
        out = model(grebe.tensor(x), training=train)
        out.sum().backward()
        grads = [w.grad.copy() for w in model.trainable_weights]
        for w in model.trainable_weights:
            w.grad = None
        with fusion.blocked(*model.layers):
            ref = model(grebe.tensor(x), training=train)
        ref.sum().backward()
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
        for g, w in zip(grads, model.trainable_weights):
            np.testing.assert_allclose(g, w.grad, rtol=1e-5, atol=1e-5)
            w.grad = None


def test_no_fold_where_the_conv_output_is_needed_or_the_layers_do_not_fit():
    inp = grebe.Input((6, 6, 2))
    conv, norm = layers.Conv2D(3, 3), layers.BatchNormalization()
    c = conv(inp)
    n = norm(c)
    both = layers.Add()([n, c])  # the conv output is consumed twice
    assert grebe.Model(inp, both).fusion_plan() == []
    assert grebe.Model(inp, [n, c]).fusion_plan() == []  # the conv output is a model output
    assert grebe.Model(inp, n).fusion_plan() == [(conv.name, norm.name)]
    relu_conv = layers.Conv2D(3, 3, activation="relu")
    channels_first = layers.BatchNormalization(axis=1)
    leaky = layers.ReLU(negative_slope=0.1)
    out1 = layers.BatchNormalization()(relu_conv(inp))
    out2 = channels_first(layers.Conv2D(3, 3)(inp))
    c3, n3 = layers.Conv2D(3, 3), layers.BatchNormalization()
    out3 = leaky(n3(c3(inp)))  # the ReLU is not max(x, 0): conv + bn fold, the ReLU runs alone
    assert grebe.Model(inp, [out1, out2, out3]).fusion_plan() == [(c3.name, n3.name)]


def test_blocked_or_trainable_false_runs_the_layers(monkeypatch):
    model, runs = _resnet_block_model()
    x, _ = _data()
    calls = _count_folds(monkeypatch)
    with fusion.blocked(runs[0][1]):  # the batch norm of the first run is blocked
        got = model.predict_on_batch(x)
    assert len(calls) == len(runs) - 1
    np.testing.assert_allclose(got, _unfused_predict(model, x), rtol=2e-5, atol=2e-6)
    runs[1][1].trainable = False  # a frozen batch norm uses its moving statistics: it folds
    del calls[:]
    with autograd.no_grad():
        got = model(x, training=True).numpy()
    assert len(calls) == 1  # the others normalize with batch statistics: no fold
    with fusion.blocked(*model.layers), autograd.no_grad():
        np.testing.assert_allclose(got, model(x, training=True).numpy(), rtol=2e-5, atol=2e-6)


def test_fold_keeps_nan_positions():
    model, runs = _resnet_block_model()
    x, _ = _data()
    x[3, 2, 2, 1] = np.nan
    x[5, 0, 0, 0] = np.inf
    got = model.predict_on_batch(x)
    want = _unfused_predict(model, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[3]).all()


def test_training_runs_batch_norm_relu_fused_with_the_layer_by_layer_gradients(monkeypatch):
    from grebe import ops

    calls = []
    bn = ops.batch_norm
    monkeypatch.setattr(ops, "batch_norm",
                        lambda *a, **k: calls.append(k.get("relu")) or bn(*a, **k))
    model, runs = _resnet_block_model()
    twin, _ = _resnet_block_model()  # the same weights (same seed), run layer by layer
    x, y = _data()
    out = model(grebe.tensor(x), training=True)
    assert calls.count(True) == 2  # the two conv + bn + relu runs
    out.sum().backward()
    with fusion.blocked(*twin.layers):
        ref = twin(grebe.tensor(x), training=True)
    ref.sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)
    for w, v in zip(model.trainable_weights, twin.trainable_weights):
        np.testing.assert_allclose(w.grad, v.grad, rtol=1e-5, atol=1e-6, err_msg=w.name)
    for w, v in zip(model.non_trainable_weights, twin.non_trainable_weights):
        np.testing.assert_array_equal(w.numpy(), v.numpy())  # the moving statistics moved alike
    # A fit step trains the same: the same loss and weights after two batches.
    h1 = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history["loss"]
    with fusion.blocked(*twin.layers):
        h2 = twin.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-5)
    for w, v in zip(model.weights, twin.weights):
        np.testing.assert_allclose(w.numpy(), v.numpy(), rtol=1e-4, atol=1e-5, err_msg=w.name)


def test_batch_norm_relu_op_matches_batch_norm_then_relu():
    from grebe import ops

    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3, 4, 6)).astype(np.float32)
    g = rng.uniform(0.5, 1.5, 6).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    for axis in (-1, 1):
        xs = [grebe.tensor(x, requires_grad=True) for _ in range(2)]
        gs = [grebe.tensor(g, requires_grad=True) for _ in range(2)]
        bs = [grebe.tensor(b, requires_grad=True) for _ in range(2)]
        c = x.shape[axis]
        gg, bb = (gs[0], bs[0]) if c == 6 else (None, None)
        fused = ops.batch_norm(xs[0], gg, bb, axis=axis, relu=True)
        gg, bb = (gs[1], bs[1]) if c == 6 else (None, None)
        two = ops.relu(ops.batch_norm(xs[1], gg, bb, axis=axis))
        np.testing.assert_array_equal(fused.numpy(), two.numpy())
        up = rng.standard_normal(fused.shape).astype(np.float32)
        (fused * grebe.tensor(up)).sum().backward()
        (two * grebe.tensor(up)).sum().backward()
        np.testing.assert_allclose(xs[0].grad, xs[1].grad, rtol=1e-5, atol=1e-6)
        if c == 6:
            np.testing.assert_allclose(gs[0].grad, gs[1].grad, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(bs[0].grad, bs[1].grad, rtol=1e-5, atol=1e-6)
