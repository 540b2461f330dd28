"""grebe.ops.lstm / gru / simple_rnn: values and every gradient (inputs, weights, initial states)
against a step-by-step float64 reference (numpy forward, torch autograd for its gradients),
finite differences, and PyTorch's nn.LSTM / nn.GRU / nn.RNN with the gate orders mapped; masks,
go_backwards, the portable vs fused pass, and bitwise invariance to the thread count."""
from __future__ import annotations

import numpy as np
import pytest

import grebe
from grebe import _C, ops
from helpers import check_op, torch_or_none

torch = torch_or_none()
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

GATES = {"lstm": 4, "gru": 3, "gru_before": 3, "simple_rnn": 1}


# ---- the reference: one timestep at a time, Keras 3's equations -----------------------------
def _acts(lib):
    if lib is np:
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        return {"tanh": np.tanh, "sigmoid": sig, "relu": lambda v: np.maximum(v, 0),
                "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1), "linear": lambda v: v}
    return {"tanh": lib.tanh, "sigmoid": lib.sigmoid, "relu": lib.relu,
            "hard_sigmoid": lambda v: lib.clamp(v / 6 + 0.5, 0, 1), "linear": lambda v: v}


def reference(cell, x, W, R, b, h0=None, c0=None, mask=None, go_backwards=False,
              act="tanh", ract="sigmoid", rdrop=None, lib=np):
    """Returns (outputs (B,T,U) in processing order, h_T, c_T); numpy or torch float64."""
    A, RA = _acts(lib)[act], _acts(lib)[ract]
    B, T, _ = x.shape
    U = R.shape[0]
    zeros = (lambda s: np.zeros(s)) if lib is np else (lambda s: lib.zeros(s, dtype=lib.float64))
    h = zeros((B, U)) if h0 is None else h0
    c = zeros((B, U)) if c0 is None else c0
    bx, bh = (b[0], b[1]) if cell == "gru" and b is not None and b.ndim == 2 else (b, None)
    where = np.where if lib is np else lib.where

    def rec(hh, g0, g1):
        if rdrop is None:
            return hh @ R[:, g0 * U:g1 * U]
        parts = [(hh * rdrop[g]) @ R[:, g * U:(g + 1) * U] for g in range(g0, g1)]
        return np.concatenate(parts, 1) if lib is np else lib.cat(parts, 1)

    ys = []
    for s in range(T):
        t = T - 1 - s if go_backwards else s
        xp = x[:, t] @ W + (0 if bx is None else bx)
        if cell == "lstm":
            z = xp + rec(h, 0, 4)
            i, f = RA(z[:, :U]), RA(z[:, U:2 * U])
            g, o = A(z[:, 2 * U:3 * U]), RA(z[:, 3 * U:])
            cn = f * c + i * g
            hn = o * A(cn)
        elif cell == "simple_rnn":
            cn, hn = c, A(xp + rec(h, 0, 1))
        elif cell == "gru":
            q = rec(h, 0, 3) + (0 if bh is None else bh)
            zg, r = RA(xp[:, :U] + q[:, :U]), RA(xp[:, U:2 * U] + q[:, U:2 * U])
            hh = A(xp[:, 2 * U:] + r * q[:, 2 * U:])
            cn, hn = c, zg * h + (1 - zg) * hh
        else:  # GRU reset_after=False
            q = rec(h, 0, 2)
            zg, r = RA(xp[:, :U] + q[:, :U]), RA(xp[:, U:2 * U] + q[:, U:2 * U])
            m = 1 if rdrop is None else rdrop[2]
            hh = A(xp[:, 2 * U:] + (r * h * m) @ R[:, 2 * U:])
            cn, hn = c, zg * h + (1 - zg) * hh
        if mask is not None:
            mm = mask[:, t][:, None]
            mm = mm if lib is np else lib.tensor(mm)
            hn, cn = where(mm, hn, h), where(mm, cn, c)
        h, c = hn, cn
        ys.append(h)
    stack = np.stack if lib is np else lib.stack
    return stack(ys, 1), h, c


def make_case(cell, B=4, T=6, F=3, U=5, seed=0, use_bias=True):
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    f32 = lambda *s, sc=1.0: (rng.standard_normal(s) * sc).astype(np.float32)  # noqa: E731
    bias = None
    if use_bias:
        bias = f32(2, G * U, sc=0.2) if cell == "gru" else f32(G * U, sc=0.2)
    return dict(x=f32(B, T, F), W=f32(F, G * U, sc=0.5), R=f32(U, G * U, sc=0.4), b=bias,
                h0=f32(B, U, sc=0.5), c0=f32(B, U, sc=0.5), rng=rng)


def run_grebe(cell, case, *, mask=None, go_backwards=False, return_sequences=True, act="tanh",
              ract="sigmoid", rdrop=None, states=True):
    t = {k: grebe.tensor(case[k], requires_grad=True) for k in ("x", "W", "R", "h0", "c0")}
    t["b"] = None if case["b"] is None else grebe.tensor(case["b"], requires_grad=True)
    init = ([t["h0"], t["c0"]] if cell == "lstm" else [t["h0"]]) if states else None
    kw = dict(mask=mask, go_backwards=go_backwards, return_sequences=return_sequences,
              activation=act, recurrent_dropout_mask=rdrop)
    if cell == "lstm":
        y, h, c = ops.lstm(t["x"], t["W"], t["R"], t["b"], init, recurrent_activation=ract, **kw)
    elif cell == "simple_rnn":
        (y, h), c = ops.simple_rnn(t["x"], t["W"], t["R"], t["b"], init, **kw), None
    else:
        (y, h), c = ops.gru(t["x"], t["W"], t["R"], t["b"], init, recurrent_activation=ract,
                            reset_after=cell == "gru", **kw), None
    return t, y, h, c


def backprop(y, h, c, rng, return_sequences=True):
    """loss = <y, gy> + <h, gh> (+ <c, gc>); returns the upstream arrays."""
    gy = rng.standard_normal(y.shape).astype(np.float32)
    gh = rng.standard_normal(h.shape).astype(np.float32)
    gc = None if c is None else rng.standard_normal(c.shape).astype(np.float32)
    loss = (y * grebe.tensor(gy)).sum() + (h * grebe.tensor(gh)).sum()
    if c is not None:
        loss = loss + (c * grebe.tensor(gc)).sum()
    loss.backward()
    return gy, gh, gc


def torch_reference_grads(cell, case, gy, gh, gc, *, mask=None, go_backwards=False, act="tanh",
                          ract="sigmoid", rdrop=None, return_sequences=True, states=True):
    tt = {k: torch.tensor(np.asarray(v, np.float64), requires_grad=True)
          for k, v in case.items() if k != "rng" and v is not None}
    h0 = tt["h0"] if states else None
    c0 = tt["c0"] if states and cell == "lstm" else None
    rd = None if rdrop is None else torch.tensor(rdrop, dtype=torch.float64)
    y, h, c = reference(cell, tt["x"], tt["W"], tt["R"], tt.get("b"), h0, c0, mask,
                        go_backwards, act, ract, rd, lib=torch)
    if not return_sequences:
        y = h
    loss = (y * torch.tensor(gy, dtype=torch.float64)).sum()
    loss = loss + (h * torch.tensor(gh, dtype=torch.float64)).sum()
    if gc is not None:
        loss = loss + (c * torch.tensor(gc, dtype=torch.float64)).sum()
    loss.backward()
    return {k: v.grad.numpy() for k, v in tt.items() if v.grad is not None}


def assert_close(got, want, name, rtol=2e-4, atol=2e-5):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale, err_msg=name)


# ---- forward values ------------------------------------------------------------------------
@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_reference(cell, go_backwards):
    case = make_case(cell, B=5, T=7, F=3, U=11)
    _, y, h, c = run_grebe(cell, case, go_backwards=go_backwards)
    ry, rh, rc = reference(cell, case["x"], case["W"], case["R"], case["b"], case["h0"],
                           case["c0"] if cell == "lstm" else None, go_backwards=go_backwards)
    assert y.shape == (5, 7, 11) and h.shape == (5, 11)
    assert_close(y.numpy(), ry, "outputs")
    assert_close(h.numpy(), rh, "final h")
    np.testing.assert_array_equal(y.numpy()[:, -1], h.numpy())
    if cell == "lstm":
        assert_close(c.numpy(), rc, "final c")


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("act,ract", [("relu", "hard_sigmoid"), ("linear", "tanh"),
                                      ("sigmoid", "sigmoid")])
def test_other_activations(cell, act, ract):
    case = make_case(cell, B=3, T=5, F=4, U=9, seed=3)
    ract = "sigmoid" if cell == "simple_rnn" else ract
    _, y, h, c = run_grebe(cell, case, act=act, ract=ract)
    ry, _, _ = reference(cell, case["x"], case["W"], case["R"], case["b"], case["h0"],
                         case["c0"] if cell == "lstm" else None, act=act, ract=ract)
    assert_close(y.numpy(), ry, f"outputs with {act}/{ract}", rtol=1e-4, atol=1e-4)


def test_unsupported_activation_is_named():
    case = make_case("lstm")
    with pytest.raises(ValueError, match="'softplus'"):
        ops.lstm(case["x"], case["W"], case["R"], activation="softplus")


# ---- gradients -----------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("variant", ["plain", "mask_backwards", "last_only", "odd_sizes",
                                     "no_bias_no_state"])
def test_gradients_match_reference(cell, variant):
    kw, shape = {}, dict(B=4, T=6, F=3, U=5)
    if variant == "mask_backwards":
        kw = dict(go_backwards=True)
    if variant == "odd_sizes":
        shape = dict(B=13, T=5, F=7, U=37)
    case = make_case(cell, use_bias=variant != "no_bias_no_state", seed=7, **shape)
    mask = None
    if variant in ("mask_backwards", "odd_sizes"):
        mask = case["rng"].random((shape["B"], shape["T"])) > 0.3
        mask[0] = False  # a fully masked sequence: the state passes through untouched
    rs = variant != "last_only"
    states = variant != "no_bias_no_state"
    t, y, h, c = run_grebe(cell, case, mask=mask, return_sequences=rs, states=states, **kw)
    gy, gh, gc = backprop(y, h, c, case["rng"])
    ref = torch_reference_grads(cell, case, gy, gh, gc, mask=mask, return_sequences=rs,
                                states=states, **kw)
    names = {"x": "x", "W": "kernel", "R": "recurrent_kernel", "b": "bias", "h0": "h0",
             "c0": "c0"}
    for k, name in names.items():
        if k not in ref or (k in ("h0", "c0") and not states) or (k == "c0" and cell != "lstm"):
            continue
        assert t[k].grad is not None, f"no gradient for {name}"
        assert_close(t[k].grad, ref[k], f"gradient of {name}")


@needs_torch
@pytest.mark.parametrize("cell", list(GATES))
def test_recurrent_dropout_mask_gradients(cell):
    case = make_case(cell, B=3, T=5, F=2, U=6, seed=11)
    rdrop = (case["rng"].random((GATES[cell], 3, 6)) > 0.4).astype(np.float32) / 0.6
    mask = case["rng"].random((3, 5)) > 0.3
    t, y, h, c = run_grebe(cell, case, rdrop=rdrop, mask=mask)
    gy, gh, gc = backprop(y, h, c, case["rng"])
    ref = torch_reference_grads(cell, case, gy, gh, gc, rdrop=rdrop, mask=mask)
    for k in ("x", "W", "R", "b", "h0"):
        assert_close(t[k].grad, ref[k], f"gradient of {k} with recurrent dropout")


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_finite_differences(cell):
    """check_op: forward vs numpy and every gradient vs central differences in float64."""
    rng = np.random.default_rng(5)
    G, U, F = GATES[cell], 3, 2
    shapes = [(2, 4, F), (F, G * U), (U, G * U), (2, G * U) if cell == "gru" else (G * U,),
              (2, U)]

    def fn(x, W, R, b, h0):
        init = [h0, grebe.tensor(np.zeros((2, U)))] if cell == "lstm" else [h0]
        return getattr(ops, cell)(x, W, R, b, init)[0]

    def ref(x, W, R, b, h0):
        c0 = np.zeros((2, U)) if cell == "lstm" else None
        return reference(cell, x, W, R, b, h0, c0)[0]

    check_op(fn, ref, shapes, inputs=[rng.uniform(-1, 1, s).astype(np.float32) for s in shapes],
             rtol=1e-5, atol=1e-5, grad_rtol=1e-2, grad_atol=2e-3)


# ---- against PyTorch's modules ---------------------------------------------------------------
def _torch_weights(cell, module, U):
    """Keras-layout (kernel, recurrent_kernel, bias) from a torch nn.LSTM/GRU/RNN."""
    w_ih = module.weight_ih_l0.detach().numpy().astype(np.float32)
    w_hh = module.weight_hh_l0.detach().numpy().astype(np.float32)
    b_ih = module.bias_ih_l0.detach().numpy().astype(np.float32)
    b_hh = module.bias_hh_l0.detach().numpy().astype(np.float32)
    if cell == "gru":  # torch r, z, n -> Keras z, r, h
        order = np.r_[U:2 * U, 0:U, 2 * U:3 * U]
        w_ih, w_hh, b_ih, b_hh = w_ih[order], w_hh[order], b_ih[order], b_hh[order]
        return w_ih.T.copy(), w_hh.T.copy(), np.stack([b_ih, b_hh])
    # LSTM: torch i, f, g, o = Keras i, f, c, o; one Keras bias = b_ih + b_hh.
    return w_ih.T.copy(), w_hh.T.copy(), (b_ih + b_hh)


@needs_torch
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_matches_torch_modules(cell):
    torch.manual_seed(0)
    B, T, F, U = 6, 9, 5, 7
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[cell](
        F, U, batch_first=True)
    W, R, b = _torch_weights(cell, mod, U)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    h0 = rng.standard_normal((B, U)).astype(np.float32)
    c0 = rng.standard_normal((B, U)).astype(np.float32)
    gy = rng.standard_normal((B, T, U)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)
    tc0 = torch.tensor(c0[None], requires_grad=True)
    ty, _ = mod(tx, (th0, tc0) if cell == "lstm" else th0)
    (ty * torch.tensor(gy)).sum().backward()

    gx, gW, gR, gb = (grebe.tensor(a, requires_grad=True) for a in (x, W, R, b))
    gh0, gc0 = grebe.tensor(h0, requires_grad=True), grebe.tensor(c0, requires_grad=True)
    init = [gh0, gc0] if cell == "lstm" else [gh0]
    y = getattr(ops, cell)(gx, gW, gR, gb, init)[0]
    (y * grebe.tensor(gy)).sum().backward()
    assert_close(y.numpy(), ty.detach().numpy(), "outputs vs torch", rtol=1e-4, atol=1e-5)
    assert_close(gx.grad, tx.grad.numpy(), "dx vs torch", rtol=1e-4, atol=1e-5)
    assert_close(gh0.grad, th0.grad.numpy()[0], "dh0 vs torch", rtol=1e-4, atol=1e-5)
    if cell == "lstm":
        assert_close(gc0.grad, tc0.grad.numpy()[0], "dc0 vs torch", rtol=1e-4, atol=1e-5)
    # Weight gradients, mapped back to Keras's layout.
    tW, tR, tb = _torch_weights(cell, type("G", (), {
        "weight_ih_l0": mod.weight_ih_l0.grad, "weight_hh_l0": mod.weight_hh_l0.grad,
        "bias_ih_l0": mod.bias_ih_l0.grad, "bias_hh_l0": mod.bias_hh_l0.grad}), U)
    assert_close(gW.grad, tW, "dkernel vs torch", rtol=1e-4, atol=1e-5)
    assert_close(gR.grad, tR, "drecurrent_kernel vs torch", rtol=1e-4, atol=1e-5)
    if cell == "gru":
        assert_close(gb.grad, tb, "dbias vs torch", rtol=1e-4, atol=1e-5)
    else:  # Keras's single bias gets b_ih's gradient (= b_hh's)
        assert_close(gb.grad, mod.bias_ih_l0.grad.numpy(), "dbias vs torch", rtol=1e-4,
                     atol=1e-5)


# ---- masks, lengths, behaviour -------------------------------------------------------------
def test_masked_steps_carry_state_and_repeat_output():
    case = make_case("lstm", B=2, T=5, F=3, U=4)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], bool)
    _, y, h, c = run_grebe("lstm", case, mask=mask)
    y = y.numpy()
    np.testing.assert_array_equal(y[0, 2], y[0, 1])
    np.testing.assert_array_equal(y[0, 4], y[0, 3])
    np.testing.assert_array_equal(y[1, 0], case["h0"][1])  # carried initial state
    np.testing.assert_array_equal(h.numpy()[0], y[0, 3])


def test_lengths_to_mask_equals_right_padding():
    case = make_case("gru", B=3, T=6, F=2, U=4)
    mask = ops.rnn.lengths_to_mask(np.array([6, 2, 4]), 6)
    _, y, h, _ = run_grebe("gru", case, mask=mask, states=False)
    for b, n in enumerate([6, 2, 4]):
        short = {**case, "x": case["x"][b:b + 1, :n]}
        _, _, hb, _ = run_grebe("gru", short, states=False)
        np.testing.assert_allclose(h.numpy()[b], hb.numpy()[0], rtol=1e-6, atol=1e-6)


def test_bad_shapes_are_named():
    case = make_case("lstm", B=2, T=3, F=3, U=4)
    with pytest.raises(ValueError, match=r"rank 3.*received shape \(2, 3\)"):
        ops.lstm(case["x"][:, 0], case["W"], case["R"])
    with pytest.raises(ValueError, match=r"initial state must have shape .*\(2, 4\).*\(2, 5\)"):
        ops.lstm(case["x"], case["W"], case["R"], None, [np.zeros((2, 5)), np.zeros((2, 5))])
    with pytest.raises(ValueError, match=r"mask must have shape.*\(2, 3\).*\(2, 4\)"):
        ops.lstm(case["x"], case["W"], case["R"], mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"lstm_forward: kernel must have shape \(3, 16\)"):
        ops.lstm(case["x"], case["W"][:, :8], case["R"])


# ---- paths and threads ---------------------------------------------------------------------
def _all_results(cell, case, mask):
    t, y, h, c = run_grebe(cell, case, mask=mask)
    backprop(y, h, c, np.random.default_rng(9))
    return [y.numpy().copy(), h.numpy().copy()] + [t[k].grad.copy() for k in
                                                   ("x", "W", "R", "b", "h0")]


@pytest.mark.parametrize("cell", list(GATES))
def test_bitwise_identical_for_any_thread_count(cell):
    case = make_case(cell, B=37, T=9, F=6, U=67, seed=2)
    mask = case["rng"].random((37, 9)) > 0.2
    before = grebe.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            grebe.set_num_threads(n)
            results.append(_all_results(cell, case, mask))
    finally:
        grebe.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_portable_pass_agrees_with_fused(cell):
    if _C.detect_isa() == "generic":
        pytest.skip("no AVX2 on this CPU")
    case = make_case(cell, B=9, T=5, F=4, U=21, seed=4)
    fused = _all_results(cell, case, None)
    isa = _C.active_isa()
    try:
        _C.set_isa("generic")
        portable = _all_results(cell, case, None)
    finally:
        _C.set_isa(isa)
    for a, b in zip(fused, portable):
        assert_close(a, b, "fused vs portable", rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_weight_gradients_without_input_gradient(cell):
    """Without dx the fused backward keeps a few steps of dG and adds the weight gradients as it
    goes (batch >= 16): the same bits as with dx."""
    case = make_case(cell, B=24, T=7, F=3, U=19, seed=12)
    upstream = np.random.default_rng(3).standard_normal((24, 7, 19)).astype(np.float32)
    results = []
    for x_grad in (True, False):
        x = grebe.tensor(case["x"], requires_grad=x_grad)
        w = [grebe.tensor(case[k], requires_grad=True) for k in ("W", "R", "b")]
        y = getattr(ops, cell)(x, *w)[0]
        (y * grebe.tensor(upstream)).sum().backward()
        results.append([v.grad for v in w])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
