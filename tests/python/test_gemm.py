"""The native SGEMM through grebe._C.sgemm / _C.matmul and grebe.matmul: values against numpy
(float64) on every ISA this CPU runs, bitwise thread-count invariance, input checking, dtype
conversion, non-contiguous and transposed views, batched broadcasting, and gradients."""
import numpy as np
import pytest

import grebe
from grebe import _C
from helpers import check_op, torch_or_none

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


def rand(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def assert_close_k(got, want, k):
    """Float32 GEMM vs float64: the error grows with the depth K."""
    np.testing.assert_allclose(got, want, rtol=1e-5 * (k + 4) ** 0.5 * 4,
                               atol=2e-6 * (k + 4))


SHAPES = [(1, 1, 1), (1, 17, 5), (6, 16, 7), (5, 15, 3), (7, 17, 257), (13, 31, 256),
          (145, 97, 255), (64, 64, 64), (300, 290, 520), (2, 4100, 3),
          (784, 128, 32), (785, 131, 33), (301, 97, 64), (150, 40, 65)]  # shallow A^T in place


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_sgemm_matches_numpy(isa, m, n, k, ta, tb):
    rng = np.random.default_rng(m * 1000 + n + k)
    a = rand(rng, k, m) if ta else rand(rng, m, k)
    b = rand(rng, n, k) if tb else rand(rng, k, n)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    assert_close_k(_C.sgemm(a, b, trans_a=ta, trans_b=tb), want, k)


def test_alpha_beta_and_inplace_output(isa):
    rng = np.random.default_rng(1)
    a, b, c = rand(rng, 37, 41), rand(rng, 41, 23), rand(rng, 37, 23)
    want = 0.5 * (a.astype(np.float64) @ b) - 2.0 * c
    out = _C.sgemm(a, b, alpha=0.5, beta=-2.0, c=c)
    assert out is c or np.shares_memory(out, c)
    assert_close_k(c, want, 41)


def test_beta_zero_ignores_nan_in_c(isa):
    rng = np.random.default_rng(2)
    a, b = rand(rng, 19, 33), rand(rng, 33, 21)
    c = np.full((19, 21), np.nan, np.float32)
    _C.sgemm(a, b, beta=0.0, c=c)
    assert np.isfinite(c).all()
    assert_close_k(c, a.astype(np.float64) @ b, 33)


def test_fused_bias_relu(isa, threads):
    rng = np.random.default_rng(3)
    a, b, bias = rand(rng, 50, 300), rand(rng, 300, 37), rand(rng, 37)
    ref = a.astype(np.float64) @ b + bias
    assert_close_k(_C.sgemm(a, b, bias=bias), ref, 300)
    assert_close_k(_C.sgemm(a, b, bias=bias, relu=True), np.maximum(ref, 0), 300)
    # Few rows, B in place: the threads split N, each with its own slice of the bias.
    a, b, bias = rand(rng, 32, 784), rand(rng, 784, 133), rand(rng, 133)
    ref = np.maximum(a.astype(np.float64) @ b + bias, 0)
    outs = []
    for t in (1, 2):
        grebe.set_num_threads(t)
        outs.append(_C.sgemm(a, b, bias=bias, relu=True))
        assert_close_k(outs[-1], ref, 784)
    assert np.array_equal(outs[0], outs[1])


def test_matches_reference_oracle(isa):
    rng = np.random.default_rng(4)
    a, b = rand(rng, 70, 90), rand(rng, 70, 50)
    assert_close_k(_C.sgemm(a, b, trans_a=True), _C.sgemm_reference(a, b, trans_a=True), 70)


@pytest.mark.parametrize("m,n,k", [(64, 64, 64), (301, 517, 600), (2000, 27, 32),
                                   (64, 2304, 128), (200, 130, 300), (784, 128, 32),
                                   (785, 131, 33), (32, 128, 784), (31, 130, 300)])
def test_bitwise_identical_for_any_thread_count(isa, threads, m, n, k):
    rng = np.random.default_rng(5)
    a, b = rand(rng, m, k), rand(rng, k, n)
    outs = []
    for t in (1, 2, 3):
        grebe.set_num_threads(t)
        outs.append(grebe.matmul(a, b).numpy())
        outs.append(_C.sgemm(a.T.copy(), b, trans_a=True))
    for t in range(2, len(outs), 2):
        assert np.array_equal(outs[0], outs[t])
        assert np.array_equal(outs[1], outs[t + 1])


def test_batched_binding_broadcasts_a_batch_of_one(isa):
    rng = np.random.default_rng(6)
    a, b = rand(rng, 4, 5, 6), rand(rng, 1, 6, 3)
    assert_close_k(_C.matmul(a, b), np.matmul(a.astype(np.float64), b), 6)
    assert_close_k(_C.matmul(a[0], b), np.matmul(a[0].astype(np.float64), b), 6)


# ---- input checking ------------------------------------------------------------------------

def test_binding_rejects_bad_input():
    f = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"inner dimensions differ: a \(3, 4\) and b \(5, 2\)"):
        _C.matmul(f, np.ones((5, 2), np.float32))
    with pytest.raises(TypeError, match="float32"):
        _C.matmul(f.astype(np.float64), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.matmul(np.ones((4, 3), np.float32).T, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        _C.matmul(np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="batch sizes differ"):
        _C.matmul(np.ones((2, 3, 4), np.float32), np.ones((3, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"c must have shape \(3, 2\)"):
        _C.sgemm(f, np.ones((4, 2), np.float32), c=np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="share memory"):
        _C.sgemm(f, np.ones((4, 4), np.float32), c=f)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        _C.sgemm(f, np.ones((4, 2), np.float32), bias=np.ones(3, np.float32))


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: a \(3, 4\) and "
                                         r"b \(5, 2\)"):
        grebe.matmul(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"a \(2, 3, 4\) and b \(3, 4, 5\)"):
        grebe.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"a \(\) and b \(3,\)"):
        grebe.matmul(np.float32(2), np.ones(3))
    with pytest.raises(TypeError, match=r"numeric.*a \(2,\) and b \(2,\)"):
        grebe.matmul(np.array(["x", "y"]), np.ones(2))
    with pytest.raises(TypeError, match="numeric"):
        grebe.matmul(np.array(["x", 1.0], dtype=object), np.ones(2))


# ---- grebe.matmul: numpy semantics ---------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 6)), ((7, 3, 4), (7, 4, 2)), ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)), ((1, 3, 4), (6, 4, 2)), ((0, 3, 4), (4, 5)), ((3, 0), (0, 5))])
def test_matmul_matches_numpy_broadcasting(isa, sa, sb):
    rng = np.random.default_rng(7)
    a, b = rand(rng, *sa), rand(rng, *sb)
    got = grebe.matmul(a, b).numpy()
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == want.shape
    assert got.dtype == np.float32
    assert_close_k(got, want, sa[-1])


def test_matmul_converts_dtypes_and_accepts_tensors():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    b = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    want = (a @ b).astype(np.float32)
    for x, y in [(a, b), (grebe.tensor(a), b), (a.tolist(), grebe.tensor(b)),
                 (a.astype(np.int32), b.astype(np.float16))]:
        got = grebe.matmul(x, y)
        assert isinstance(got, grebe.Tensor) and got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-3)
    t = grebe.tensor(a.astype(np.float32)) @ grebe.tensor(b)
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-5)


def test_matmul_non_contiguous_and_transposed_views(isa):
    rng = np.random.default_rng(8)
    big = rand(rng, 40, 50)
    for a, b in [(big.T, big), (big[::2, :30], big[:30, 1::2]), (big[:, :7].T, big[:, 3:9]),
                 (np.swapaxes(rand(rng, 3, 20, 10), 1, 2), rand(rng, 3, 20, 6))]:
        want = np.matmul(a.astype(np.float64), b.astype(np.float64))
        assert_close_k(grebe.matmul(a, b).numpy(), want, a.shape[-1])


# ---- gradients -----------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 3)), ((3, 4), (4,)),
                                   ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (3, 4, 2)), ((2, 3, 4), (2, 4, 2))])
def test_matmul_gradient(sa, sb):
    torch = torch_or_none()
    check_op(grebe.matmul, np.matmul, [sa, sb],
             torch_fn=(lambda a, b: torch.matmul(a, b)) if torch else None)


def test_matmul_gradient_through_transposed_views():
    rng = np.random.default_rng(9)
    a0, b0 = rand(rng, 6, 5), rand(rng, 7, 6)
    a = grebe.tensor(a0, requires_grad=True)
    b = grebe.tensor(b0, requires_grad=True)
    dy = rand(rng, 5, 7)
    y = grebe.matmul(a.T, b.T)  # Tensor.T may be a copy or a view: either must work
    y.backward(dy)
    np.testing.assert_allclose(a.grad, (dy @ b0).T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad, (a0 @ dy).T, rtol=1e-5, atol=1e-6)


def test_matmul_backward_uses_transposed_upstream_without_error():
    # The upstream gradient may itself be a transposed view; backward must handle its layout.
    from grebe.ops.matmul import MatMul

    rng = np.random.default_rng(10)
    a0, b0 = rand(rng, 4, 3), rand(rng, 3, 5)
    ctx = MatMul.__new__(MatMul)
    ctx.saved = ()
    MatMul.forward(ctx, a0, b0)
    ctx.needs_input_grad = (True, True)
    dy = np.ascontiguousarray(rand(rng, 5, 4)).T
    da, db = MatMul.backward(ctx, dy)
    np.testing.assert_allclose(da, dy @ b0.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(db, a0.T @ dy, rtol=1e-5, atol=1e-6)


def test_matmul_against_torch_large():
    torch = torch_or_none()
    if torch is None:
        pytest.skip("torch not installed")
    rng = np.random.default_rng(11)
    a0, b0, dy = rand(rng, 65, 300), rand(rng, 300, 33), rand(rng, 65, 33)
    a, b = grebe.tensor(a0, requires_grad=True), grebe.tensor(b0, requires_grad=True)
    grebe.matmul(a, b).backward(dy)
    ta = torch.tensor(a0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    (ta @ tb).backward(torch.tensor(dy))
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-4, atol=1e-4)
