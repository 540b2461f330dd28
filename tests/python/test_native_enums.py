"""The integer codes that cross the C++/Python boundary come from the enums the bindings
export (Act, RnnCell, RnnAct), not from copies."""
import numpy as np
import pytest
import torch

from grebe import _C
from grebe.ops import activation as act_ops
from grebe.ops import rnn as rnn_ops

TORCH = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
         "silu": torch.nn.functional.silu, "softplus": torch.nn.functional.softplus,
         "gelu": torch.nn.functional.gelu, "selu": torch.selu, "relu6": torch.nn.functional.relu6}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_act_enum_member_selects_that_activation(name):
    x = np.linspace(-4, 4, 33, dtype=np.float32)
    y = _C.activation_forward(x, getattr(_C.Act, name), 0.0, None)
    np.testing.assert_allclose(y, TORCH[name](torch.from_numpy(x)).numpy(), rtol=1e-5,
                               atol=1e-6)
    assert act_ops.ACT_CODES[name] == int(getattr(_C.Act, name))


def test_grad_from_output_set_agrees_with_the_backward_kernel():
    x = np.linspace(-2.9, 2.9, 25, dtype=np.float32)  # clear of the kinks at +-3 and 6
    dy = np.ones_like(x)
    for name, code in act_ops.ACT_CODES.items():
        y = _C.activation_forward(x, code, 0.3, None)
        if code in act_ops.GRAD_FROM_OUTPUT:
            dx = _C.activation_backward(dy, None, y, code, 0.3, None)
        else:
            dx = _C.activation_backward(dy, x, None, code, 0.3, None)
        h = 1e-3
        fd = (_C.activation_forward(x + h, code, 0.3, None) -
              _C.activation_forward(x - h, code, 0.3, None)) / (2 * h)
        away = np.abs(x) > 0.05  # kinks
        np.testing.assert_allclose(dx[away], fd[away], rtol=2e-2, atol=2e-3, err_msg=name)


def test_unknown_codes_are_rejected():
    with pytest.raises(ValueError, match="unknown activation code"):
        _C.act_grad_uses_output(len(act_ops.ACT_CODES))
    with pytest.raises(ValueError, match="unknown RnnCell"):
        _C.rnn_uses_fused_path(17)


def test_rnn_activation_codes_come_from_rnnact():
    for name in ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear"):
        assert rnn_ops.activation_code(name) == int(getattr(_C.RnnAct, name))
    assert rnn_ops.activation_code(None) == int(_C.RnnAct.linear)
    assert isinstance(_C.rnn_uses_fused_path(_C.RnnCell.lstm), bool)
