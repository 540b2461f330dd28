"""Shape and indexing ops: reshape, transpose, expand_dims, squeeze, flatten, concatenate, stack,
split, getitem (slices, negative steps, int and bool arrays, repeats), where, pad."""
import numpy as np
import pytest
import torch

import grebe
from grebe import ops
from helpers import check_op


def test_reshape_family():
    check_op(lambda x: ops.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), [(3, 4)],
             torch_fn=lambda x: x.reshape(4, 3))
    check_op(lambda x: x.reshape(-1, 2), lambda x: x.reshape(-1, 2), [(2, 3, 2)])
    check_op(lambda x: ops.expand_dims(x, -1), lambda x: x[..., None], [(2, 3)])
    check_op(lambda x: ops.squeeze(x, 1), lambda x: x[:, 0], [(2, 1, 3)])
    check_op(lambda x: ops.squeeze(x), lambda x: x.reshape(2, 3), [(1, 2, 1, 3)])
    check_op(lambda x: ops.flatten(x, 1), lambda x: x.reshape(2, -1), [(2, 3, 4)],
             torch_fn=lambda x: torch.flatten(x, 1))
    assert ops.flatten(np.ones((2, 3), np.float32)).shape == (6,)


def test_transpose_permute_outputs_are_contiguous():
    y = check_op(lambda x: ops.transpose(x, (2, 0, 1)), lambda x: x.transpose(2, 0, 1),
                 [(2, 3, 4)], torch_fn=lambda x: x.permute(2, 0, 1))
    assert y.numpy().flags.c_contiguous
    check_op(lambda x: x.T, lambda x: x.T, [(3, 5)])
    check_op(lambda x: ops.permute(x, (1, 0)), lambda x: x.T, [(3, 5)])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_stack(axis):
    check_op(lambda a, b, c: ops.concatenate([a, b, c], axis),
             lambda a, b, c: np.concatenate([a, b, c], axis), [(2, 3), (2, 3), (2, 3)],
             torch_fn=lambda a, b, c: torch.cat([a, b, c], axis))
    check_op(lambda a, b: ops.stack([a, b], axis), lambda a, b: np.stack([a, b], axis),
             [(2, 3), (2, 3)], torch_fn=lambda a, b: torch.stack([a, b], axis))


def test_concatenate_uneven_and_split():
    check_op(lambda a, b: ops.concatenate([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
             [(2, 1), (2, 4)])
    check_op(lambda x: ops.split(x, 3, axis=1)[1], lambda x: np.split(x, 3, axis=1)[1],
             [(2, 6)])
    check_op(lambda x: ops.split(x, [1, 4])[0] * 2 + ops.split(x, [1, 4])[2].sum(),
             lambda x: np.split(x, [1, 4])[0] * 2 + np.split(x, [1, 4])[2].sum(), [(6, 2)])
    with pytest.raises(ValueError, match="split: cannot split axis 1 of length 6 into 4"):
        ops.split(np.ones((2, 6), np.float32), 4, axis=1)


@pytest.mark.parametrize("idx", [
    (slice(None), 1), (slice(1, None), slice(None, None, -1)), (slice(None, None, -2),),
    (Ellipsis, 0), (1,), (None, slice(1, 3)), (-1, slice(None, None, -1)),
])
def test_getitem_basic(idx):
    check_op(lambda x: x[idx], lambda x: x[idx], [(4, 5)])


def test_getitem_vs_torch_negative_step_via_flip():
    check_op(lambda x: x[::-1, 1:], lambda x: x[::-1, 1:], [(4, 5)],
             torch_fn=lambda x: torch.flip(x, (0,))[:, 1:])


def test_getitem_integer_arrays_scatter_add_repeats():
    idx = np.array([0, 2, 2, 3, 0])
    check_op(lambda x: x[idx], lambda x: x[idx], [(4, 3)], torch_fn=lambda x: x[idx])
    check_op(lambda x: x[:, [1, 1, 0]], lambda x: x[:, [1, 1, 0]], [(2, 3)])
    rows, cols = np.array([0, 1, 1]), np.array([2, 0, 2])
    check_op(lambda x: x[rows, cols], lambda x: x[rows, cols], [(2, 3)],
             torch_fn=lambda x: x[rows, cols])
    check_op(lambda x: x[grebe.tensor(idx)], lambda x: x[idx], [(4, 3)])
    x = grebe.tensor(np.ones(3, np.float32), requires_grad=True)
    x[np.array([1, 1, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 0])


def test_getitem_boolean_mask():
    mask = np.array([[True, False, True], [False, False, True]])
    check_op(lambda x: x[mask], lambda x: x[mask], [(2, 3)], torch_fn=lambda x: x[mask])
    check_op(lambda x: x[np.array([True, False, True])], lambda x: x[[0, 2]], [(3, 2)])


def test_getitem_errors_name_op_and_shape():
    x = grebe.tensor(np.ones((3, 4), np.float32))
    with pytest.raises(IndexError, match=r"getitem: .*\(input shape \(3, 4\)\)"):
        x[5]
    with pytest.raises(TypeError, match="getitem: index arrays must be integer"):
        x[np.array([0.5])]


def test_where():
    cond = np.array([[True, False, True], [False, True, False]])
    check_op(lambda a, b: ops.where(cond, a, b), lambda a, b: np.where(cond, a, b),
             [(2, 3), (3,)], torch_fn=lambda a, b: torch.where(torch.tensor(cond), a, b))
    check_op(lambda a: ops.where(cond, a, 0.0), lambda a: np.where(cond, a, 0.0), [(2, 3)])


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
def test_pad(mode):
    widths = ((1, 2), (0, 3))
    check_op(lambda x: ops.pad(x, widths, mode), lambda x: np.pad(x, widths, mode=mode),
             [(4, 5)])


def test_pad_constant_value_and_torch():
    check_op(lambda x: ops.pad(x, ((0, 0), (2, 1)), constant_values=3.0),
             lambda x: np.pad(x, ((0, 0), (2, 1)), constant_values=3.0), [(2, 3)],
             torch_fn=lambda x: torch.nn.functional.pad(x, (2, 1), value=3.0))


def test_shape_errors_name_the_op_and_shapes():
    x = grebe.tensor(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape an input of shape \(3, 4\)"):
        ops.reshape(x, (5,))
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0\)"):
        ops.transpose(x, (0, 0))
    with pytest.raises(ValueError, match=r"concatenate: shapes \(3, 4\) and \(2, 5\)"):
        ops.concatenate([x, np.ones((2, 5))], axis=0)
    with pytest.raises(ValueError, match=r"stack: .* \(3, 4\) and \(4, 3\)"):
        ops.stack([x, np.ones((4, 3))])
    with pytest.raises(ValueError, match="squeeze: cannot squeeze axis 0 of length 3"):
        ops.squeeze(x, 0)
    with pytest.raises(ValueError, match=r"pad: pad_width .* shape \(3, 4\)"):
        ops.pad(x, ((1, 1), (1, 1), (1, 1)))
    with pytest.raises(ValueError, match="where: shapes"):
        ops.where(np.ones((2, 2), bool), x, 0.0)
