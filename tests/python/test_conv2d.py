"""ops.conv2d: values and every gradient against a float64 numpy reference (finite
differences) and against torch.nn.functional.conv2d; TensorFlow's 'same' rule; the skipped input
gradient; bitwise results for any thread count; errors."""
import numpy as np
import pytest

import grebe
from grebe import ops
from grebe.ops.conv import same_padding
from helpers import check_op, torch_or_none

torch = torch_or_none()
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def tf_same_pads(size, k, s, d):
    """TensorFlow's rule, written out independently of grebe.ops.conv.same_padding."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def ref_conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1), relu=False):
    """float64 numpy reference: explicit zero padding, then a sum over taps."""
    (sh, sw), (dh, dw) = strides, dilation
    R, S, _, K = w.shape
    if padding == "same":
        pt, pb = tf_same_pads(x.shape[1], R, sh, dh)
        pl, pr = tf_same_pads(x.shape[2], S, sw, dw)
    else:
        pt = pb = pl = pr = 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    P = (xp.shape[1] - (R - 1) * dh - 1) // sh + 1
    Q = (xp.shape[2] - (S - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], P, Q, K), dtype=np.result_type(x, w))
    for r in range(R):
        for s in range(S):
            patch = xp[:, r * dh:r * dh + (P - 1) * sh + 1:sh, s * dw:s * dw + (Q - 1) * sw + 1:sw]
            y = y + np.tensordot(patch, w[r, s], axes=([3], [0]))
    if b is not None:
        y = y + b
    return np.maximum(y, 0) if relu else y


def torch_conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1), relu=False):
    """The same convolution in PyTorch: NHWC <-> NCHW, HWIO -> OIHW, TF padding made explicit."""
    F = torch.nn.functional
    R, S = w.shape[0], w.shape[1]
    xt = x.permute(0, 3, 1, 2)
    if padding == "same":
        pt, pb = tf_same_pads(x.shape[1], R, strides[0], dilation[0])
        pl, pr = tf_same_pads(x.shape[2], S, strides[1], dilation[1])
        xt = F.pad(xt, (pl, pr, pt, pb))
    y = F.conv2d(xt, w.permute(3, 2, 0, 1), b, stride=strides, dilation=dilation)
    if relu:
        y = F.relu(y)
    return y.permute(0, 2, 3, 1)


# (x shape, kernel shape, strides, padding, dilation)
CASES = [
    ((2, 5, 6, 3), (3, 3, 3, 4), (1, 1), "valid", (1, 1)),
    ((2, 5, 6, 3), (3, 3, 3, 4), (1, 1), "same", (1, 1)),
    ((1, 6, 5, 2), (2, 2, 2, 3), (1, 1), "same", (1, 1)),    # even kernel: extra pad bottom/right
    ((2, 7, 6, 2), (3, 2, 2, 5), (2, 2), "same", (1, 1)),
    ((1, 7, 8, 2), (3, 3, 2, 3), (2, 3), "valid", (1, 1)),
    ((1, 7, 7, 2), (2, 3, 2, 3), (1, 1), "same", (2, 2)),
    ((1, 4, 4, 5), (1, 1, 5, 2), (1, 1), "valid", (1, 1)),    # 1x1
    ((3, 4, 5, 1), (3, 3, 1, 2), (1, 1), "same", (1, 1)),     # C = 1
]


@pytest.mark.parametrize("xs,ws,strides,padding,dilation", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_gradients_finite_differences(xs, ws, strides, padding, dilation, bias):
    shapes = [xs, ws] + ([(ws[3],)] if bias else [])

    def fn(x, w, b=None):
        return ops.conv2d(x, w, b, strides, padding, dilation)

    def ref(x, w, b=None):
        return ref_conv2d(x, w, b, strides, padding, dilation)

    check_op(fn, ref, shapes)


@pytest.mark.parametrize("xs,ws,strides,padding,dilation", CASES + [
    ((9, 15, 15, 32), (3, 3, 32, 64), (1, 1), "valid", (1, 1)),  # seed conv2, scatter path
    ((3, 32, 32, 3), (3, 3, 3, 32), (1, 1), "valid", (1, 1)),    # seed conv1
    ((8, 9, 9, 6), (3, 3, 6, 10), (2, 2), "same", (1, 1)),
])
@pytest.mark.parametrize("relu", [False, True])
@needs_torch
def test_conv2d_matches_torch(xs, ws, strides, padding, dilation, relu):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32) * 0.3
    b = rng.standard_normal(ws[3]).astype(np.float32)
    act = "relu" if relu else None
    xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
    y = ops.conv2d(xg, wg, bg, strides, padding, dilation, activation=act)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch_conv2d(xt, wt, bt, strides, padding, dilation, relu)
    assert y.shape == tuple(yt.shape)
    scale = float(np.abs(yt.detach().numpy()).max()) + 1
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), atol=1e-5 * scale, rtol=1e-4)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    yt.backward(torch.tensor(g))
    for got, want, name in ((xg.grad, xt.grad, "x"), (wg.grad, wt.grad, "kernel"),
                            (bg.grad, bt.grad, "bias")):
        want = want.numpy()
        np.testing.assert_allclose(got, want, atol=2e-5 * (np.abs(want).max() + 1), rtol=1e-4,
                                   err_msg=f"gradient of {name}")


@pytest.mark.parametrize("size,k,s,d", [(32, 3, 1, 1), (15, 3, 1, 1), (6, 2, 1, 1), (7, 3, 2, 1),
                                        (8, 3, 2, 1), (7, 4, 3, 1), (9, 3, 1, 2), (5, 6, 1, 1),
                                        (1, 3, 1, 1), (10, 1, 4, 1)])
def test_same_padding_is_tensorflows_rule(size, k, s, d):
    assert same_padding(size, k, s, d) == tf_same_pads(size, k, s, d)
    x = np.ones((1, size, size, 1), np.float32)
    w = np.ones((k, k, 1, 1), np.float32)
    y = ops.conv2d(x, w, strides=s, padding="same", dilation_rate=d)
    assert y.shape == (1, -(-size // s), -(-size // s), 1)
    np.testing.assert_allclose(y.numpy(), ref_conv2d(x, w, None, (s, s), "same", (d, d)),
                               rtol=1e-6)


def test_same_padding_even_kernel_pads_bottom_right():
    # A 2x2 kernel of ones over 'same' padding: the last row/column sees one zero row/column.
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    y = ops.conv2d(x, np.ones((2, 2, 1, 1), np.float32), padding="same").numpy()[0, :, :, 0]
    np.testing.assert_array_equal(y, [[8, 12, 7], [20, 24, 13], [13, 15, 8]])


class _RecordingC:
    """Wraps grebe._C and records the arguments of each call."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        fn = getattr(self.real, name)

        def wrapped(*args):
            self.calls.append((name, args))
            return fn(*args)
        return wrapped


def test_input_gradient_is_skipped_when_not_needed(monkeypatch):
    import sys

    conv_mod = sys.modules["grebe.ops.conv"]  # (grebe.ops.conv is Keras's conv function)

    rec = _RecordingC(conv_mod._C)
    monkeypatch.setattr(conv_mod, "_C", rec)
    x = grebe.tensor(np.random.default_rng(0).standard_normal((2, 6, 6, 3)))  # a data batch
    w = grebe.tensor(np.full((3, 3, 3, 4), 0.1), requires_grad=True)
    b = grebe.tensor(np.zeros(4), requires_grad=True)
    ops.conv2d(x, w, b, activation="relu").sum().backward()
    (name, args), = [c for c in rec.calls if c[0] == "conv2d_backward"]
    assert args[-3:] == (False, True, True)  # need_dx, need_dkernel, need_dbias
    assert x.grad is None and w.grad is not None and b.grad is not None
    # A frozen kernel without bias: only the input gradient is computed.
    rec.calls.clear()
    x2 = grebe.tensor(np.ones((2, 6, 6, 3)), requires_grad=True)
    w2 = grebe.tensor(np.full((3, 3, 3, 4), 0.1))
    ops.conv2d(x2, w2).sum().backward()
    assert [c[0] for c in rec.calls] == ["conv2d_forward", "conv2d_backward"]
    assert rec.calls[1][1][-3:] == (True, False, False)
    assert x2.grad is not None and w2.grad is None


def test_combined_backward_equals_separate_passes():
    rng = np.random.default_rng(5)
    C = grebe._C
    for n in (3, 9):  # both backward-data algorithms
        x = rng.standard_normal((n, 9, 8, 5)).astype(np.float32)
        w = rng.standard_normal((3, 3, 5, 7)).astype(np.float32)
        geo = ((1, 1), (1, 1, 1, 1), (1, 1))
        y = C.conv2d_forward(x, w, None, *geo, True)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx, dk, db = C.conv2d_backward(dy, x, w, y, *geo, True, True, True)
        assert dx.tobytes() == C.conv2d_backward_data(dy, w, y, (9, 8), *geo).tobytes()
        dk2, db2 = C.conv2d_backward_weights(x, dy, y, (3, 3), *geo, True)
        assert dk.tobytes() == dk2.tobytes() and db.tobytes() == db2.tobytes()


def test_bitwise_identical_for_any_thread_count():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 15, 15, 32)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 32, 64)) * 0.1).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    g = rng.standard_normal((16, 13, 13, 64)).astype(np.float32)
    before = grebe.get_num_threads()
    results = []
    try:
        for nt in (1, 2, 3):
            grebe.set_num_threads(nt)
            xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
            y = ops.conv2d(xg, wg, bg, activation="relu")
            y.backward(g)
            results.append([y.numpy().copy(), xg.grad, wg.grad, bg.grad])
    finally:
        grebe.set_num_threads(before)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert a.tobytes() == b_.tobytes()


def test_accepts_numpy_and_other_dtypes_and_noncontiguous_tensors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))  # float64, NCHW
    w = rng.standard_normal((3, 3, 3, 2))
    xt = grebe.tensor(x).transpose(0, 2, 3, 1) if hasattr(grebe.ops, "transpose") else None
    y = ops.conv2d(x.transpose(0, 2, 3, 1), w)
    np.testing.assert_allclose(y.numpy(), ref_conv2d(x.transpose(0, 2, 3, 1), w), rtol=1e-5,
                               atol=1e-5)
    if xt is not None:
        np.testing.assert_allclose(ops.conv2d(xt, w).numpy(), y.numpy(), rtol=1e-6)


def test_errors():
    x = np.zeros((2, 8, 8, 5), np.float32)
    k = np.zeros((3, 3, 3, 32), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: input has 5 channels but kernel expects 3 "
                                         r"\(kernel shape \(3, 3, 3, 32\)\)"):
        ops.conv2d(x, k)
    with pytest.raises(ValueError, match=r"conv2d: x must have rank 4"):
        ops.conv2d(np.zeros((8, 8, 3), np.float32), k)
    with pytest.raises(ValueError, match=r"conv2d: kernel must have rank 4"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), np.zeros((3, 3, 32), np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(32,\)"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), k, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"padding must be 'valid', 'same'"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), k, padding="full")
    with pytest.raises(ValueError, match=r"conv2d: `strides` expected a tuple of 2 positive "
                       r"integers. Received: strides=0"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), k, strides=0)
    with pytest.raises(ValueError, match=r"conv2d: `dilation_rate` expected a tuple of 2 "
                       r"positive integers. Received: dilation_rate=\(1, 1, 1\)"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), k, dilation_rate=(1, 1, 1))
    with pytest.raises(ValueError, match=r"does not fit the padded input \(2, 2\)"):
        ops.conv2d(np.zeros((1, 2, 2, 3), np.float32), k)
    with pytest.raises(ValueError, match=r"activation must be None, 'linear' or 'relu'"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), k, activation="tanh")
    with pytest.raises(TypeError, match=r"conv2d: x must be numeric"):
        ops.conv2d(np.array([["a"]]), k)


def test_binding_checks_everything():
    C = grebe._C
    x = np.zeros((2, 8, 8, 3), np.float32)
    k = np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(TypeError, match="must be float32"):
        C.conv2d_forward(x.astype(np.float64), k, None, (1, 1), (0, 0, 0, 0), (1, 1), False)
    with pytest.raises(ValueError, match="C-contiguous"):
        C.conv2d_forward(np.asfortranarray(x), k, None, (1, 1), (0, 0, 0, 0), (1, 1), False)
    with pytest.raises(ValueError, match=r"padding must be >= 0"):
        C.conv2d_forward(x, k, None, (1, 1), (-1, 0, 0, 0), (1, 1), False)
    dy = np.zeros((2, 6, 6, 4), np.float32)
    with pytest.raises(ValueError, match=r"output_gradient must have shape \(2, 6, 6, 4\)"):
        C.conv2d_backward_data(dy[:, :5].copy(), k, None, (8, 8), (1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"relu_output must have shape"):
        C.conv2d_backward_weights(x, dy, dy[:1].copy(), (3, 3), (1, 1), (0, 0, 0, 0), (1, 1),
                                  True)


def test_empty_batch():
    x = grebe.tensor(np.zeros((0, 6, 6, 3)), requires_grad=True)
    w = grebe.tensor(np.ones((3, 3, 3, 4)), requires_grad=True)
    y = ops.conv2d(x, w, padding="same")
    assert y.shape == (0, 6, 6, 4)
    y.backward(np.zeros(y.shape, np.float32))
    assert x.grad.shape == (0, 6, 6, 3)
    np.testing.assert_array_equal(w.grad, 0)


@needs_torch
def test_groups_match_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 7, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 9)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
    y = ops.conv2d(xg, wg, bg, padding="same", groups=3, activation="relu")
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.relu(torch.nn.functional.conv2d(
        xt.permute(0, 3, 1, 2), wt.permute(3, 2, 0, 1), bt, padding=1, groups=3)
    ).permute(0, 2, 3, 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    yt.backward(torch.tensor(g))
    for got, want in ((xg.grad, xt.grad), (wg.grad, wt.grad), (bg.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs,ws,padding,pool", [
    ((3, 32, 32, 3), (3, 3, 3, 32), "valid", (2, 2)),    # seed conv1 + pool
    ((9, 15, 15, 32), (3, 3, 32, 64), "valid", (2, 2)),  # seed conv2 + pool (drops row 12)
    ((2, 9, 11, 4), (3, 2, 4, 7), "same", (3, 2)),
])
@needs_torch
def test_conv2d_relu_maxpool_matches_torch(xs, ws, padding, pool):
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.3).astype(np.float32)
    b = rng.standard_normal(ws[3]).astype(np.float32)
    xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
    y = ops.conv2d_relu_maxpool(xg, wg, bg, padding=padding, pool_size=pool)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.max_pool2d(torch_conv2d(xt, wt, bt, padding=padding, relu=True).permute(0, 3, 1, 2),
                      pool).permute(0, 2, 3, 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    # The same bits as the unfused ops.
    unfused = ops.conv2d(x, w, b, padding=padding, activation="relu")
    np.testing.assert_array_equal(y.numpy(), ops.max_pool2d(unfused, pool).numpy())
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    yt.backward(torch.tensor(g))
    for got, want in ((xg.grad, xt.grad), (wg.grad, wt.grad), (bg.grad, bt.grad)):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * (np.abs(want).max() + 1))


def test_conv2d_relu_maxpool_errors():
    x = np.zeros((1, 5, 5, 3), np.float32)
    k = np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"pool_size \(4, 4\) is larger than the conv output"):
        ops.conv2d_relu_maxpool(x, k, pool_size=4)
    with pytest.raises(ValueError, match=r"input has 3 channels but kernel expects 2"):
        ops.conv2d_relu_maxpool(x, np.zeros((3, 3, 2, 4), np.float32))
