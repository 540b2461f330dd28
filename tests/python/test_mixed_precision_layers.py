"""Layers under mixed_bfloat16, each checked three ways:

- tight: against the same computation in float32 on bfloat16-rounded operands (the same layer
  in float32 with rounded weights and inputs; for the recurrent layers a numpy loop that rounds
  x, h and the kernels at every step). bf16 x bf16 products are exact in float32, so only the
  order of the float32 sums differs;
- against Keras 3's mixed_bfloat16 layer (torch backend) with the same weights, at bfloat16
  tolerance (Keras rounds every layer output to bfloat16 as well);
- gradients against finite differences of the float64 function, at bfloat16 tolerance.

The rounding oracle is ml_dtypes (Keras's dependency; JAX's and TensorFlow's bfloat16)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import grebe  # noqa: E402
from grebe import _C, layers, ops  # noqa: E402
from helpers import check_op  # noqa: E402

MIXED = "mixed_bfloat16"


def bf16(a):
    """a rounded to bfloat16 (round to nearest even), as float32."""
    return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_round_bf16_matches_ml_dtypes():
    rng = _rng()
    with np.errstate(over="ignore"):
        wide = (rng.standard_normal(1000) * 10.0 ** rng.integers(-40, 38, 1000)).astype(
            np.float32)
    x = np.concatenate([wide, np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-40, 3.4e38,
                                  np.float32(1 + 2 ** -8), np.float32(1 + 3 * 2 ** -8)],
                                 np.float32)])
    got = _C.round_bf16(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(got, bf16(x))  # ties to even, NaN stays NaN, inf stays inf


# ---- tight: mixed layer == float32 layer on rounded operands --------------------------------

def _pair(make, x_shape, seed=0):
    """(mixed layer, float32 layer holding the mixed layer's weights rounded to bf16, x)."""
    x = _rng(seed).standard_normal(x_shape).astype(np.float32)
    mixed, plain = make(MIXED), make("float32")
    mixed(x), plain(x)
    plain.set_weights([bf16(w) for w in mixed.get_weights()])
    return mixed, plain, x


LAYERS = {
    "dense_relu": (lambda d: layers.Dense(7, activation="relu", dtype=d), (5, 19)),
    "dense_linear_3d": (lambda d: layers.Dense(6, dtype=d), (2, 3, 33)),
    "dense_softmax": (lambda d: layers.Dense(4, activation="softmax", dtype=d), (5, 9)),
    "conv2d_relu": (lambda d: layers.Conv2D(5, 3, activation="relu", dtype=d), (2, 7, 8, 3)),
    "conv2d_same_strided": (lambda d: layers.Conv2D(4, (3, 2), strides=2, padding="same",
                                                    dtype=d), (2, 9, 7, 5)),
    "conv1d_causal_dilated": (lambda d: layers.Conv1D(6, 3, padding="causal", dilation_rate=2,
                                                      activation="relu", dtype=d), (3, 11, 4)),
    "conv_relu_pool_fused": (lambda d: grebe.Sequential([
        layers.Conv2D(6, 3, activation="relu", dtype=d), layers.MaxPooling2D(2)]),
        (2, 10, 10, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_forward_and_backward_equal_float32_on_rounded_operands(name):
    make, shape = LAYERS[name]
    mixed, plain, x = _pair(make, shape)
    xt_m, xt_p = grebe.tensor(x, requires_grad=True), grebe.tensor(bf16(x), requires_grad=True)
    ym, yp = mixed(xt_m), plain(xt_p)
    assert ym.dtype == np.float32
    np.testing.assert_allclose(ym.numpy(), yp.numpy(), rtol=1e-5, atol=1e-5)
    if name == "dense_softmax":  # its backward GEMMs round dz, computed in float32
        return
    # An upstream gradient that bfloat16 holds exactly: then every backward GEMM operand of the
    # mixed layer (dy, x, W) equals the float32 layer's.
    g = bf16(_rng(1).standard_normal(ym.shape))
    ym.backward(g)
    yp.backward(g)
    np.testing.assert_allclose(xt_m.grad, xt_p.grad, rtol=1e-5, atol=1e-5)
    for wm, wp in zip(mixed.trainable_weights, plain.trainable_weights):
        np.testing.assert_allclose(wm.grad, wp.grad, rtol=1e-5, atol=1e-5)


def test_fused_pair_equals_the_two_layers_under_bf16():
    mixed, _, x = _pair(LAYERS["conv_relu_pool_fused"][0], (2, 10, 10, 3))
    assert mixed.fusion_plan() == [(mixed.layers[0].name, mixed.layers[1].name)]
    fused = mixed(x).numpy()
    with grebe.layers.fusion.blocked(mixed.layers[0]):
        apart = mixed(x).numpy()
    np.testing.assert_array_equal(fused, apart)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _rnn_ref(kind, x, W, R, b, U, rnd=bf16):
    """The recurrent layers in float64 with x, W and R rounded by `rnd` (bfloat16; the
    identity gives the exact function). The state h stays float32 in the kernels
    (csrc/kernels/rnn_bf16.cpp), so h R takes h unrounded."""
    B, T, _ = x.shape
    h, c, out = np.zeros((B, U)), np.zeros((B, U)), []
    xW = [np.asarray(rnd(x[:, t]), np.float64) @ rnd(W) for t in range(T)]
    Rr = np.asarray(rnd(R), np.float64)
    for t in range(T):
        hR = h @ Rr
        if kind == "lstm":
            z = xW[t] + hR + b
            i, f, g, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        elif kind == "gru":  # reset_after=True, bias (2, 3U)
            xz, xr, xh = np.split(xW[t] + b[0], 3, axis=1)
            hz, hr, hh = np.split(hR + b[1], 3, axis=1)
            z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
            h = z * h + (1 - z) * np.tanh(xh + r * hh)
        else:
            h = np.tanh(xW[t] + hR + b)
        out.append(h)
    return np.stack(out, axis=1)


RNNS = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_recurrent_layers_equal_a_rounding_reference_loop(kind):
    U = 6
    x = _rng(2).standard_normal((3, 7, 5)).astype(np.float32)
    layer = RNNS[kind](U, return_sequences=True, dtype=MIXED)
    y = layer(x).numpy()
    W, R, b = layer.get_weights()
    b = b + _rng(3).standard_normal(b.shape).astype(np.float32) * 0.1
    layer.set_weights([W, R, b])
    y = layer(x).numpy()
    np.testing.assert_allclose(y, _rnn_ref(kind, x, W, R, b, U), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_rnn_cell_paths_equal_the_layer_under_bf16(kind):
    """RNN(cell) under the policy: the fused dispatch gives the layer's values exactly. The
    step-by-step cell loop (zero_output_for_mask forces it) runs each product through
    matmul_bf16, which rounds h as well (the fused kernels keep h float32): bf16 tolerance."""
    x = _rng(4).standard_normal((2, 6, 3)).astype(np.float32)
    layer = RNNS[kind](5, return_sequences=True, dtype=MIXED)
    want = layer(x).numpy()
    cell_cls = {"lstm": layers.LSTMCell, "gru": layers.GRUCell,
                "simple_rnn": layers.SimpleRNNCell}[kind]
    for loop in (False, True):
        rnn = layers.RNN(cell_cls(5, dtype=MIXED), return_sequences=True,
                         zero_output_for_mask=loop, dtype=MIXED)
        rnn(x)
        rnn.set_weights(layer.get_weights())
        got = rnn(x).numpy()
        if loop:
            np.testing.assert_allclose(got, want, rtol=1e-2, atol=2e-3)
        else:
            np.testing.assert_array_equal(got, want)
    plain = layers.RNN(cell_cls(5), return_sequences=True)
    plain(x)
    plain.set_weights(layer.get_weights())
    assert np.abs(plain(x).numpy() - want).max() > 1e-5  # the cell really computed in bf16


# ---- against Keras 3's mixed_bfloat16 layers --------------------------------------------------

KERAS_CASES = {
    "Dense": ({"units": 8, "activation": "relu"}, (4, 30)),
    "Conv2D": ({"filters": 6, "kernel_size": 3, "padding": "same"}, (2, 8, 8, 4)),
    "Conv1D": ({"filters": 5, "kernel_size": 4, "strides": 2}, (3, 13, 6)),
    "LSTM": ({"units": 8, "return_sequences": True}, (2, 9, 5)),
    "GRU": ({"units": 8, "return_sequences": True}, (2, 9, 5)),
    "SimpleRNN": ({"units": 8, "return_sequences": True}, (2, 9, 5)),
}


@pytest.mark.parametrize("cls", sorted(KERAS_CASES))
def test_matches_keras_mixed_bfloat16(cls):
    kwargs, shape = KERAS_CASES[cls]
    x = _rng(5).standard_normal(shape).astype(np.float32)
    theirs = getattr(keras.layers, cls)(dtype=MIXED, **kwargs)
    want = theirs(x)
    assert str(want.dtype).endswith("bfloat16")
    ours = getattr(layers, cls)(dtype=MIXED, **kwargs)
    ours(x)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    got = ours(x).numpy()
    want = np.asarray(want.float().detach().cpu().numpy(), np.float32)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2 * scale)
    f32 = getattr(layers, cls)(**kwargs)
    f32(x)
    f32.set_weights(ours.get_weights())
    # bf16 is really on: the float32 layer differs from both by more than float32 noise
    assert np.abs(f32(x).numpy() - got).max() > 1e-4 * scale


# ---- gradients against finite differences at bfloat16 tolerance ----------------------------

BF = dict(rtol=3e-2, atol=3e-2, grad_rtol=5e-2, grad_atol=5e-2)


def _conv_ref(x, k, b, stride=1):
    """valid 2-D conv, NHWC, in float64."""
    R, S = k.shape[:2]
    P, Q = (x.shape[1] - R) // stride + 1, (x.shape[2] - S) // stride + 1
    y = np.zeros((x.shape[0], P, Q, k.shape[3]))
    for r in range(R):
        for s in range(S):
            patch = x[:, r:r + stride * P:stride, s:s + stride * Q:stride, :]
            y += np.einsum("npqc,ck->npqk", patch, k[r, s])
    return y + b


def test_dense_gradients_bf16():
    check_op(lambda x, w, b: ops.dense(x, w, b, "tanh", compute_dtype="bfloat16"),
             lambda x, w, b: np.tanh(x @ w + b), [(4, 9), (9, 5), (5,)], **BF)


def test_conv2d_gradients_bf16():
    check_op(lambda x, k, b: ops.conv2d(x, k, b, strides=2, compute_dtype="bfloat16"),
             lambda x, k, b: _conv_ref(x, k, b, 2), [(2, 7, 7, 3), (3, 3, 3, 4), (4,)], **BF)


def test_conv1d_gradients_bf16():
    check_op(lambda x, k, b: ops.conv1d(x, k, b, compute_dtype="bfloat16"),
             lambda x, k, b: _conv_ref(x[:, None], k[None], b)[:, 0],
             [(2, 9, 3), (3, 3, 4), (4,)], **BF)


def test_conv2d_relu_maxpool_gradients_bf16():
    def ref(x, k, b):
        y = np.maximum(_conv_ref(x, k, b), 0.0)
        n, h, w, c = y.shape
        return y.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    # x spread so that no two pooled values come within the finite-difference step
    x = _rng(6).permutation(np.linspace(-1, 1, 2 * 6 * 6 * 2)).reshape(2, 6, 6, 2)
    k, b = _rng(7).uniform(-1, 1, (3, 3, 2, 3)), _rng(8).uniform(0, 0.5, 3)
    check_op(lambda x, k, b: ops.conv2d_relu_maxpool(x, k, b, compute_dtype="bfloat16"),
             ref, None, inputs=[x, k, b], **BF)


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_recurrent_gradients_bf16(kind):
    G, U = {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind], 3
    bshape = (2, G * U) if kind == "gru" else (G * U,)
    fn = getattr(ops, kind)

    def ref(x, W, R, b):  # the float64 math: the rounding reference with rounding off
        return _rnn_ref(kind, x, W, R, b, U, rnd=lambda a: a)
    check_op(lambda x, W, R, b: fn(x, W, R, b, compute_dtype="bfloat16")[0], ref,
             [(2, 4, 3), (3, G * U), (U, G * U), bshape], **BF)


def test_ops_refuse_an_unknown_compute_dtype():
    x, w = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="dense: compute_dtype must be 'float32' or 'bfloat16'"):
        ops.dense(x, w, compute_dtype="float16")
    with pytest.raises(ValueError, match="conv2d: compute_dtype='bfloat16' needs groups=1"):
        ops.conv2d(np.ones((1, 4, 4, 4)), np.ones((3, 3, 2, 4)), groups=2,
                   compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="lstm: compute_dtype"):
        ops.lstm(np.ones((1, 2, 3)), np.ones((3, 8)), np.ones((2, 8)), compute_dtype="half")


def test_grouped_conv_computes_in_float32_under_the_policy():
    x = _rng(9).standard_normal((2, 6, 6, 4)).astype(np.float32)
    mixed, plain = layers.Conv2D(4, 3, groups=2, dtype=MIXED), layers.Conv2D(4, 3, groups=2)
    mixed(x), plain(x)
    plain.set_weights(mixed.get_weights())
    assert mixed.compute_dtype == "bfloat16" and mixed.op_compute_dtype == "float32"
    np.testing.assert_array_equal(mixed(x).numpy(), plain(x).numpy())


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Dense(4, dtype=MIXED), (3, 40)),
    (lambda: layers.Conv2D(4, 3, padding="same", dtype=MIXED), (3, 6, 6, 16)),
    (lambda: layers.LSTM(4, dtype=MIXED), (3, 5, 16)),
])
def test_nan_stays_nan_under_bf16(make, shape):
    x = _rng(10).standard_normal(shape).astype(np.float32)
    x[1].flat[3] = np.nan
    y = make()(x).numpy()
    assert np.isnan(y[1]).any() and np.isfinite(y[[0, 2]]).all()


def test_folded_conv_batchnorm_inference_computes_in_bf16():
    """A Conv2D + BatchNormalization + ReLU chain runs as one conv with folded weights at
    inference (grebe.layers.fusion): under the policy that conv takes bf16 operands too."""
    def model(policy):
        grebe.utils.set_random_seed(0)
        return grebe.Sequential([grebe.Input((8, 8, 16)),
                                 layers.Conv2D(8, 3, padding="same", dtype=policy),
                                 layers.BatchNormalization(dtype=policy),
                                 layers.ReLU(dtype=policy)])
    x = _rng(11).standard_normal((4, 8, 8, 16)).astype(np.float32)
    mixed, plain = model(MIXED), model("float32")
    assert len(mixed.fusion_plan()) == 1  # the three layers run as one step
    for m in (mixed, plain):
        m.layers[1].moving_mean.assign(_rng(12).standard_normal(8).astype(np.float32))
    plain.set_weights(mixed.get_weights())
    folded = mixed.predict(x, verbose=0)
    with grebe.layers.fusion.blocked(*mixed.layers):
        apart = mixed.predict(x, verbose=0)
    np.testing.assert_allclose(folded, apart, rtol=2e-2, atol=2e-2)
    assert np.abs(folded - plain.predict(x, verbose=0)).max() > 1e-4  # bf16 is on
