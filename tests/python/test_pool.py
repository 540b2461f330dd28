"""Pooling ops and layers: values and gradients against a float64 numpy reference (finite
differences) and PyTorch (NHWC <-> NCHW; TF's asymmetric 'same' padding done explicitly),
layer lifecycle (run_layer_test), errors, thread-count invariance."""
import numpy as np
import pytest

import grebe
from grebe import layers, ops
from helpers import check_op, run_layer_test, torch_or_none

torch = torch_or_none()
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def np_pool2d(x, pool, strides, padding, mode):
    """The definition over (N, H, W, C) in float64: TF's 'same' (padding excluded)."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = pool, strides
    if padding == "same":
        p, pt, _ = same_pads(h, kh, sh)
        q, pl, _ = same_pads(w, kw, sw)
    else:
        p, q, pt, pl = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
    y = np.empty((n, p, q, c), dtype=np.float64)
    for i in range(p):
        for j in range(q):
            h0, w0 = i * sh - pt, j * sw - pl
            win = x[:, max(h0, 0):min(h0 + kh, h), max(w0, 0):min(w0 + kw, w), :]
            y[:, i, j, :] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return y


def np_pool1d(x, pool, strides, padding, mode):
    return np_pool2d(x[:, None], (1, pool), (1, strides), padding, mode)[:, 0]


def torch_pool2d(x, pool, strides, padding, mode):
    """PyTorch on the NCHW view; 'same' pads explicitly (-inf for max; for avg, zeros and a
    division by the pooled count of real positions, i.e. count_include_pad=False)."""
    F = torch.nn.functional
    t = x.permute(0, 3, 1, 2)
    if padding == "same":
        _, pt, pb = same_pads(t.shape[2], pool[0], strides[0])
        _, pl, pr = same_pads(t.shape[3], pool[1], strides[1])
        if mode == "max":
            y = F.max_pool2d(F.pad(t, (pl, pr, pt, pb), value=-float("inf")), pool, strides)
        else:
            ones = torch.ones_like(t[:1, :1])
            y = F.avg_pool2d(F.pad(t, (pl, pr, pt, pb)), pool, strides) / \
                F.avg_pool2d(F.pad(ones, (pl, pr, pt, pb)), pool, strides)
    else:
        y = (F.max_pool2d if mode == "max" else F.avg_pool2d)(t, pool, strides)
    return y.permute(0, 2, 3, 1)


def distinct(shape, seed=0):
    """Values at least 0.01 apart: finite differences never change a window's winner."""
    n = int(np.prod(shape))
    perm = np.random.default_rng(seed).permutation(n)
    return ((perm - n / 2) * 0.01).reshape(shape).astype(np.float32)


CASES_2D = [  # shape, pool, strides, padding
    ((2, 5, 7, 3), (2, 2), (2, 2), "valid"),
    ((1, 5, 7, 3), (3, 3), (2, 2), "same"),      # overlapping, uneven padding
    ((2, 4, 4, 1), (2, 2), (1, 1), "valid"),     # C = 1, stride 1
    ((1, 6, 5, 2), (3, 2), (1, 3), "same"),      # stride > pool on one axis
    ((1, 3, 3, 4), (3, 3), (3, 3), "same"),
    ((1, 4, 5, 2), (4, 5), (1, 1), "valid"),     # one window covers all
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,pool,strides,padding", CASES_2D)
def test_pool2d_gradients_and_torch(mode, shape, pool, strides, padding):
    fn = ops.max_pool2d if mode == "max" else ops.avg_pool2d
    check_op(lambda x: fn(x, pool, strides, padding),
             lambda x: np_pool2d(x, pool, strides, padding, mode), [shape],
             inputs=[distinct(shape)],
             torch_fn=(lambda t: torch_pool2d(t, pool, strides, padding, mode)) if torch else None)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((2, 9, 3), 2, 2, "valid"), ((1, 9, 2), 3, 2, "same"), ((3, 6, 1), 4, 1, "same"),
    ((1, 5, 4), 2, 3, "valid")])
def test_pool1d_gradients(mode, shape, pool, strides, padding):
    fn = ops.max_pool1d if mode == "max" else ops.avg_pool1d
    out = check_op(lambda x: fn(x, pool, strides, padding),
                   lambda x: np_pool1d(x, pool, strides, padding, mode), [shape],
                   inputs=[distinct(shape, 1)])
    assert out.ndim == 3


@needs_torch
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_seed_cnn_shape_vs_torch(mode):
    """The seed CNN's pools at batch 8: forward and input gradient vs torch NCHW."""
    rng = np.random.default_rng(3)
    for shape in [(8, 30, 30, 32), (8, 13, 13, 64)]:
        x = rng.standard_normal(shape).astype(np.float32)
        dy = rng.standard_normal((shape[0], shape[1] // 2, shape[2] // 2, shape[3]))
        xg = grebe.tensor(x, requires_grad=True)
        y = (ops.max_pool2d if mode == "max" else ops.avg_pool2d)(xg, 2)
        y.backward(dy.astype(np.float32))
        xt = torch.tensor(x, requires_grad=True)
        yt = torch_pool2d(xt, (2, 2), (2, 2), "valid", mode)
        yt.backward(torch.tensor(dy, dtype=torch.float32))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@needs_torch
def test_max_pool_big_window_int32_argmax():
    """A 17x17 window has 289 positions: the int32 argmax path, forward and backward."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 17, 17, 3)).astype(np.float32)
    xg = grebe.tensor(x, requires_grad=True)
    y = ops.max_pool2d(xg, 17, 1, "same")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_pool2d(xt, (17, 17), (1, 1), "same", "max")
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy())
    np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 7, 2), (1, 1, 1, 1)])
def test_global_pool_gradients(shape, keepdims):
    axes = tuple(range(1, len(shape) - 1))
    check_op(lambda x: ops.global_avg_pool(x, keepdims),
             lambda x: x.mean(axis=axes, keepdims=keepdims), [shape],
             torch_fn=(lambda t: t.mean(dim=axes, keepdim=keepdims)) if torch else None)
    check_op(lambda x: ops.global_max_pool(x, keepdims),
             lambda x: x.max(axis=axes, keepdims=keepdims), [shape], inputs=[distinct(shape, 2)],
             torch_fn=(lambda t: t.amax(dim=axes, keepdim=keepdims)) if torch else None)


def test_keras_op_names_dispatch_on_rank():
    x3 = distinct((2, 6, 3))
    x4 = distinct((2, 4, 4, 3))
    np.testing.assert_array_equal(ops.max_pool(x3, 2).numpy(), ops.max_pool1d(x3, 2).numpy())
    np.testing.assert_array_equal(ops.average_pool(x4, 2).numpy(),
                                  ops.avg_pool2d(x4, 2).numpy())
    with pytest.raises(ValueError, match="rank 3"):
        ops.max_pool(np.zeros((2, 3), np.float32), 2)


def test_op_errors_name_the_op_and_shapes():
    x = np.zeros((1, 2, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"max_pool2d: pool_size \(3, 3\) is larger than the "
                                         r"input \(2, 2\) with padding='valid'"):
        ops.max_pool2d(x, 3)
    assert ops.max_pool2d(x, 3, padding="same").shape == (1, 1, 1, 3)
    with pytest.raises(ValueError, match=r"avg_pool2d: expected an input of rank 4"):
        ops.avg_pool2d(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="pool_size"):
        ops.max_pool2d(x, (0, 1))
    with pytest.raises(ValueError, match="padding"):
        ops.max_pool2d(x, 1, padding="full")
    with pytest.raises(ValueError, match="rank >= 3"):
        ops.global_avg_pool(np.zeros((2, 3), np.float32))


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 30, 30, 32)).astype(np.float32)
    before = grebe.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 3):
            grebe.set_num_threads(t)
            res = []
            for fn in (ops.max_pool2d, ops.avg_pool2d):
                xg = grebe.tensor(x, requires_grad=True)
                y = fn(xg, 3, 2, "same")
                y.backward(np.ones(y.shape, np.float32))
                res += [y.numpy(), xg.grad]
            outs.append(res)
    finally:
        grebe.set_num_threads(before)
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)


# ---- layers -------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,kwargs,in_shape,out_shape", [
    (layers.MaxPooling2D, {}, (2, 5, 7, 3), (2, 2, 3, 3)),
    (layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 5, 7, 3),
     (2, 3, 4, 3)),
    (layers.AveragePooling2D, {"pool_size": (2, 3)}, (1, 4, 6, 2), (1, 2, 2, 2)),
    (layers.AveragePooling2D, {"padding": "SAME", "strides": (1, 1)}, (1, 3, 3, 2),
     (1, 3, 3, 2)),
    (layers.MaxPooling1D, {}, (2, 9, 4), (2, 4, 4)),
    (layers.MaxPooling1D, {"pool_size": 3, "strides": 1, "padding": "same"}, (2, 5, 4),
     (2, 5, 4)),
    (layers.AveragePooling1D, {"pool_size": 4}, (3, 8, 2), (3, 2, 2)),
    (layers.GlobalAveragePooling2D, {}, (2, 3, 4, 5), (2, 5)),
    (layers.GlobalAveragePooling2D, {"keepdims": True}, (2, 3, 4, 5), (2, 1, 1, 5)),
    (layers.GlobalMaxPooling2D, {}, (2, 3, 4, 5), (2, 5)),
    (layers.GlobalAveragePooling1D, {}, (2, 7, 3), (2, 3)),
    (layers.GlobalMaxPooling1D, {"keepdims": True}, (2, 7, 3), (2, 1, 3)),
])
def test_pooling_layers(cls, kwargs, in_shape, out_shape):
    run_layer_test(cls, kwargs, in_shape, out_shape, expected_num_trainable_weights=0,
                   expected_weight_shapes=[])


def test_pooling_layer_matches_op_and_keras_defaults():
    layer = layers.MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    cfg = layer.get_config()
    assert cfg["pool_size"] == (2, 2) and cfg["data_format"] == "channels_last"
    assert layers.MaxPooling1D().pool_size == (2,)
    assert layers.MaxPool2D is layers.MaxPooling2D
    x = distinct((2, 6, 6, 3))
    np.testing.assert_array_equal(layer(x).numpy(), np_pool2d(x, (2, 2), (2, 2), "valid",
                                                               "max"))


def test_pooling_layer_build_errors():
    with pytest.raises(ValueError, match=r"MaxPooling2D: pool_size \(3, 3\) is larger than the "
                                         r"input \(2, 2\) with padding='valid'"):
        layers.MaxPooling2D(3)(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"AveragePooling1D: pool_size 4 is larger than the "
                                         r"input 3"):
        layers.AveragePooling1D(4)(np.zeros((1, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"MaxPooling2D: expected an input of rank 4"):
        layers.MaxPooling2D()(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"GlobalMaxPooling1D: expected an input of rank 3"):
        layers.GlobalMaxPooling1D()(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="channels_last"):
        layers.MaxPooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match="pool_size"):
        layers.MaxPooling2D(pool_size=(2, 2, 2))
    with pytest.raises(ValueError, match="strides"):
        layers.AveragePooling2D(strides=0)


def test_pooling_compute_output_shape_keeps_unknown_dims():
    assert layers.MaxPooling2D().compute_output_shape((None, None, 9, 4)) == (None, None, 4, 4)
    assert layers.MaxPooling1D(3, padding="same").compute_output_shape((None, 10, 2)) == \
        (None, 4, 2)


def test_global_average_pooling_1d_mask():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 0, 0]], bool)
    xg = grebe.tensor(x, requires_grad=True)
    y = layers.GlobalAveragePooling1D()(xg, mask=mask)
    np.testing.assert_allclose(y.numpy(), [[1, 2], [6, 7]])
    y.sum().backward()
    np.testing.assert_allclose(xg.grad[:, :, 0], [[0.5, 0.5, 0], [1, 0, 0]])


def test_pool_in_a_small_cnn_trains():
    """Conv -> MaxPooling2D -> Flatten -> Dense: the gradient reaches the conv kernel."""
    model_layers = [layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                    layers.Flatten(), layers.Dense(2)]
    x = grebe.tensor(np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype(np.float32))
    h = x
    for la in model_layers:
        h = la(h)
    assert h.shape == (4, 2)
    h.sum().backward()
    assert model_layers[0].kernel.grad is not None
    assert np.abs(model_layers[0].kernel.grad).sum() > 0


def test_bindings_reject_bad_arguments():
    """The kernels trust their inputs: the bindings must refuse anything malformed."""
    from grebe import _C

    f32, u8 = np.float32, np.uint8
    with pytest.raises(ValueError, match="x_shape must be non-negative"):
        _C.max_pool2d_backward(np.zeros((1, 1, 1, 1), f32), np.zeros((1, 1, 1, 1), u8),
                               (1, -2, 2, 1), (2, 2), (2, 2), "valid")
    with pytest.raises(TypeError, match="argmax must be a C-contiguous uint8"):
        _C.max_pool2d_backward(np.zeros((1, 1, 1, 1), f32), np.zeros((1, 1, 1, 1), np.int32),
                               (1, 2, 2, 1), (2, 2), (2, 2), "valid")
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 1, 1, 1\)"):
        _C.max_pool2d_backward(np.zeros((1, 2, 1, 1), f32), np.zeros((1, 1, 1, 1), u8),
                               (1, 2, 2, 1), (2, 2), (2, 2), "valid")
    with pytest.raises(TypeError, match="float32"):
        _C.avg_pool2d_forward(np.zeros((1, 2, 2, 1)), (2, 2), (2, 2), "valid")
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.avg_pool2d_forward(np.zeros((1, 2, 4, 1), f32)[:, :, ::2], (2, 2), (2, 2), "valid")
    with pytest.raises(ValueError, match="outside"):
        _C.global_max_pool_backward(np.zeros((1, 2), f32), np.array([[0, 5]], np.int32), 3)
    with pytest.raises(ValueError, match=r"scale must have shape \(2,\)"):
        _C.batch_norm_apply(np.zeros((3, 2), f32), np.zeros(3, f32), np.zeros(2, f32))
