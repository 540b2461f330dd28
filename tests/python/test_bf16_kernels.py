"""The bfloat16 kernels through grebe._C: round_bf16 against a numpy bit-trick reference (ties,
NaN, Inf, overflow, subnormals); sgemm_bf16 / matmul_bf16 and the conv2d_*_bf16 passes against
float64 references of the bf16-rounded operands; the RNN twins against the float64 step
reference on rounded operands and the fp32 bindings; bitwise invariance to the thread count;
NaN/Inf propagation; bad input named like the fp32 bindings. Runs under every ISA this CPU has
(the AVX512-BF16 path under avx512, the portable one below it)."""
import numpy as np
import pytest

import grebe
from grebe import _C
from test_rnn_ops import GATES, reference as rnn_reference

ISAS = [isa for isa in ("generic", "avx2", "avx512")
        if ["generic", "avx2", "avx512"].index(isa) <=
        ["generic", "avx2", "avx512"].index(_C.detect_isa())]


@pytest.fixture(params=ISAS)
def isa(request):
    before = _C.active_isa()
    _C.set_isa(request.param)
    yield request.param
    _C.set_isa(before)


@pytest.fixture
def threads():
    before = grebe.get_num_threads()
    yield
    grebe.set_num_threads(before)


# ---- round_bf16 --------------------------------------------------------------------------------
def ref_round_bf16(x):
    """Round to nearest even on the bits: add 0x7FFF + the kept part's lowest bit, drop the low
    16 bits; NaN is quieted and truncated (so it stays NaN)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    r = np.where(nan, (u | 0x00400000) & 0xFFFF0000, r)
    return r.astype(np.uint32).view(np.float32)


def bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def test_round_bf16_matches_bit_reference_on_random_bits():
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    x = u.view(np.float32).reshape(400, 500)
    y = _C.round_bf16(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(bits(y), bits(ref_round_bf16(x)))
    assert np.all(bits(y) & 0xFFFF == 0)
    assert np.array_equal(np.isnan(y), np.isnan(x))


def test_round_bf16_ties_go_to_even_and_special_values():
    one = 1.0
    ulp = 2.0 ** -7  # bf16 spacing at 1
    x = np.array([one + ulp / 2,            # tie, kept part even -> down to 1
                  one + 3 * ulp / 2,        # tie, kept part odd -> up to 1 + 2 ulp
                  one + ulp / 2 + 2**-20,   # just above the tie -> up
                  -(one + 3 * ulp / 2),
                  np.inf, -np.inf, 3.4e38, -3.4e38,    # past the largest bf16 -> Inf
                  np.float32(1e-40), np.float32(-3e-45),  # subnormals round as values
                  0.0, -0.0], np.float32)
    want = np.array([one, one + 2 * ulp, one + ulp, -(one + 2 * ulp), np.inf, -np.inf,
                     np.inf, -np.inf], np.float32)
    y = _C.round_bf16(x)
    np.testing.assert_array_equal(y[:8], want)
    np.testing.assert_array_equal(bits(y), bits(ref_round_bf16(x)))
    assert bits(y)[-1] == 0x80000000  # -0 keeps its sign


def test_round_bf16_keeps_every_nan():
    # payloads in the low 16 bits only would truncate to Inf; signalling and negative NaNs too
    u = np.array([0x7F800001, 0x7F80FFFF, 0xFF800001, 0x7FC00000, 0x7FA00000, 0xFFFFFFFF],
                 np.uint32)
    y = _C.round_bf16(u.view(np.float32))
    assert np.all(np.isnan(y))
    np.testing.assert_array_equal(bits(y) >> 31, u >> 31)


def test_round_bf16_is_idempotent_and_checks_dtype():
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    y = _C.round_bf16(x)
    np.testing.assert_array_equal(_C.round_bf16(y), y)
    with pytest.raises(TypeError, match="round_bf16: x must be float32"):
        _C.round_bf16(x.astype(np.float64))
    with pytest.raises(ValueError, match="round_bf16: x must be C-contiguous"):
        _C.round_bf16(np.ones((4, 4), np.float32).T)


# ---- GEMM ----------------------------------------------------------------------------------------
def r64(a):
    return ref_round_bf16(a).astype(np.float64)


def rand(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def assert_close_k(got, want, k):
    """bf16 products are exact in fp32: only the fp32 sums round (vdpbf16ps adds pairs)."""
    np.testing.assert_allclose(got, want, rtol=1e-5 * (k + 4) ** 0.5 * 4, atol=4e-6 * (k + 4))


SHAPES = [(1, 1, 1), (1, 17, 5), (6, 16, 7), (5, 15, 3), (13, 33, 257), (64, 64, 64),
          (145, 97, 255), (300, 290, 520), (2, 700, 3), (785, 131, 33)]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_sgemm_bf16_matches_float64_of_rounded_operands(isa, m, n, k, ta, tb):
    rng = np.random.default_rng(m * 7 + n * 3 + k)
    a = rand(rng, k, m) if ta else rand(rng, m, k)
    b = rand(rng, n, k) if tb else rand(rng, k, n)
    want = (r64(a).T if ta else r64(a)) @ (r64(b).T if tb else r64(b))
    assert_close_k(_C.sgemm_bf16(a, b, trans_a=ta, trans_b=tb), want, k)
    # and it really rounds: far from the fp32 product at this tolerance for large K
    if k >= 255:
        fp32 = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
        assert np.abs(_C.matmul_bf16(a, b, ta, tb) - fp32).max() > 1e-3


def test_sgemm_bf16_epilogue_stays_float32(isa):
    rng = np.random.default_rng(2)
    a, b = rand(rng, 37, 70), rand(rng, 70, 45)
    c, bias = rand(rng, 37, 45), rand(rng, 45) * 1.001
    want = np.maximum(0.5 * r64(a) @ r64(b) + 0.75 * c.astype(np.float64) + bias, 0)
    got = _C.sgemm_bf16(a, b, alpha=0.5, beta=0.75, c=c.copy(), bias=bias, relu=True)
    assert_close_k(got, want, 70)
    out = c.copy()
    assert _C.sgemm_bf16(a, b, beta=1.0, c=out) is out
    assert_close_k(out, r64(a) @ r64(b) + c, 70)


def test_matmul_bf16_batched_broadcasts_a_batch_of_one(isa):
    rng = np.random.default_rng(3)
    a, b = rand(rng, 3, 9, 40), rand(rng, 1, 40, 11)
    assert_close_k(_C.matmul_bf16(a, b), r64(a) @ r64(b), 40)
    assert_close_k(_C.matmul_bf16(a, b[0]), r64(a) @ r64(b[0]), 40)


def test_sgemm_bf16_propagates_nan_and_inf(isa):
    rng = np.random.default_rng(4)
    a, b = rand(rng, 20, 33), rand(rng, 33, 40)
    a[3, 5] = np.nan
    a[7, 2] = np.inf
    b[4, 9] = -np.inf
    got = _C.matmul_bf16(a, b)
    with np.errstate(invalid="ignore"):
        want = r64(a) @ r64(b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    assert np.isnan(got[3]).all()
    fin = np.isfinite(want)
    assert_close_k(got[fin], want[fin], 33)


@pytest.mark.parametrize("m,n,k", [(64, 64, 64), (300, 290, 520), (1000, 37, 129)])
def test_sgemm_bf16_bitwise_identical_for_any_thread_count(isa, threads, m, n, k):
    rng = np.random.default_rng(5)
    a, b, bias = rand(rng, m, k), rand(rng, k, n), rand(rng, n)
    outs = []
    for t in (1, 2, 3):
        grebe.set_num_threads(t)
        outs.append(_C.sgemm_bf16(a, b, bias=bias, relu=True))
    for o in outs[1:]:
        np.testing.assert_array_equal(bits(o), bits(outs[0]))


def test_gemm_bf16_errors_are_named_like_fp32():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="sgemm_bf16: a must be float32"):
        _C.sgemm_bf16(a.astype(np.float64), a.T.copy())
    with pytest.raises(ValueError, match=r"matmul_bf16: inner dimensions differ: a \(3, 4\)"):
        _C.matmul_bf16(a, a)
    with pytest.raises(ValueError, match=r"sgemm_bf16: bias must have shape \(3,\)"):
        _C.sgemm_bf16(a, a.T.copy(), bias=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="sgemm_bf16: c must not share memory"):
        _C.sgemm_bf16(a, np.ones((4, 4), np.float32), c=a)


# ---- convolution ---------------------------------------------------------------------------------
def conv_ref(x, w, strides, pads, dilation):
    """float64 conv, NHWC x, HWIO w, explicit (top, bottom, left, right) zero padding."""
    (sh, sw), (dh, dw) = strides, dilation
    R, S, _, K = w.shape
    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    P = (xp.shape[1] - (R - 1) * dh - 1) // sh + 1
    Q = (xp.shape[2] - (S - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], P, Q, K))
    for r in range(R):
        for s in range(S):
            patch = xp[:, r * dh:r * dh + (P - 1) * sh + 1:sh, s * dw:s * dw + (Q - 1) * sw + 1:sw]
            y += np.tensordot(patch, w[r, s], axes=([3], [0]))
    return y


def conv_grads_ref(x, w, dy, strides, pads, dilation):
    """(dx, dw) of conv_ref in float64: conv_ref is linear in x and in w, so its adjoint is
    obtained by scattering dy back through the same taps."""
    (sh, sw), (dh, dw_) = strides, dilation
    R, S, _, K = w.shape
    N, H, W, C = x.shape
    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    P, Q = dy.shape[1], dy.shape[2]
    for r in range(R):
        for s in range(S):
            sl = (slice(None), slice(r * dh, r * dh + (P - 1) * sh + 1, sh),
                  slice(s * dw_, s * dw_ + (Q - 1) * sw + 1, sw))
            dw[r, s] = np.tensordot(xp[sl], dy, axes=([0, 1, 2], [0, 1, 2]))
            dxp[sl] += np.tensordot(dy, w[r, s], axes=([3], [1]))
    return dxp[:, pads[0]:pads[0] + H, pads[2]:pads[2] + W], dw


# (x shape, kernel shape, strides, padding, dilation): the seed CNN's and ResNet-20's layers
# scaled down, 1x1, strided, dilated, asymmetric padding, channel counts off the vector width.
CONVS = [((2, 12, 12, 3), (3, 3, 3, 32), (1, 1), (0, 0, 0, 0), (1, 1)),
         ((2, 8, 8, 32), (3, 3, 32, 64), (1, 1), (1, 1, 1, 1), (1, 1)),
         ((2, 9, 9, 16), (3, 3, 16, 32), (2, 2), (0, 1, 0, 1), (1, 1)),
         ((1, 7, 10, 5), (2, 3, 5, 7), (1, 2), (1, 0, 2, 1), (2, 1)),
         ((3, 6, 6, 19), (1, 1, 19, 17), (1, 1), (0, 0, 0, 0), (1, 1)),
         ((2, 9, 11, 16), (3, 3, 16, 40), (1, 1), (0, 0, 1, 0), (1, 1))]  # odd output: pool cuts


def conv_case(i, relu_mask=False):
    xs, ws, st, pd, dl = CONVS[i]
    rng = np.random.default_rng(10 + i)
    x, w = rand(rng, *xs), rand(rng, *ws) * 0.5
    b = rand(rng, ws[3])
    y = conv_ref(x.astype(np.float64), w.astype(np.float64), st, pd, dl)
    dy = rand(rng, *y.shape)
    return x, w, b, dy, st, pd, dl


def assert_close_taps(got, want, taps):
    np.testing.assert_allclose(got, want, rtol=1e-5 * (taps + 4) ** 0.5 * 4,
                               atol=4e-6 * (taps + 4))


@pytest.mark.parametrize("i", range(len(CONVS)))
def test_conv2d_forward_bf16_matches_float64_of_rounded_operands(isa, i):
    x, w, b, _, st, pd, dl = conv_case(i)
    taps = w.shape[0] * w.shape[1] * w.shape[2]
    want = conv_ref(r64(x), r64(w), st, pd, dl) + b
    assert_close_taps(_C.conv2d_forward_bf16(x, w, b, st, pd, dl, False), want, taps)
    assert_close_taps(_C.conv2d_forward_bf16(x, w, b, st, pd, dl, True), np.maximum(want, 0),
                      taps)


@pytest.mark.parametrize("i", range(len(CONVS)))
@pytest.mark.parametrize("relu", [False, True])
def test_conv2d_backward_bf16_matches_float64_of_rounded_operands(isa, i, relu):
    x, w, b, dy, st, pd, dl = conv_case(i)
    H, W = x.shape[1], x.shape[2]
    relu_y = _C.conv2d_forward(x, w, b, st, pd, dl, True) if relu else None
    gy = dy * (relu_y > 0) if relu else dy
    dx_ref, dw_ref = conv_grads_ref(r64(x), r64(w), r64(gy), st, pd, dl)
    db_ref = gy.astype(np.float64).sum((0, 1, 2))  # the bias gradient is the unrounded dy's
    K = w.shape[3]
    taps_dx = w.shape[0] * w.shape[1] * K
    taps_dw = dy.shape[0] * dy.shape[1] * dy.shape[2]
    dx = _C.conv2d_backward_data_bf16(dy, w, relu_y, (H, W), st, pd, dl)
    assert_close_taps(dx, dx_ref, taps_dx)
    dw, db = _C.conv2d_backward_weights_bf16(x, dy, relu_y, w.shape[:2], st, pd, dl, True)
    assert_close_taps(dw, dw_ref, taps_dw)
    assert_close_taps(db, db_ref, taps_dw)
    dx2, dw2, db2 = _C.conv2d_backward_bf16(dy, x, w, relu_y, st, pd, dl, True, True, True)
    assert_close_taps(dx2, dx_ref, taps_dx)
    assert_close_taps(dw2, dw_ref, taps_dw)
    assert_close_taps(db2, db_ref, taps_dw)
    none = _C.conv2d_backward_bf16(dy, x, w, relu_y, st, pd, dl, False, False, False)
    assert none == (None, None, None)


@pytest.mark.parametrize("i", range(len(CONVS)))
def test_conv2d_bf16_gradients_agree_with_fp32_within_bf16_tolerance(isa, i):
    """Against the fp32 kernels on the unrounded operands: bf16 has an 8-bit significand, so
    each operand carries a relative error up to 2^-9; sums of random-sign terms keep the error
    near 2^-8 of the result's scale."""
    x, w, b, dy, st, pd, dl = conv_case(i)
    f32 = _C.conv2d_backward(dy, x, w, None, st, pd, dl, True, True, True)
    b16 = _C.conv2d_backward_bf16(dy, x, w, None, st, pd, dl, True, True, True)
    for got, want in zip(b16, f32):
        scale = np.abs(want).max() + 1e-6
        assert np.abs(got - want).max() <= 2**-6 * scale
    y32 = _C.conv2d_forward(x, w, b, st, pd, dl, False)
    y16 = _C.conv2d_forward_bf16(x, w, b, st, pd, dl, False)
    assert np.abs(y16 - y32).max() <= 2**-6 * np.abs(y32).max()


@pytest.mark.parametrize("i", [0, 1, 5])
def test_conv2d_relu_maxpool_bf16(isa, i):
    x, w, b, _, st, pd, dl = conv_case(i)
    yp, am = _C.conv2d_relu_maxpool_forward_bf16(x, w, b, st, pd, dl, (2, 2))
    full = np.maximum(conv_ref(r64(x), r64(w), st, pd, dl) + b, 0)
    N, P, Q, K = full.shape
    P2, Q2 = P // 2, Q // 2
    win = full[:, :P2 * 2, :Q2 * 2].reshape(N, P2, 2, Q2, 2, K).transpose(0, 1, 3, 5, 2, 4)
    taps = w.shape[0] * w.shape[1] * w.shape[2]
    assert_close_taps(yp, win.reshape(N, P2, Q2, K, 4).max(-1), taps)
    # the backward equals the plain bf16 backward of relu(conv) with dy routed to the winners
    rng = np.random.default_rng(20 + i)
    dyp = rand(rng, *yp.shape)
    dx, dw, db = _C.conv2d_relu_maxpool_backward_bf16(dyp, am, yp, x, w, st, pd, dl, (2, 2),
                                                     True, True, True)
    dy = np.zeros((N, P, Q, K), np.float32)
    for a_ in range(2):
        for b_ in range(2):
            hit = (am == a_ * 2 + b_) & (yp > 0)
            dy[:, a_:P2 * 2:2, b_:Q2 * 2:2] = np.where(hit, dyp, 0)
    dx_ref, dw_ref = conv_grads_ref(r64(x), r64(w), r64(dy), st, pd, dl)
    assert_close_taps(dx, dx_ref, w.shape[0] * w.shape[1] * K)
    assert_close_taps(dw, dw_ref, N * P * Q)
    assert_close_taps(db, dy.astype(np.float64).sum((0, 1, 2)), N * P * Q)


def test_conv2d_bf16_propagates_nan(isa):
    x, w, b, dy, st, pd, dl = conv_case(1)
    x[0, 3, 4, 5] = np.nan
    y = _C.conv2d_forward_bf16(x, w, b, st, pd, dl, True)
    assert np.isnan(y[0, 2:5, 3:6]).all() and not np.isnan(y[1]).any()
    dy[1, 2, 2, 7] = np.inf
    dx = _C.conv2d_backward_data_bf16(dy, w, None, x.shape[1:3], st, pd, dl)
    assert not np.isfinite(dx[1, 1:4, 1:4]).any() and np.isfinite(dx[0]).all()


@pytest.mark.parametrize("i", [1, 2])
def test_conv2d_bf16_bitwise_identical_for_any_thread_count(isa, threads, i):
    x, w, b, dy, st, pd, dl = conv_case(i)
    x, dy = np.tile(x, (8, 1, 1, 1)), np.tile(dy, (8, 1, 1, 1))
    outs = []
    for t in (1, 2, 3):
        grebe.set_num_threads(t)
        outs.append([_C.conv2d_forward_bf16(x, w, b, st, pd, dl, True),
                     *_C.conv2d_backward_bf16(dy, x, w, None, st, pd, dl, True, True, True)])
    for o in outs[1:]:
        for got, want in zip(o, outs[0]):
            np.testing.assert_array_equal(bits(got), bits(want))


def test_conv2d_bf16_errors_are_named_like_fp32():
    x, w, b, dy, st, pd, dl = conv_case(1)
    with pytest.raises(ValueError, match="conv2d_bf16: input has 32 channels but kernel expects 31"):
        _C.conv2d_forward_bf16(x, w[:, :, :31].copy(), b, st, pd, dl, False)
    with pytest.raises(TypeError, match="conv2d_backward_data_bf16: output_gradient must be float32"):
        _C.conv2d_backward_data_bf16(dy.astype(np.float64), w, None, (8, 8), st, pd, dl)
    with pytest.raises(ValueError, match="conv2d_backward_weights_bf16: output_gradient must have shape"):
        _C.conv2d_backward_weights_bf16(x, dy[:, :5].copy(), None, (3, 3), st, pd, dl, True)
    with pytest.raises(ValueError, match="conv2d_backward_bf16: strides must be positive"):
        _C.conv2d_backward_bf16(dy, x, w, None, (0, 1), pd, dl, True, True, True)
    with pytest.raises(ValueError, match="conv2d_relu_maxpool_bf16: pool_size"):
        _C.conv2d_relu_maxpool_forward_bf16(x, w, b, st, pd, dl, (0, 2))


# ---- recurrent layers ----------------------------------------------------------------------------
CELLS = ["lstm", "gru", "gru_before", "simple_rnn"]
FNS = {"lstm": ("lstm_forward", "lstm_backward"), "gru": ("gru_forward", "gru_backward"),
       "gru_before": ("gru_forward", "gru_backward"),
       "simple_rnn": ("simple_rnn_forward", "simple_rnn_backward")}


def rnn_case(cell, B=5, T=7, F=6, U=9, seed=0):
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    f32 = lambda *s, sc=1.0: (rng.standard_normal(s) * sc).astype(np.float32)  # noqa: E731
    kw = dict(x=f32(B, T, F), h0=f32(B, U, sc=0.5), kernel=f32(F, G * U, sc=0.5),
              recurrent_kernel=f32(U, G * U, sc=0.4), bias=f32(G * U, sc=0.2))
    if cell == "lstm":
        kw["c0"] = f32(B, U, sc=0.5)
    if cell == "gru":
        kw["recurrent_bias"] = f32(G * U, sc=0.2)
    if cell.startswith("gru"):
        kw["reset_after"] = cell == "gru"
    return kw, rng


def run_rnn(cell, kw, suffix, rng, **over):
    fwd, bwd = (getattr(_C, n + suffix) for n in FNS[cell])
    args = {**kw, **over}
    y, hT, cT, saved = fwd(**args, training=True)
    gy = np.random.default_rng(99).standard_normal(y.shape).astype(np.float32)
    bk = {k: v for k, v in args.items() if k not in ("h0", "c0")}
    grads = bwd(**bk, saved=saved, dy=gy)
    return (y, hT, cT), grads


@pytest.mark.parametrize("cell", CELLS)
def test_rnn_bf16_forward_matches_float64_of_rounded_operands(isa, cell):
    kw, rng = rnn_case(cell)
    (y, hT, cT), _ = run_rnn(cell, kw, "_bf16", rng)
    b = kw["bias"].astype(np.float64)
    if cell == "gru":
        b = np.stack([b, kw["recurrent_bias"].astype(np.float64)])
    ref_cell = "gru_before" if cell == "gru_before" else cell
    ys, h, c = rnn_reference(ref_cell, r64(kw["x"]), r64(kw["kernel"]),
                             r64(kw["recurrent_kernel"]), b, kw["h0"].astype(np.float64),
                             kw.get("c0", kw["h0"]).astype(np.float64))
    np.testing.assert_allclose(y, ys, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(hT, h, rtol=1e-4, atol=2e-5)
    if cell == "lstm":
        np.testing.assert_allclose(cT, c, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_rnn_bf16_equals_fp32_on_rounded_operands_and_is_close_to_fp32(isa, cell):
    kw, rng = rnn_case(cell, seed=1)
    outs16, grads16 = run_rnn(cell, kw, "_bf16", rng)
    rounded = {k: (ref_round_bf16(kw[k]) if k in ("x", "kernel", "recurrent_kernel") else kw[k])
               for k in kw}
    outs32r, grads32r = run_rnn(cell, rounded, "", rng)
    outs32, grads32 = run_rnn(cell, kw, "", rng)
    # dkernel, drecurrent_kernel (grads 3, 4) also round dG and h: test_rnn_bf16_weight_grads_*
    same = [True] * 3 + [i not in (3, 4) for i in range(len(grads16))]
    for got, want, loose, exact in zip((*outs16, *grads16), (*outs32r, *grads32r),
                                       (*outs32, *grads32), same):
        if want is None:
            assert got is None
            continue
        scale = np.abs(loose).max() + 1e-6
        if exact:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=3e-5)  # same op, fp32 order
        else:
            assert np.abs(got - want).max() <= 2**-7 * scale
        assert np.abs(got - loose).max() <= 2**-5 * scale  # within bf16 rounding of fp32


def simple_rnn_bptt_reference(x, W, R, b, h0, dy, rnd):
    """float64 tanh SimpleRNN forward and BPTT; the weight gradients as the bf16 backward
    computes them: dW = sum_s rnd(x_s)^T rnd(dG_s), dR = sum_s rnd(h_{s-1})^T rnd(dG_s) (rnd =
    round to bf16, or identity); dx = dG W^T and dh0 with dG unrounded."""
    B, T, _ = x.shape
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(x[:, t] @ W + b + hs[-1] @ R))
    dW, dR, dx, dh = np.zeros_like(W), np.zeros_like(R), np.zeros_like(x), np.zeros_like(h0)
    for t in reversed(range(T)):
        dG = (dh + dy[:, t]) * (1 - hs[t + 1] ** 2)
        dW += rnd(x[:, t]).T @ rnd(dG)
        dR += rnd(hs[t]).T @ rnd(dG)
        dx[:, t] = dG @ W.T
        dh = dG @ R.T
    return dx, dh, dW, dR


def test_rnn_bf16_weight_grads_round_x_h_and_dG(isa):
    """The bf16 backward's dkernel = sum rnd(x)^T rnd(dG) and drecurrent = sum rnd(h)^T rnd(dG)
    over all steps (one bf16 GEMM each, sbgemm on AVX512-BF16), dx and dh0 as fp32 at the
    rounded point: against a float64 BPTT of the rounded operands, tight; and far from it when
    dG is not rounded (the check can tell)."""
    kw, rng = rnn_case("simple_rnn", B=4, T=6, F=5, U=7, seed=5)
    (y, _, _), grads = run_rnn("simple_rnn", kw, "_bf16", rng)
    dy = np.random.default_rng(99).standard_normal(y.shape)
    args = (r64(kw["x"]), r64(kw["kernel"]), r64(kw["recurrent_kernel"]),
            kw["bias"].astype(np.float64), kw["h0"].astype(np.float64), dy)
    rnd = lambda a: r64(a.astype(np.float32))  # noqa: E731
    want = simple_rnn_bptt_reference(*args, rnd)
    dx, dh0, dW, dR = want
    np.testing.assert_allclose(grads[0], dx, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(grads[1], dh0, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(grads[3], dW, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(grads[4], dR, rtol=1e-4, atol=5e-5)
    _, _, dW_unrounded, _ = simple_rnn_bptt_reference(*args, lambda a: a)
    assert np.abs(grads[3] - dW_unrounded).max() > 1e-3


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_bf16_bitwise_identical_for_any_thread_count(isa, threads, cell):
    kw, rng = rnn_case(cell, B=64, T=5, F=32, U=64, seed=2)
    res = []
    for t in (1, 2, 3):
        grebe.set_num_threads(t)
        outs, grads = run_rnn(cell, kw, "_bf16", rng)
        res.append([a for a in (*outs, *grads) if a is not None])
    for r in res[1:]:
        for got, want in zip(r, res[0]):
            np.testing.assert_array_equal(bits(got), bits(want))


def test_rnn_bf16_propagates_nan(isa):
    kw, rng = rnn_case("lstm", seed=3)
    kw["x"][2, 3, 1] = np.nan
    (y, hT, cT), grads = run_rnn("lstm", kw, "_bf16", rng)
    assert np.isnan(y[2, 3:]).all() and np.isfinite(y[2, :3]).all()
    assert np.isfinite(np.delete(y, 2, axis=0)).all()
    assert np.isnan(grads[3]).any()  # dkernel sees the NaN input


def test_rnn_bf16_errors_are_named_like_fp32():
    kw, rng = rnn_case("lstm")
    kw["kernel"] = kw["kernel"][:, :30].copy()
    with pytest.raises(ValueError, match=r"lstm_forward_bf16: kernel must have shape \(6, 36\)"):
        _C.lstm_forward_bf16(**kw)
    kw, rng = rnn_case("gru")
    with pytest.raises(TypeError, match="gru_forward_bf16: x must be float32"):
        _C.gru_forward_bf16(**{**kw, "x": kw["x"].astype(np.float64)})
    kw, rng = rnn_case("simple_rnn")
    with pytest.raises(ValueError, match="simple_rnn_backward_bf16: saved must be the 4-tuple"):
        _C.simple_rnn_backward_bf16(x=kw["x"], kernel=kw["kernel"],
                                    recurrent_kernel=kw["recurrent_kernel"], saved=(1, 2))


# ---- capability and peak -------------------------------------------------------------------------
def test_has_bf16_follows_the_active_isa(isa):
    flags = open("/proc/cpuinfo").read()
    if isa != "avx512":
        assert _C.has_bf16() is False
        assert _C.bf16_peak_gflops(1, 0.01) == 0.0
    else:
        assert _C.has_bf16() is (" avx512_bf16" in flags)
    with pytest.raises(ValueError, match="bf16_peak_gflops: threads must be in"):
        _C.bf16_peak_gflops(0)
