"""grebe.explain against independent references: PyTorch autograd on a copy of the model,
plain loops, hand-computed Grad-CAM, the completeness axiom of Integrated Gradients, and the
model-parameter randomization sanity check (Adebayo et al. 2018)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import grebe
from grebe import explain, layers


def small_cnn(seed=0, input_shape=(10, 10, 2), classes=3, explicit_input=True):
    grebe.utils.set_random_seed(seed)
    body = [layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(classes, activation="softmax")]
    if explicit_input:
        return grebe.Sequential([grebe.Input(input_shape)] + body)
    m = grebe.Sequential(body)
    m.build((None,) + input_shape)
    return m


def torch_twin(model):
    """The same CNN in PyTorch (NHWC in, softmax out), sharing the grebe weights."""
    conv, dense = [la for la in model.layers if la.get_weights()]
    k, b = conv.get_weights()
    w, c = dense.get_weights()
    tk = torch.tensor(k).permute(3, 2, 0, 1)
    tb, tw, tc = torch.tensor(b), torch.tensor(w), torch.tensor(c)

    def f(x):  # x (N, H, W, C)
        y = torch.relu(torch.nn.functional.conv2d(x.permute(0, 3, 1, 2), tk, tb))
        y = torch.nn.functional.max_pool2d(y, 2).permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return torch.softmax(y @ tw + tc, dim=1), None
    return f


def torch_input_grad(f, x, target):
    xt = torch.tensor(x, requires_grad=True)
    out, _ = f(xt)
    out[torch.arange(len(x)), torch.tensor(target)].sum().backward()
    return xt.grad.numpy()


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(1).uniform(-1, 1, (5, 10, 10, 2)).astype(np.float32)


@pytest.mark.parametrize("explicit_input", [True, False])
def test_saliency_and_input_x_gradient_match_torch(batch, explicit_input):
    model = small_cnn(explicit_input=explicit_input)
    f = torch_twin(model)
    target = np.array([0, 1, 2, 1, 0])
    ref = torch_input_grad(f, batch, target)
    sal = explain.saliency(model, batch, target, abs=False, reduce_channels=None)
    np.testing.assert_allclose(sal, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explain.saliency(model, batch, target),
                               np.abs(ref).max(axis=-1, keepdims=True), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explain.input_x_gradient(model, batch, target), batch * ref,
                               rtol=1e-4, atol=1e-6)
    # The model's own weights got no gradients from explaining.
    assert all(w.grad is None for w in model.trainable_weights)


def test_default_target_is_the_predicted_class(batch):
    model = small_cnn()
    pred = model.predict(batch, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(explain.saliency(model, batch),
                                  explain.saliency(model, batch, target=pred))


def _torch_cam(a, out, target):
    """Grad-CAM by hand from a torch feature-map leaf `a` (N, K, h, w) and the model output."""
    out[torch.arange(len(target)), torch.tensor(target)].sum().backward()
    alpha = a.grad.mean(dim=(2, 3), keepdim=True)
    return torch.relu((alpha * a).sum(dim=1)).detach().numpy()


def test_grad_cam_matches_hand_computation(batch):
    model = small_cnn()
    conv, dense = model.layers[0], model.layers[3]
    k, b = (torch.tensor(v) for v in conv.get_weights())
    w, c = (torch.tensor(v) for v in dense.get_weights())
    target = np.array([2, 0, 1, 1, 2])
    x = torch.tensor(batch).permute(0, 3, 1, 2)

    def head(pooled):
        return torch.softmax(pooled.permute(0, 2, 3, 1).reshape(5, -1) @ w + c, dim=1)

    # Reference at the conv layer: feature maps and their gradients from PyTorch.
    a = torch.relu(torch.nn.functional.conv2d(x, k.permute(3, 2, 0, 1), b)).detach()
    a.requires_grad_()
    ref_conv = _torch_cam(a, head(torch.nn.functional.max_pool2d(a, 2)), target)
    # Reference at the pooling layer (what layer=None picks: the last spatial output).
    p = torch.nn.functional.max_pool2d(a.detach(), 2).requires_grad_()
    ref_pool = _torch_cam(p, head(p), target)

    cam, raw = explain.grad_cam(model, batch, target)
    assert raw.shape == (5, 4, 4) and cam.shape == (5, 10, 10)
    np.testing.assert_allclose(raw, ref_pool, rtol=1e-4, atol=1e-7)
    cam2, raw2 = explain.grad_cam(model, batch, target, layer=conv.name)
    assert raw2.shape == (5, 8, 8) and cam2.shape == (5, 10, 10)
    np.testing.assert_allclose(raw2, ref_conv, rtol=1e-4, atol=1e-7)


def test_occlusion_equals_a_plain_loop(batch):
    model = small_cnn()
    target = np.array([0, 1, 2, 0, 1])
    got = explain.occlusion(model, batch, target, window=(4, 4), strides=(3, 3), baseline=0.5)
    rows = np.arange(5)
    base = model.predict(batch, verbose=0)[rows, target]
    total, count = np.zeros_like(batch, dtype=np.float64), np.zeros(batch.shape[1:])
    for i in range(0, 7, 3):
        for j in range(0, 7, 3):
            xo = batch.copy()
            xo[:, i:i + 4, j:j + 4, :] = 0.5
            drop = base - model.predict(xo, verbose=0)[rows, target]
            total[:, i:i + 4, j:j + 4, :] += drop[:, None, None, None]
            count[i:i + 4, j:j + 4] += 1
    np.testing.assert_allclose(got, total / np.maximum(count, 1), rtol=1e-5, atol=1e-7)


def test_activations_returns_each_layers_output(batch):
    model = small_cnn()
    acts = explain.activations(model, batch, layers=[model.layers[0], model.layers[1].name])
    conv_out = acts[model.layers[0].name]
    assert conv_out.shape == (5, 8, 8, 4)
    pooled = conv_out.reshape(5, 4, 2, 4, 2, 4).max(axis=(2, 4))
    np.testing.assert_allclose(acts[model.layers[1].name], pooled, rtol=1e-6)


def test_smoothgrad_is_the_mean_over_noisy_copies(batch):
    model = small_cnn()
    target = np.array([0, 1, 2, 0, 1])
    got = explain.smoothgrad(model, batch, target, samples=6, noise=0.1, seed=3)
    rng = np.random.default_rng(3)
    eps = rng.standard_normal((6,) + batch.shape).astype(np.float32)
    sigma = 0.1 * (batch.reshape(5, -1).max(1) - batch.reshape(5, -1).min(1))
    ref = np.mean([explain.saliency(model, batch + e * sigma[:, None, None, None].astype(
        np.float32), target) for e in eps], axis=0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_bad_input_is_named():
    model = small_cnn()
    x = np.zeros((2, 10, 10, 2), np.float32)
    with pytest.raises(ValueError, match="target 3 of sample 0 is out of range"):
        explain.saliency(model, x, target=3)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        explain.grad_cam(model, x, 0, layer="nope")
    with pytest.raises(ValueError, match="no spatial output"):
        explain.grad_cam(model, x, 0, layer=model.layers[-1])
    with pytest.raises(ValueError, match="baseline must be"):
        explain.integrated_gradients(model, x, 0, baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        explain.integrated_gradients(model, x, 0, steps=0)
    with pytest.raises(TypeError, match="numeric batch"):
        explain.saliency(model, np.array([["a"]]), 0)


# ---- on a trained model: the digits CNN -----------------------------------------------------

@pytest.fixture(scope="module")
def digits_cnn():
    from grebe.datasets import digits
    (x, y), (xt, yt) = digits.load_data()
    x, xt = x[..., None], xt[..., None]
    grebe.utils.set_random_seed(0)
    model = grebe.Sequential([
        layers.Conv2D(16, 3, activation="relu", padding="same", input_shape=(8, 8, 1)),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    acc = model.evaluate(xt, yt, verbose=0)[1]
    assert acc > 0.9, acc
    return model, xt[:16], yt[:16]


def _relative_delta(model, x, t, steps, method):
    _, delta = explain.integrated_gradients(model, x, t, steps=steps, method=method,
                                            return_delta=True)
    rows = np.arange(len(x))
    fx = model.predict(x, verbose=0)[rows, t]
    fb = model.predict(np.zeros_like(x), verbose=0)[rows, t]
    return np.abs(delta) / np.abs(fx - fb)


def test_integrated_gradients_is_complete(digits_cnn):
    """Completeness: sum(attributions) = F(x) - F(baseline), up to the quadrature error.
    Measured on this model: 64 trapezoid steps give a mean relative error of 0.3% (max 1.1%,
    on a sample whose path crosses many ReLU kinks); 64 Gauss-Legendre nodes a max of 0.5%."""
    model, x, y = digits_cnn
    assert _relative_delta(model, x, y, 64, "gausslegendre").max() <= 0.01
    assert _relative_delta(model, x, y, 64, "riemann_trapezoid").mean() <= 0.01
    # Gauss-Legendre reaches a 1% mean error with fewer steps than the trapezoid rule.
    first_ok = {}
    for method in ("riemann_trapezoid", "gausslegendre"):
        for steps in (4, 8, 16, 32, 64):
            if _relative_delta(model, x, y, steps, method).mean() <= 0.01:
                first_ok[method] = steps
                break
    assert first_ok["gausslegendre"] < first_ok["riemann_trapezoid"], first_ok


def _spearman(a, b):
    """Mean over samples of the Spearman rank correlation of two maps (identical maps count
    1, a constant map against a varying one 0)."""
    from scipy.stats import spearmanr
    out = []
    for p, q in zip(a, b):
        p, q = p.ravel(), q.ravel()
        if np.array_equal(p, q):
            out.append(1.0)
        elif np.ptp(p) == 0 or np.ptp(q) == 0:
            out.append(0.0)
        else:
            out.append(spearmanr(p, q)[0])
    return float(np.mean(out))


def test_maps_fail_the_parameter_randomization_check_only_when_they_should(digits_cnn):
    """Adebayo et al. 2018: re-initializing the trained layers from the top down must change
    the maps (rank correlation with the trained model's maps falls below 0.5)."""
    model, x, y = digits_cnn
    methods = {
        "saliency": lambda m: explain.saliency(m, x, y),
        "integrated_gradients": lambda m: explain.integrated_gradients(m, x, y, steps=16,
                                                                       method="gausslegendre"),
        "grad_cam": lambda m: explain.grad_cam(m, x, y, layer=m.layers[2].name)[0],
    }
    trained = {k: f(model) for k, f in methods.items()}
    clone = grebe.Sequential.from_config(model.get_config())
    clone.build((None, 8, 8, 1))
    clone.set_weights(model.get_weights())
    # The unchanged copy reproduces the maps (correlation 1): the check can tell.
    for k, f in methods.items():
        assert _spearman(trained[k], f(clone)) > 0.99, k
    rng = np.random.default_rng(0)
    correlations = {}
    for la in reversed([la for la in clone.layers if la.get_weights()]):   # top down
        la.set_weights([rng.normal(0, np.std(w) + 1e-3, w.shape).astype(np.float32)
                        for w in la.get_weights()])
        correlations[la.name] = {k: _spearman(trained[k], f(clone)) for k, f in methods.items()}
    top_two = list(correlations)[1]
    for k in methods:
        assert correlations[top_two][k] < 0.5, (k, correlations)


# ---- sequence models ------------------------------------------------------------------------

def test_text_lstm_explained_through_its_embedding():
    grebe.utils.set_random_seed(2)
    emb = layers.Embedding(50, 8)
    model = grebe.Sequential([grebe.Input((12,), dtype="int32"), emb,
                              layers.LSTM(6, return_sequences=True),
                              layers.GlobalAveragePooling1D(), layers.Dense(2, activation="softmax")])
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 50, (4, 12))
    tokens[:, 9:] = 0                                   # padding at the end
    attr, delta = explain.integrated_gradients(model, tokens, 1, layer=emb, steps=64,
                                               method="gausslegendre", return_delta=True)
    assert attr.shape == (4, 12, 8)
    out = model.predict(tokens, verbose=0)[:, 1]
    base = model.predict(np.zeros_like(tokens), verbose=0)[:, 1]
    assert np.all(np.abs(delta) <= 0.01 * np.abs(out - base) + 1e-6), (delta, out - base)
    np.testing.assert_array_equal(attr[:, 9:], 0)       # padding tokens: same as the baseline
    with pytest.raises(TypeError, match="pass layer="):
        explain.saliency(model, tokens, 1)
    assert explain.saliency(model, tokens, 1, layer=emb.name).shape == (4, 12, 1)
    cam, raw = explain.grad_cam(model, tokens, 1)        # picks the LSTM's sequence output
    assert raw.shape == (4, 12) and cam.shape == (4, 12) and np.all(raw >= 0)
    occ = explain.occlusion(model, tokens, 1, window=(3,), baseline=0)
    assert occ.shape == (4, 12)
    acts = explain.activations(model, tokens)
    assert acts[emb.name].shape == (4, 12, 8)


def test_gru_sequence_saliency_matches_finite_differences():
    grebe.utils.set_random_seed(3)
    model = grebe.Sequential([grebe.Input((7, 3)), layers.GRU(5),
                              layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).normal(size=(2, 7, 3)).astype(np.float32)
    g = explain.saliency(model, x, 2, abs=False, reduce_channels=None)
    x64, eps = x.astype(np.float64), 1e-2
    for idx in [(0, 0, 0), (0, 6, 2), (1, 3, 1)]:
        xp, xm = x64.copy(), x64.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fp = model.predict(xp.astype(np.float32), verbose=0)[idx[0], 2]
        fm = model.predict(xm.astype(np.float32), verbose=0)[idx[0], 2]
        assert abs(g[idx] - (fp - fm) / (2 * eps)) < 2e-3 + 0.02 * abs(g[idx])
    smooth = explain.smoothgrad(model, x, 2, samples=4, seed=0, method="input_x_gradient")
    assert smooth.shape == x.shape


def test_cam_upsampling_matches_torch_bilinear():
    from grebe.explain.cam import _resize
    raw = np.random.default_rng(0).random((2, 5, 7)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.tensor(raw)[:, None], size=(13, 16),
                                          mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(_resize(raw, (13, 16)), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_save_png_writes_a_picture(tmp_path, batch):
    model = small_cnn()
    maps = {"saliency": explain.saliency(model, batch[:2]),
            "grad_cam": explain.grad_cam(model, batch[:2])[0]}
    path = explain.save_png(tmp_path / "x.png", batch[:2, :, :, 0], maps, titles=["a", "b"])
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


class _Net(grebe.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(4, 3, activation="relu")
        self.pool = layers.MaxPooling2D(2)
        self.flat = layers.Flatten()
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x, training=None):
        return self.out(self.flat(self.pool(self.conv(x))))


def _functional_and_nested(seq):
    inp = grebe.Input((10, 10, 2))
    functional = grebe.Model(inp, seq.layers[-1](seq.layers[-2](seq.layers[1](
        seq.layers[0](inp)))))
    inp2 = grebe.Input((10, 10, 2))
    nested = grebe.Model(inp2, layers.Activation("linear")(seq(inp2)))
    return functional, nested


def test_every_model_kind_gives_the_same_maps(batch):
    seq = small_cnn()
    sub = _Net()
    sub(batch[:1])
    sub.set_weights(seq.get_weights())
    functional, nested = _functional_and_nested(seq)
    target = np.array([0, 1, 2, 0, 1])
    ref_sal = explain.saliency(seq, batch, target)
    ref_cam = explain.grad_cam(seq, batch, target)[1]
    for m in (sub, functional, nested):
        np.testing.assert_allclose(explain.saliency(m, batch, target), ref_sal, rtol=1e-5,
                                   atol=1e-7, err_msg=type(m).__name__)
        np.testing.assert_allclose(explain.grad_cam(m, batch, target)[1], ref_cam, rtol=1e-5,
                                   atol=1e-7, err_msg=type(m).__name__)
