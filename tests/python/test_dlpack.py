"""DLPack: zero-copy exchange with numpy and PyTorch, proven by writes through one view being
seen in the other; non-float32 and non-contiguous inputs converted or refused clearly."""
import numpy as np
import pytest
import torch

import grebe


def test_torch_to_grebe_shares_memory():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    g = grebe.from_dlpack(t)
    assert g.shape == (2, 3) and g.dtype == np.float32
    t[0, 1] = 42.0
    assert g.numpy()[0, 1] == 42.0
    g.data[1, 2] = -7.0
    assert t[1, 2].item() == -7.0
    y = (g * 2.0).sum()          # grebe ops run on it
    assert float(y) == pytest.approx(float(t.sum()) * 2.0)


def test_grebe_to_torch_and_numpy_share_memory():
    g = grebe.tensor(np.ones((3, 4), np.float32))
    t = torch.from_dlpack(g)
    a = np.from_dlpack(g)
    t[2, 3] = 5.0
    assert g.numpy()[2, 3] == 5.0 and a[2, 3] == 5.0
    a[0, 0] = -1.0
    assert t[0, 0].item() == -1.0
    assert g.__dlpack_device__() == (1, 0)  # kDLCPU, device 0


def test_numpy_roundtrip_and_integer_labels():
    labels = np.array([1, 2, 3], np.int64)
    g = grebe.from_dlpack(labels)
    labels[0] = 9
    assert g.numpy()[0] == 9 and g.dtype == np.int64


def test_other_dtypes_and_layouts_convert_or_refuse():
    t64 = torch.ones(2, 2, dtype=torch.float64)
    g = grebe.from_dlpack(t64)               # copy=None: converted
    assert g.dtype == np.float32
    t64[0, 0] = 3.0
    assert g.numpy()[0, 0] == 1.0            # a copy, not shared
    with pytest.raises(ValueError, match="dtype float64"):
        grebe.from_dlpack(t64, copy=False)
    strided = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()
    with pytest.raises(ValueError, match="non-contiguous"):
        grebe.from_dlpack(strided, copy=False)
    np.testing.assert_array_equal(grebe.from_dlpack(strided).numpy(), strided.numpy())
    with pytest.raises(TypeError, match="__dlpack__"):
        grebe.from_dlpack([1.0, 2.0])


def test_requires_grad_through_dlpack():
    t = torch.tensor([1.0, 2.0, 3.0])
    g = grebe.from_dlpack(t, requires_grad=True)
    (g * g).sum().backward()
    np.testing.assert_allclose(g.grad, 2 * t.numpy())
