"""Recurrent ops: whole-sequence LSTM, GRU and SimpleRNN, one native call per direction per pass.

Keras 3 layouts and gate orders: kernel (F, G*U), recurrent_kernel (U, G*U); LSTM gates i, f, c,
o with bias (4U,); GRU gates z, r, h with bias (2, 3U) (input and recurrent rows) when
reset_after=True, (3U,) when False; SimpleRNN bias (U,). x is (batch, timesteps, features).

>>> import numpy as np, grebe
>>> from grebe import ops
>>> x = grebe.tensor(np.ones((2, 5, 3)), requires_grad=True)
>>> k, rk = grebe.tensor(np.full((3, 16), 0.1)), grebe.tensor(np.full((4, 16), 0.1))
>>> y, h, c = ops.lstm(x, k, rk)
>>> y.shape, h.shape
((2, 5, 4), (2, 4))

Masking follows Keras: where mask[b, t] is False the states carry through unchanged and the
output at that step is the carried h. go_backwards processes t = T-1 .. 0 and returns the
outputs in that (reversed) order, as Keras does.
"""
from __future__ import annotations

import numpy as np

from grebe import _C
from grebe.autograd import Function
from grebe.ops._util import is_bf16
from grebe.tensor import Tensor

__all__ = ["lstm", "gru", "simple_rnn", "activation_code", "lengths_to_mask"]

# The recurrent kernels' activations (csrc/kernels/rnn.h, enum RnnAct), by name, as plain ints.
_ACT_CODES = {name: int(code) for name, code in _C.RnnAct.__members__.items()}
_CELL = {  # name -> (gates, has c state)
    "lstm": (4, True),
    "gru": (3, False),
    "simple_rnn": (1, False),
}
# (name, bf16) -> (forward kernel, backward kernel); the _bf16 twins round the operands of the
# input and recurrent products (x W, h R and their gradients' GEMMs) to bfloat16 and sum in
# float32; gates, states and their gradients stay float32.
_KERNELS = {(name, bf16): (getattr(_C, name + "_forward" + ("_bf16" if bf16 else "")),
                           getattr(_C, name + "_backward" + ("_bf16" if bf16 else "")))
            for name in _CELL for bf16 in (False, True)}


def activation_code(activation, who: str = "rnn") -> int:
    """The kernel's code for an activation given by name, function or None (linear)."""
    if activation is None:
        return _ACT_CODES["linear"]
    if isinstance(activation, (int, np.integer)) and 0 <= activation < len(_ACT_CODES):
        return int(activation)
    # A function (grebe.activations.tanh, ...) by its name: ops sit below activations.
    name = activation if isinstance(activation, str) else \
        getattr(activation, "__name__", repr(activation))
    code = _ACT_CODES.get(name.lower() if isinstance(name, str) else name)
    if code is None:
        raise ValueError(f"{who}: activation {name!r} is not supported by the fused recurrent "
                         f"kernels; supported: {sorted(_ACT_CODES)}")
    return code


def lengths_to_mask(lengths, timesteps: int) -> np.ndarray:
    """(B,) sequence lengths -> (B, T) bool mask, True for t < length."""
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"rnn: lengths must be a 1-D integer array, received shape "
                         f"{lengths.shape} and dtype {lengths.dtype}")
    return np.arange(timesteps)[None, :] < lengths[:, None]


def _mask_array(mask, x_shape, who: str):
    if mask is None:
        return None
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != tuple(x_shape[:2]):
        raise ValueError(f"{who}: mask must have shape (batch, timesteps) = {tuple(x_shape[:2])}"
                         f", received {m.shape}")
    if m.dtype != np.bool_:
        m = m != 0
    return np.ascontiguousarray(m)


class Recurrent(Function):
    """One direction of a recurrent layer over a whole sequence.

    Inputs: x (B,T,F), h0 (B,U) or None, c0 (B,U) or None (LSTM), kernel, recurrent_kernel,
    bias or None. Outputs: (y (B,T,U) if return_sequences, hT (B,U), cT (B,U) if LSTM)."""

    @staticmethod
    def forward(ctx, x, h0, c0, kernel, recurrent_kernel, bias, *, cell, mask, rdrop, act, ract,
                reverse, return_sequences, reset_after, bf16=False):
        fwd, has_c = _KERNELS[cell, bf16][0], _CELL[cell][1]
        bx, bh = bias, None
        if bias is not None and cell == "gru" and reset_after:
            bx, bh = bias[0], bias[1]
        training = any(ctx.needs_input_grad)
        y, hT, cT, saved = fwd(x, h0, c0 if has_c else None, kernel, recurrent_kernel, bx, bh,
                               mask, rdrop, act, ract, reverse, return_sequences, training,
                               reset_after)
        if training:
            ctx.save(x, kernel, recurrent_kernel, bx, bh, saved)
            ctx.config = (cell, mask, rdrop, act, ract, reverse, return_sequences, reset_after,
                          None if bias is None else bias.shape, bf16)
        return ((y,) if return_sequences else ()) + (hT,) + ((cT,) if has_c else ())

    @staticmethod
    def backward(ctx, *grads):
        x, kernel, recurrent_kernel, bx, bh, saved = ctx.saved
        cell, mask, rdrop, act, ract, reverse, return_sequences, reset_after, bshape, bf16 = \
            ctx.config
        bwd, has_c = _KERNELS[cell, bf16][1], _CELL[cell][1]
        grads = list(grads)
        dy = grads.pop(0) if return_sequences else None
        dh = grads.pop(0)
        dc = grads.pop(0) if has_c else None
        need = ctx.needs_input_grad
        dx, dh0, dc0, dW, dR, dbx, dbh = bwd(
            x, kernel, recurrent_kernel, bx, bh, mask, rdrop, act, ract, reverse, saved,
            _f32(dy), _f32(dh), _f32(dc), need[0], need[1], need[2] and has_c, need[3], need[4],
            need[5], reset_after)
        db = None
        if need[5] and dbx is not None:
            db = np.stack([dbx, dbh]) if dbh is not None else dbx
            db = db.reshape(bshape)
        return dx, dh0, dc0, dW, dR, db


def _tensor(v):
    return v if v is None or isinstance(v, Tensor) else Tensor(v)


def _f32(a):
    return None if a is None else np.ascontiguousarray(a, dtype=np.float32)


def _run(cell, x, kernel, recurrent_kernel, bias, initial_state, mask, go_backwards,
         return_sequences, activation, recurrent_activation, recurrent_dropout_mask,
         reset_after=True, compute_dtype="float32"):
    who = cell
    G, has_c = _CELL[cell]
    bf16 = is_bf16(compute_dtype, who)
    x, kernel, recurrent_kernel, bias = (_tensor(v) for v in (x, kernel, recurrent_kernel, bias))
    if x.ndim != 3:
        raise ValueError(f"{who}: expected input of rank 3 (batch, timesteps, features), "
                         f"received shape {tuple(x.shape)}")
    B, T, _ = x.shape
    U = recurrent_kernel.shape[0]
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else (
        [] if initial_state is None else [initial_state])
    n_states = 2 if has_c else 1
    if states and len(states) != n_states:
        raise ValueError(f"{who}: expected {n_states} initial state tensor(s) of shape "
                         f"{(B, U)}, received {len(states)}")
    for s in states:
        if s is not None and tuple(s.shape) != (B, U):
            raise ValueError(f"{who}: initial state must have shape (batch, units) = {(B, U)}, "
                             f"received {tuple(s.shape)}")
    states = [_tensor(s) for s in states]
    h0 = states[0] if states else None
    c0 = states[1] if has_c and states else None
    rdrop = None
    if recurrent_dropout_mask is not None:
        rdrop = np.ascontiguousarray(recurrent_dropout_mask, dtype=np.float32)
        if rdrop.shape != (G, B, U):
            raise ValueError(f"{who}: recurrent_dropout_mask must have shape (gates, batch, "
                             f"units) = {(G, B, U)}, received {rdrop.shape}")
    return Recurrent.apply(
        x, h0, c0, kernel, recurrent_kernel, bias, cell=cell, mask=_mask_array(mask, x.shape, who),
        rdrop=rdrop, act=activation_code(activation, who),
        ract=activation_code(recurrent_activation, who), reverse=bool(go_backwards),
        return_sequences=bool(return_sequences), reset_after=bool(reset_after), bf16=bf16)


def lstm(x, kernel, recurrent_kernel, bias=None, initial_state=None, *, mask=None,
         go_backwards=False, return_sequences=True, activation="tanh",
         recurrent_activation="sigmoid", recurrent_dropout_mask=None, compute_dtype="float32"):
    """LSTM over x (B,T,F). initial_state: [h0, c0] (each (B,U)) or None for zeros.
    Returns (outputs, h, c): outputs (B,T,U) if return_sequences else the last output (= h).
    compute_dtype 'bfloat16': bfloat16 operands in the products (x W, h R; the same in
    backward), float32 sums, gates and states (as gru and simple_rnn)."""
    out = _run("lstm", x, kernel, recurrent_kernel, bias, initial_state, mask, go_backwards,
               return_sequences, activation, recurrent_activation, recurrent_dropout_mask,
               compute_dtype=compute_dtype)
    return out if return_sequences else (out[0],) + tuple(out)


def gru(x, kernel, recurrent_kernel, bias=None, initial_state=None, *, mask=None,
        go_backwards=False, return_sequences=True, activation="tanh",
        recurrent_activation="sigmoid", reset_after=True, recurrent_dropout_mask=None,
        compute_dtype="float32"):
    """GRU over x (B,T,F); bias (2, 3U) when reset_after (Keras 3's default), else (3U,).
    Returns (outputs, h): outputs (B,T,U) if return_sequences else the last output (= h)."""
    out = _run("gru", x, kernel, recurrent_kernel, bias, initial_state, mask, go_backwards,
               return_sequences, activation, recurrent_activation, recurrent_dropout_mask,
               reset_after, compute_dtype)
    return out if return_sequences else (out[0], out[0])


def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, *, mask=None,
               go_backwards=False, return_sequences=True, activation="tanh",
               recurrent_dropout_mask=None, compute_dtype="float32"):
    """SimpleRNN over x (B,T,F): h_t = activation(x_t W + b + h_{t-1} R).
    Returns (outputs, h): outputs (B,T,U) if return_sequences else the last output (= h)."""
    out = _run("simple_rnn", x, kernel, recurrent_kernel, bias, initial_state, mask,
               go_backwards, return_sequences, activation, "sigmoid", recurrent_dropout_mask,
               compute_dtype=compute_dtype)
    return out if return_sequences else (out[0], out[0])
