"""ops.conv1d: values and gradients against a float64 numpy reference (finite differences) and
torch.nn.functional.conv1d; 'causal' padding."""
import numpy as np
import pytest

import grebe
from grebe import ops
from helpers import check_op, torch_or_none

torch = torch_or_none()
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def pads_1d(length, k, s, d, padding):
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return (k - 1) * d, 0
    out = (length + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - length, 0)
    return total // 2, total - total // 2


def ref_conv1d(x, w, b=None, stride=1, padding="valid", dilation=1):
    k = w.shape[0]
    lo, hi = pads_1d(x.shape[1], k, stride, dilation, padding)
    xp = np.pad(x, ((0, 0), (lo, hi), (0, 0)))
    L = (xp.shape[1] - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((x.shape[0], L, w.shape[2]), dtype=np.result_type(x, w))
    for t in range(k):
        y = y + np.tensordot(xp[:, t * dilation:t * dilation + (L - 1) * stride + 1:stride], w[t],
                             axes=([2], [0]))
    return y if b is None else y + b


CASES = [((2, 9, 3), (3, 3, 4), 1, "valid", 1), ((2, 9, 3), (3, 3, 4), 1, "same", 1),
         ((1, 8, 2), (4, 2, 3), 1, "same", 1), ((2, 10, 2), (3, 2, 5), 2, "same", 1),
         ((2, 7, 3), (3, 3, 2), 1, "causal", 2), ((1, 6, 4), (1, 4, 3), 1, "valid", 1)]


@pytest.mark.parametrize("xs,ws,stride,padding,dilation", CASES)
def test_conv1d_gradients_finite_differences(xs, ws, stride, padding, dilation):
    check_op(lambda x, w, b: ops.conv1d(x, w, b, stride, padding, dilation),
             lambda x, w, b: ref_conv1d(x, w, b, stride, padding, dilation),
             [xs, ws, (ws[2],)])


@pytest.mark.parametrize("xs,ws,stride,padding,dilation", CASES)
@needs_torch
def test_conv1d_matches_torch(xs, ws, stride, padding, dilation):
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws, (ws[2],)))
    xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
    y = ops.conv1d(xg, wg, bg, stride, padding, dilation, activation="relu")
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    lo, hi = pads_1d(xs[1], ws[0], stride, dilation, padding)
    yt = F.relu(F.conv1d(F.pad(xt.permute(0, 2, 1), (lo, hi)), wt.permute(2, 1, 0), bt,
                         stride=stride, dilation=dilation)).permute(0, 2, 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    yt.backward(torch.tensor(g))
    for got, want in ((xg.grad, xt.grad), (wg.grad, wt.grad), (bg.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


def test_causal_output_sees_only_the_past():
    x = np.zeros((1, 8, 1), np.float32)
    x[0, 5, 0] = 1.0
    y = ops.conv1d(x, np.ones((3, 1, 1), np.float32), padding="causal").numpy()[0, :, 0]
    np.testing.assert_array_equal(y, [0, 0, 0, 0, 0, 1, 1, 1])


def test_conv1d_errors():
    with pytest.raises(ValueError, match=r"conv1d: input has 4 channels but kernel expects 3"):
        ops.conv1d(np.zeros((1, 8, 4), np.float32), np.zeros((3, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"conv1d: x must have rank 3"):
        ops.conv1d(np.zeros((1, 8, 8, 3), np.float32), np.zeros((3, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"'causal' is only for conv1d"):
        ops.conv2d(np.zeros((1, 8, 8, 3), np.float32), np.zeros((3, 3, 3, 2), np.float32),
                   padding="causal")
