"""Non-finite values pass through honestly: every activation, layer and loss fed NaN, +-Inf and
huge values gives, under every ISA this CPU runs (grebe._C.set_isa), non-finite outputs in
exactly the positions the portable kernels give; a NaN input never comes out as a number; and
`fit` with one NaN in x stops at once under callbacks.TerminateOnNaN (a kernel that clamped
NaN away would let it train on with finite losses while the weights turn to NaN)."""
import numpy as np
import pytest

import grebe
from grebe import _C, layers

# numpy warns "invalid value encountered" where a NaN meets an op; that is the point here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ISAS = [i for i in ("generic", "avx2", "avx512")
        if ["generic", "avx2", "avx512"].index(i)
        <= ["generic", "avx2", "avx512"].index(_C.detect_isa())]


def classes(a):
    """0 finite, 1 NaN, 2 +inf, 3 -inf, elementwise."""
    a = np.asarray(a, dtype=np.float64)
    return np.select([np.isnan(a), np.isposinf(a), np.isneginf(a)], [1, 2, 3], 0)


def special(shape, seed=0):
    """Values in [-3, 3) with NaN, +-inf, +-1e30 and +-100 sprinkled through them."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, shape).astype(np.float32)
    flat = x.reshape(-1)
    k = (np.arange(flat.size) + seed) % 23
    flat[k == 3] = np.nan
    flat[k == 7] = np.inf
    flat[k == 11] = -np.inf
    flat[k == 15] = np.where(np.arange(flat.size)[k == 15] % 2, 1e30, -1e30)
    flat[k == 19] = 100.0
    return x


@pytest.fixture
def restore_isa():
    before = _C.active_isa()
    yield
    _C.set_isa(before)


def under_every_isa(fn):
    """fn() under each ISA; asserts every ISA's classes equal the portable one's; returns those."""
    results = {}
    for isa in ISAS:
        _C.set_isa(isa)
        results[isa] = [np.array(r, dtype=np.float32, copy=True) for r in fn()]
    want = [classes(r) for r in results["generic"]]
    for isa in ISAS:
        for i, r in enumerate(results[isa]):
            got = classes(r)
            bad = np.argwhere(got != want[i])
            assert bad.size == 0, (f"{isa} output {i}: at {bad[:3].tolist()} portable "
                                   f"{results['generic'][i][tuple(bad[0])]} vs {r[tuple(bad[0])]}")
    return want


ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
               "gelu", "silu", "softplus", "softsign", "exponential", "log_sigmoid", "mish",
               "hard_silu", "softmax", "log_softmax", "linear"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_and_backward(name, restore_isa):
    x = special((7, 37), seed=1)
    dy = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)

    def run():
        t = grebe.tensor(x, requires_grad=True)
        y = grebe.activations.get(name)(t)
        (y * grebe.tensor(dy)).sum().backward()
        return np.asarray(y), np.asarray(t.grad)

    y_cls, _ = under_every_isa(run)
    nan_in = np.isnan(x)
    if name in ("softmax", "log_softmax"):  # a NaN anywhere in a row spoils the whole row
        assert (y_cls[nan_in.any(axis=1)] == 1).all()
    else:
        assert (y_cls[nan_in] == 1).all(), f"{name}: a NaN input came out as a number"


def _layer_cases():
    return [
        ("Dense relu", lambda: layers.Dense(9, activation="relu"), (5, 11)),
        ("Dense elu", lambda: layers.Dense(9, activation="elu"), (5, 11)),
        ("Dense softmax", lambda: layers.Dense(9, activation="softmax"), (5, 11)),
        ("LSTM", lambda: layers.LSTM(19, return_sequences=True), (13, 4, 5)),
        ("GRU", lambda: layers.GRU(19, return_sequences=True), (13, 4, 5)),
        ("SimpleRNN", lambda: layers.SimpleRNN(19, return_sequences=True), (13, 4, 5)),
        ("Conv2D relu", lambda: layers.Conv2D(5, 3, activation="relu"), (2, 7, 7, 3)),
        ("MaxPooling2D", lambda: layers.MaxPooling2D(2), (2, 6, 6, 17)),
        ("AveragePooling2D", lambda: layers.AveragePooling2D(2), (2, 6, 6, 17)),
        ("GlobalAveragePooling2D", lambda: layers.GlobalAveragePooling2D(), (2, 6, 6, 17)),
        ("BatchNormalization", lambda: layers.BatchNormalization(), (9, 17)),
        ("LayerNormalization", lambda: layers.LayerNormalization(), (9, 17)),
    ]


@pytest.mark.parametrize("case", _layer_cases(), ids=lambda c: c[0])
def test_layer_lets_nan_through(case, restore_isa):
    name, make, shape = case
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    x.reshape(-1)[5] = np.nan
    x.reshape(-1)[-2] = np.inf

    def run():
        grebe.utils.set_random_seed(0)
        layer = make()
        t = grebe.tensor(x, requires_grad=True)
        y = layer(t, training=True)
        y.sum().backward()
        return [np.asarray(y), np.asarray(t.grad)] + [np.asarray(w.grad) for w in layer.trainable_weights]

    y_cls = under_every_isa(run)[0]
    assert (y_cls != 0).any(), f"{name}: the NaN and Inf in x vanished from the output"


LOSSES = ["mean_squared_error", "mean_absolute_error", "huber", "log_cosh",
          "binary_crossentropy", "categorical_crossentropy", "kl_divergence", "poisson",
          "hinge", "cosine_similarity"]


@pytest.mark.parametrize("name", LOSSES)
def test_loss_is_nan_for_nan_prediction(name, restore_isa):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, (6, 5)).astype(np.float32)
    p[2, 3] = np.nan
    t = rng.uniform(0, 1, (6, 5)).astype(np.float32)

    def run():
        pt = grebe.tensor(p, requires_grad=True)
        loss = grebe.losses.get(name)(t, pt)
        loss.sum().backward()
        return [np.asarray(loss), np.asarray(pt.grad)]

    cls = under_every_isa(run)[0]  # one loss per sample: only sample 2 holds the NaN
    assert cls[2] == 1, f"{name}: a NaN prediction gave a finite loss"
    assert (cls[[0, 1, 3, 4, 5]] == 0).all(), f"{name}: the NaN leaked into other samples"


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_crossentropy_is_nan_for_nan_logit(from_logits, restore_isa):
    logits = np.random.default_rng(5).standard_normal((4, 7)).astype(np.float32)
    logits[1, 2] = np.nan
    y = np.array([0, 3, 6, 1])

    def run():
        p = logits if from_logits else np.abs(logits) + 0.1
        loss = grebe.losses.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                          reduction=None)(y, grebe.tensor(p))
        return [np.asarray(loss)]

    (cls,) = under_every_isa(run)
    assert cls[1] == 1 and (cls[[0, 2, 3]] == 0).all()


def _model(kind):
    if kind == "dense":
        return grebe.Sequential([grebe.Input((6,)), layers.Dense(8, activation="elu"),
                                 layers.Dense(1)])
    rnn = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[kind]
    return grebe.Sequential([grebe.Input((5, 6)), rnn(8), layers.Dense(1)])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn", "dense"])
def test_fit_stops_on_one_nan_under_terminate_on_nan(kind, isa, restore_isa):
    _C.set_isa(isa)
    grebe.utils.set_random_seed(0)
    rng = np.random.default_rng(6)
    shape = (64, 6) if kind == "dense" else (64, 5, 6)
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[17] = np.nan  # one value, in the first batch
    y = rng.standard_normal((64, 1)).astype(np.float32)
    model = _model(kind)
    model.compile(optimizer="adam", loss="mse")
    seen = []

    class Count(grebe.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(float(logs["loss"]))

    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
              callbacks=[grebe.callbacks.TerminateOnNaN(), Count()])
    assert len(seen) == 1 and np.isnan(seen[0]), f"{kind} under {isa}: batch losses {seen}"


def test_global_pool_sigmoid_ce_sum_squares_every_isa(restore_isa):
    """The AVX-512 global pooling keeps the portable order of operations: equal bits (NaN
    positions included). Sigmoid cross-entropy (vector exp/log1p) and sum_squares (a reordered
    double sum) change the rounding: within a few ulp, non-finite values in the same places."""
    x = special((3, 29, 37), seed=5)
    dy = special((3, 37), seed=6)
    z = np.random.default_rng(7).uniform(0, 1, (5, 301)).astype(np.float32)
    xl = special((5, 301), seed=8)
    g = [np.random.default_rng(9).standard_normal(n).astype(np.float32) for n in (3, 5000)]
    g.append(special((4133,), seed=10))
    out = {}
    for isa in ISAS:
        _C.set_isa(isa)
        ya = _C.global_avg_pool_forward(x)
        ym, am = _C.global_max_pool_forward(x)
        pools = [ya, ym, am, _C.global_avg_pool_backward(dy, 29),
                 _C.global_max_pool_backward(dy, am, 29)]
        out[isa] = pools, _C.sigmoid_cross_entropy(xl, z), np.array(_C.sum_squares(g))
    for isa in ISAS:
        for want, got in zip(out["generic"][0], out[isa][0]):
            np.testing.assert_array_equal(got, want, err_msg=isa)
        for want, got in zip(out["generic"][1], out[isa][1]):
            np.testing.assert_allclose(got, want, rtol=4e-7, atol=6e-8, err_msg=isa)
        np.testing.assert_allclose(out[isa][2], out["generic"][2], rtol=1e-14, err_msg=isa)
