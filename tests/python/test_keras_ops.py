"""grebe.ops against Keras 3's keras.ops (torch backend): the names (coverage of the committed
list of keras.ops's public names), and a table of calls compared on values, dtypes and
gradients (Keras's through torch autograd)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import grebe
from grebe import ops

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402  (Keras 3, torch backend: the reference)
import torch  # noqa: E402

DATA = Path(__file__).parent / "data"


def names(kind):
    return [ln.strip() for ln in (DATA / f"keras_{kind}_names.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("kind, module", [("ops", None), ("ops_nn", "nn"),
                                          ("ops_linalg", "linalg"), ("ops_numpy", "numpy")])
def test_keras_ops_coverage(kind, module):
    ns = ops if module is None else getattr(ops, module)
    want = names(kind)
    missing = [n for n in want if not callable(getattr(ns, n, None))]
    print(f"keras.{kind.replace('_', '.')}: {len(want) - len(missing)}/{len(want)}; "
          f"missing: {missing}")
    assert len(missing) <= 0.1 * len(want), missing


def test_keras_names_list_matches_installed_keras():
    assert names("ops") == sorted(n for n in dir(keras.ops) if not n.startswith("_") and
                                  callable(getattr(keras.ops, n)))


rng = np.random.default_rng(0)


def F(*shape, lo=-1.0, hi=1.0):  # noqa: N802
    return rng.uniform(lo, hi, shape).astype(np.float32)


def I(*shape, lo=0, hi=5):  # noqa: N802,E743
    return rng.integers(lo, hi, shape).astype(np.int32)


P = lambda *s: F(*s, lo=0.2, hi=2.0)  # noqa: E731  (positive)
U = lambda *s: F(*s, lo=-0.9, hi=0.9)  # noqa: E731  (inside (-1, 1))
SPD = (lambda a: (a @ a.T + 3 * np.eye(3)).astype(np.float32))(F(3, 3))

# (name, positional inputs, keyword arguments). Float inputs get gradients checked.
CASES = [
    ("add", [F(2, 3), F(3)], {}), ("add", [I(2, 3), I(3)], {}), ("subtract", [F(2, 3), 2.0], {}),
    ("multiply", [F(2, 3), F(2, 1)], {}), ("multiply", [I(4), I(4)], {}),
    ("divide", [F(3), P(3)], {}), ("divide", [I(3), I(3, lo=1)], {}),
    ("true_divide", [F(3), P(3)], {}), ("power", [P(4), F(4)], {}), ("power", [I(4), I(4)], {}),
    ("negative", [F(3)], {}), ("abs", [F(5)], {}), ("absolute", [I(5, lo=-3)], {}),
    ("square", [F(4)], {}), ("square", [I(4)], {}), ("sqrt", [P(4)], {}), ("exp", [F(4)], {}),
    ("log", [P(4)], {}), ("clip", [F(6), -0.5, 0.5], {}), ("maximum", [F(3), F(3)], {}),
    ("minimum", [F(3), 0.0], {}), ("maximum", [I(3), I(3)], {}),
    ("sin", [F(4)], {}), ("cos", [F(4)], {}), ("tan", [F(4)], {}), ("arcsin", [U(4)], {}),
    ("arccos", [U(4)], {}), ("arctan", [F(4)], {}), ("sinh", [F(4)], {}), ("cosh", [F(4)], {}),
    ("tanh", [F(4)], {}), ("arcsinh", [F(4)], {}), ("arccosh", [F(4, lo=1.5, hi=3)], {}),
    ("arctanh", [U(4)], {}), ("exp2", [F(4)], {}), ("expm1", [F(4)], {}), ("log1p", [P(4)], {}),
    ("log2", [P(4)], {}), ("log10", [P(4)], {}), ("reciprocal", [P(4)], {}),
    ("rsqrt", [P(4)], {}), ("cbrt", [P(4)], {}), ("deg2rad", [F(3)], {}),
    ("rad2deg", [F(3)], {}), ("erf", [F(5)], {}), ("erfinv", [U(5)], {}), ("sign", [F(4)], {}),
    ("floor", [F(4) * 3], {}), ("ceil", [F(4) * 3], {}), ("round", [F(4) * 3], {}),
    ("trunc", [F(4) * 3], {}), ("sin", [I(3)], {}), ("sinc", [F(4)], {}),
    ("arctan2", [F(4), F(4)], {}), ("hypot", [F(4), F(4)], {}), ("logaddexp", [F(4), F(4)], {}),
    ("logaddexp2", [F(4), F(4)], {}), ("mod", [P(4) * 3, P(4)], {}),
    ("floor_divide", [I(4), I(4, lo=1)], {}), ("fmod", [P(4) * 3, P(4)], {}),
    ("divide_no_nan", [F(4), np.array([0, 1, 0, 2], np.float32)], {}),
    ("equal", [I(5), I(5)], {}), ("not_equal", [F(4), F(4)], {}), ("greater", [F(4), 0.0], {}),
    ("greater_equal", [I(4), 2], {}), ("less", [F(4), F(4)], {}), ("less_equal", [I(4), I(4)], {}),
    ("logical_and", [I(4) > 2, I(4) > 1], {}), ("logical_or", [I(4) > 2, I(4) > 1], {}),
    ("logical_not", [I(4) > 2], {}), ("logical_xor", [I(4) > 2, I(4) > 1], {}),
    ("isnan", [np.array([1, np.nan], np.float32)], {}), ("isfinite", [F(3)], {}),
    ("bitwise_and", [I(4), I(4)], {}), ("bitwise_xor", [I(4), I(4)], {}),
    ("left_shift", [I(4), I(4, hi=3)], {}), ("isclose", [F(3), F(3)], {}),
    ("nan_to_num", [np.array([1, np.nan, np.inf, -np.inf], np.float32)],
     {"posinf": 9.0, "neginf": -8.0}),
    # creation
    ("zeros", [(2, 3)], {}), ("ones", [(2,)], {"dtype": "int32"}), ("full", [(2, 2), 3.0], {}),
    ("zeros_like", [I(3)], {}), ("ones_like", [F(2, 2)], {}), ("full_like", [F(3), 2], {}),
    ("arange", [5], {}), ("arange", [1.0, 3.0, 0.5], {}), ("linspace", [0.0, 1.0, 5], {}),
    ("logspace", [0.0, 2.0, 4], {}), ("eye", [3], {}), ("eye", [3, 4, 1], {}),
    ("identity", [3], {}), ("tri", [3], {}), ("hamming", [5], {}), ("hanning", [5], {}),
    ("cast", [F(4) * 3, "int32"], {}), ("cast", [I(3), "float32"], {}),
    ("convert_to_tensor", [[1, 2]], {}), ("convert_to_tensor", [[1.0, 2.0]], {}),
    # shape and indexing
    ("reshape", [F(2, 3), (3, 2)], {}), ("reshape", [I(2, 3), (-1,)], {}),
    ("transpose", [F(2, 3, 4), (2, 0, 1)], {}), ("expand_dims", [F(2, 3), 1], {}),
    ("squeeze", [F(2, 1, 3)], {}), ("concatenate", [[F(2, 3), F(1, 3)]], {}),
    ("concatenate", [[I(2, 3), I(2, 2)]], {"axis": 1}), ("stack", [[F(2), F(2)]], {"axis": 1}),
    ("hstack", [[F(2, 3), F(2, 1)]], {}), ("vstack", [[F(2, 3), F(1, 3)]], {}),
    ("append", [F(2, 2), F(1, 2)], {"axis": 0}), ("flip", [F(2, 3)], {"axis": 1}),
    ("roll", [F(5), 2], {}), ("rot90", [F(2, 3)], {}), ("tile", [F(2, 3), (2, 1)], {}),
    ("repeat", [F(2, 3), 2], {"axis": 1}), ("moveaxis", [F(2, 3, 4), 0, -1], {}),
    ("swapaxes", [F(2, 3, 4), 0, 2], {}), ("ravel", [F(2, 3)], {}),
    ("broadcast_to", [F(3), (2, 3)], {}), ("diagonal", [F(3, 3)], {}), ("diag", [F(3)], {}),
    ("diag", [F(3, 3)], {}), ("tril", [F(3, 3)], {}), ("triu", [F(3, 3), 1], {}),
    ("take", [F(4, 3), np.array([3, 0, 0])], {"axis": 0}), ("take", [F(5), np.array([1, -1])], {}),
    ("take_along_axis", [F(3, 4), I(3, 2, hi=4)], {"axis": 1}),
    ("where", [I(2, 3) > 2, F(2, 3), F(3)], {}), ("where", [I(4) > 2, I(4), 0], {}),
    ("pad", [F(2, 3), ((1, 0), (2, 1))], {}), ("pad", [F(2, 3), ((1, 1), (1, 1))],
                                                 {"mode": "reflect"}),
    ("slice", [F(4, 5), (1, 2), (2, 3)], {}),
    ("slice_update", [F(4, 5), (1, 2), F(2, 2)], {}),
    ("scatter", [np.array([[0, 1], [2, 0], [0, 1]]), F(3), (3, 2)], {}),
    ("scatter_update", [F(3, 2), np.array([[0, 1], [2, 0]]), F(2)], {}),
    ("split", [F(4, 2), 2], {}), ("array_split", [F(5, 2), 2], {}), ("unstack", [F(3, 2)], {}),
    ("get_item", [F(4, 3), (slice(1, 3), 0)], {}), ("select", [[I(4) > 2, I(4) > 0],
                                                              [F(4), F(4)]], {}),
    # reductions, statistics, sorting
    ("sum", [F(2, 3)], {"axis": 1}), ("sum", [I(2, 3)], {}), ("mean", [F(2, 3)], {"axis": 0}),
    ("mean", [I(4)], {}), ("max", [F(2, 3)], {"axis": 1}), ("min", [F(2, 3)], {}),
    ("amax", [F(2, 3)], {"axis": 0, "keepdims": True}), ("amin", [I(5)], {}),
    ("prod", [F(2, 3)], {"axis": 1}), ("prod", [F(4)], {}), ("var", [F(3, 4)], {"axis": 1}),
    ("std", [F(3, 4)], {}), ("logsumexp", [F(3, 4)], {"axis": 1}),
    ("cumsum", [F(3, 4)], {"axis": 1}), ("cumsum", [I(5)], {}), ("cumprod", [F(2, 4)], {"axis": 1}),
    ("median", [F(3, 5)], {"axis": 1}), ("quantile", [F(3, 5), 0.3], {"axis": 1}),
    ("percentile", [F(7), 40.0], {}), ("average", [F(3, 4)], {"axis": 1, "weights": P(4)}),
    ("ptp", [F(3, 4)], {"axis": 1}), ("sort", [F(3, 4)], {}), ("argsort", [F(6)], {}),
    ("argmax", [F(3, 4)], {"axis": 1}), ("argmin", [F(3, 4)], {}),
    ("all", [I(4) > 0], {}), ("any", [I(3, 2) > 3], {"axis": 0}),
    ("count_nonzero", [I(3, 4)], {"axis": 1}), ("nansum", [np.array([1, np.nan, 2], np.float32)], {}),
    ("nanmean", [np.array([1, np.nan, 2], np.float32)], {}), ("trace", [F(3, 3)], {}),
    ("diff", [F(5)], {}), ("diff", [F(3, 5)], {"n": 2, "axis": 1}),
    ("trapezoid", [F(6)], {}), ("bincount", [I(8)], {}), ("digitize", [F(5), np.sort(F(3))], {}),
    ("searchsorted", [np.sort(F(5)), F(3)], {}),
    ("segment_sum", [F(5, 2), np.array([0, 0, 1, 2, 2])], {"num_segments": 3}),
    ("segment_max", [F(5, 2), np.array([0, 0, 1, 2, 2])], {"num_segments": 3}),
    ("isin", [I(5), np.array([1, 2])], {}),
    # products and linear algebra
    ("matmul", [F(2, 3), F(3, 4)], {}), ("matmul", [I(2, 3), I(3, 2)], {}),
    ("dot", [F(2, 3), F(3)], {}), ("tensordot", [F(2, 3, 4), F(3, 4, 2)], {"axes": 2}),
    ("einsum", ["ij,jk->ik", F(2, 3), F(3, 4)], {}), ("einsum", ["bij->bj", F(2, 3, 4)], {}),
    ("inner", [F(3), F(3)], {}), ("outer", [F(3), F(2)], {}), ("vdot", [F(4), F(4)], {}),
    ("kron", [F(2, 2), F(2, 3)], {}), ("cross", [F(2, 3), F(2, 3)], {}),
    ("inv", [SPD], {}), ("det", [SPD], {}), ("solve", [SPD, F(3, 2)], {}),
    ("norm", [F(3, 4)], {}), ("norm", [F(3, 4)], {"axis": 1}), ("norm", [F(4)], {"ord": 1}),
    ("logdet", [SPD], {}), ("cholesky", [SPD], {}),
    # nn
    ("relu", [F(5)], {}), ("relu6", [F(5) * 8], {}), ("sigmoid", [F(5)], {}),
    ("softplus", [F(5)], {}), ("softsign", [F(5)], {}), ("silu", [F(5)], {}),
    ("log_sigmoid", [F(5)], {}), ("leaky_relu", [F(5)], {}), ("hard_sigmoid", [F(5) * 4], {}),
    ("hard_silu", [F(5) * 4], {}), ("elu", [F(5)], {}), ("selu", [F(5)], {}),
    ("gelu", [F(5)], {}), ("gelu", [F(5)], {"approximate": False}), ("celu", [F(5)], {}),
    ("glu", [F(2, 4)], {}), ("hard_tanh", [F(5) * 2], {}), ("hard_shrink", [F(5)], {}),
    ("soft_shrink", [F(5)], {}), ("tanh_shrink", [F(5)], {}), ("sparse_plus", [F(5) * 2], {}),
    ("sparse_sigmoid", [F(5) * 2], {}), ("squareplus", [F(5)], {}),
    ("threshold", [F(5), 0.1, -2.0], {}),
    ("softmax", [F(3, 4)], {}), ("log_softmax", [F(3, 4)], {"axis": 0}),
    ("one_hot", [I(4), 5], {}), ("multi_hot", [I(2, 3), 5], {}),
    ("conv", [F(2, 6, 6, 3), F(3, 3, 3, 4)], {"padding": "same"}),
    ("conv", [F(2, 7, 3), F(3, 3, 2)], {"strides": 2}),
    ("depthwise_conv", [F(2, 5, 5, 3), F(3, 3, 3, 2)], {}),
    ("separable_conv", [F(2, 5, 5, 3), F(3, 3, 3, 2), F(1, 1, 6, 4)], {}),
    ("max_pool", [F(2, 4, 4, 3), 2], {}), ("average_pool", [F(2, 6, 3), 3], {"strides": 2}),
    ("adaptive_average_pool", [F(2, 5, 7, 3), (2, 3)], {}),
    ("adaptive_max_pool", [F(2, 5, 7, 3), (2, 3)], {}),
    ("batch_normalization", [F(3, 4), F(4), P(4), -1], {"offset": F(4), "scale": F(4)}),
    ("moments", [F(3, 4), [0]], {}), ("layer_normalization", [F(3, 4)], {}),
    ("rms_normalization", [F(3, 4)], {"scale": F(4)}), ("normalize", [F(3, 4)], {}),
    ("binary_crossentropy", [I(3, 2, hi=2).astype(np.float32), P(3, 2) / 2.5], {}),
    ("binary_crossentropy", [I(3, 2, hi=2).astype(np.float32), F(3, 2)], {"from_logits": True}),
    ("categorical_crossentropy", [np.eye(3, dtype=np.float32)[[0, 2]], P(2, 3)], {}),
    ("categorical_crossentropy", [np.eye(3, dtype=np.float32)[[0, 2]], F(2, 3)],
     {"from_logits": True}),
    ("sparse_categorical_crossentropy", [np.array([0, 2]), F(2, 3)], {"from_logits": True}),
    ("dot_product_attention", [F(2, 3, 2, 4), F(2, 5, 2, 4), F(2, 5, 2, 4)], {}),
    ("dot_product_attention", [F(1, 3, 1, 2), F(1, 3, 1, 2), F(1, 3, 1, 2)], {"is_causal": True}),
    ("psnr", [P(2, 4, 4, 1), P(2, 4, 4, 1), 2.0], {}),
    ("depth_to_space", [F(1, 2, 2, 8), 2], {}), ("space_to_depth", [F(1, 4, 4, 2), 2], {}),
    ("top_k", [F(3, 6), 2], {}), ("in_top_k", [np.array([0, 3]), F(2, 5), 2], {}),
    ("extract_sequences", [F(2, 10), 4, 3], {}),
    ("conv_transpose", [F(2, 4, 4, 3), F(3, 3, 2, 3)], {"strides": 2, "padding": "same"}),
    ("conv_transpose", [F(2, 4, 4, 3), F(3, 2, 2, 3)], {"strides": 2}),
    ("conv_transpose", [F(2, 5, 3), F(3, 2, 3)], {"padding": "same"}),
    ("conv_transpose", [F(1, 5, 2), F(4, 3, 2)], {"strides": 3, "output_padding": 1}),
    ("unfold", [F(2, 3, 5, 6), 3], {"padding": 1, "stride": 2}),
    ("fold", [F(2, 12, 6), (3, 4), 2], {}),
    ("ctc_loss", [np.array([[1, 2, 2], [3, 1, 0]]), F(2, 7, 4) * 2, np.array([3, 2]),
                  np.array([7, 5])], {}),
    ("ctc_decode", [F(2, 6, 4) * 3, np.array([6, 4])], {}),
    ("rearrange", [F(2, 3, 4, 5), "b h w c -> b (h w) c"], {}),
    ("rearrange", [F(2, 12, 5), "b (h w) c -> b c w h"], {"h": 3}),
]


# Keras's torch backend returns torch's int64 indices here; its jax and tensorflow backends give
# int32, as grebe does everywhere.
INT32_INDICES = {"top_k"}


def _to_torch(a):
    if isinstance(a, np.ndarray) and a.dtype == np.float32:
        return torch.tensor(a, requires_grad=True)
    if isinstance(a, list) and a and all(isinstance(v, np.ndarray) for v in a):
        return [_to_torch(v) for v in a]
    return a


def _to_grebe(a):
    if isinstance(a, np.ndarray) and a.dtype == np.float32:
        return grebe.tensor(a, requires_grad=True)
    if isinstance(a, np.ndarray):
        return grebe.tensor(a)
    if isinstance(a, list) and a and all(isinstance(v, np.ndarray) for v in a):
        return [_to_grebe(v) for v in a]
    return a


def _leaves(x):
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _leaves(item)]
    return [x]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_keras_ops_match_keras(case):
    name, args, kwargs = case
    targs = [_to_torch(a) for a in args]
    gargs = [_to_grebe(a) for a in args]
    kout = getattr(keras.ops, name)(*targs, **kwargs)
    gout = getattr(ops, name)(*gargs, **kwargs)
    kl, gl = _leaves(kout), _leaves(gout)
    assert len(kl) == len(gl), f"{name}: {len(gl)} outputs, keras {len(kl)}"
    loss_k, loss_g = 0, None
    for k, g in zip(kl, gl):
        kv = keras.ops.convert_to_numpy(k)
        assert isinstance(g, grebe.Tensor), f"{name}: returned {type(g)}"
        assert g.numpy().shape == kv.shape, f"{name}: shape {g.numpy().shape} vs {kv.shape}"
        if name in INT32_INDICES and kv.dtype == np.int64:
            kv = kv.astype(np.int32)
        assert str(g.dtype) == str(kv.dtype), f"{name}: dtype {g.dtype} vs keras {kv.dtype}"
        np.testing.assert_allclose(g.numpy(), kv, rtol=2e-4, atol=2e-5, err_msg=name)
        if kv.dtype == np.float32 and getattr(k, "requires_grad", False):
            assert g.requires_grad, f"{name}: keras's result is differentiable, grebe's is not"
            up = rng.standard_normal(kv.shape).astype(np.float32)
            loss_k = loss_k + (k * torch.tensor(up)).sum()
            term = (g * up).sum()
            loss_g = term if loss_g is None else loss_g + term
    if loss_g is None:
        return
    loss_g.backward()
    loss_k.backward()
    for t, g in zip(_leaves(targs), _leaves(gargs)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            want = np.zeros(t.shape, np.float32) if t.grad is None else t.grad.numpy()
            got = np.zeros(t.shape, np.float32) if g.grad is None else g.grad
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4,
                                       err_msg=f"{name}: gradient")


def test_eigh_values_vectors_and_gradients_match_torch():
    a = SPD.astype(np.float64)
    x = grebe.tensor(SPD, requires_grad=True)
    w, v = ops.eigh(x)
    tw, tv = torch.linalg.eigh(torch.tensor(SPD, requires_grad=True))
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(a), rtol=1e-5)
    # Eigenvectors are defined up to sign: compare v v^T-style sign-free quantities.
    np.testing.assert_allclose(np.abs(v.numpy()), np.abs(tv.detach().numpy()), atol=1e-5)
    up_w, up_v = F(3), F(3, 3)
    ((w * up_w).sum() + (v * v * up_v).sum()).backward()
    t = torch.tensor(SPD, requires_grad=True)
    tw, tv = torch.linalg.eigh(t)
    ((tw * torch.tensor(up_w)).sum() + (tv * tv * torch.tensor(up_v)).sum()).backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-3, atol=1e-4)


def _sparsemax_reference(z):
    """Martins & Astudillo (2016), algorithm 1, one row at a time in float64."""
    out = np.zeros_like(z, dtype=np.float64)
    for i, row in enumerate(z.astype(np.float64)):
        s = np.sort(row)[::-1]
        k = np.arange(1, len(row) + 1)
        support = 1 + k * s > np.cumsum(s)
        kz = k[support][-1]
        tau = (np.cumsum(s)[kz - 1] - 1) / kz
        out[i] = np.maximum(row - tau, 0)
    return out


def test_sparsemax_projects_onto_the_simplex_with_exact_gradients():
    from helpers import check_op

    z = F(3, 5) * 2
    y = check_op(lambda t: ops.sparsemax(t), _sparsemax_reference, None, inputs=[z])
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-5)


IMAGE_CASES = [
    ("rgb_to_grayscale", [F(2, 4, 5, 3)], {}),
    ("pad_images", [F(1, 3, 4, 2)], {"top_padding": 1, "left_padding": 2,
                                     "target_height": 6, "target_width": 7}),
    ("crop_images", [F(1, 6, 7, 2)], {"top_cropping": 1, "left_cropping": 2,
                                      "target_height": 3, "target_width": 4}),
    ("resize", [F(2, 4, 6, 3), (8, 3)], {"interpolation": "bilinear"}),
    ("resize", [F(2, 4, 6, 3), (2, 9)], {"interpolation": "nearest"}),
]


@pytest.mark.parametrize("name, args, kwargs", IMAGE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(IMAGE_CASES)])
def test_keras_ops_image_match_keras(name, args, kwargs):
    targs = [_to_torch(a) for a in args]
    gargs = [_to_grebe(a) for a in args]
    k = getattr(keras.ops.image, name)(*targs, **kwargs)
    g = getattr(ops.image, name)(*gargs, **kwargs)
    np.testing.assert_allclose(g.numpy(), k.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = rng.standard_normal(tuple(g.shape)).astype(np.float32)
    (g * up).sum().backward()
    (k * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(gargs[0].grad, targs[0].grad.numpy(), rtol=1e-3, atol=1e-4)
