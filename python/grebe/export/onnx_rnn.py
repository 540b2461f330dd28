"""ONNX converters of the recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional), used by
grebe.export.onnx. Each layer becomes one ONNX LSTM/GRU/RNN node in ONNX's default time-major
layout (ONNX Runtime implements no other), between transposes: X (N, T, F) -> (T, N, F);
Y (T, D, N, U) -> (N, T, D, U); Y_h (D, N, U) -> (N, D, U); D = 2 for Bidirectional.

Weights: Keras kernel (F, G*U) -> ONNX W (D, G*U, F); recurrent_kernel (U, G*U) -> R (D, G*U, U);
bias -> B (D, 2*G*U) = [input bias, recurrent bias]. Gate blocks: Keras LSTM (i, f, c, o) is
reordered to ONNX's (i, o, f, c); GRU (z, r, h) and SimpleRNN match.
"""
from __future__ import annotations

import numpy as np

_ACT = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
_LSTM_ORDER = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c


def _act(name, who):
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    if name not in _ACT:
        raise ValueError(f"ONNX export: {who}: recurrent activation {name!r} has no ONNX "
                         f"mapping (supported: {', '.join(_ACT)})")
    return _ACT[name]


def _check(layer, cfg, in_bidirectional=False):
    for flag in ("return_state", "stateful"):
        if cfg.get(flag):
            raise ValueError(f"ONNX export: {layer.name}: {flag}=True is not exported")
    if cfg.get("go_backwards") and not in_bidirectional:
        raise ValueError(f"ONNX export: {layer.name}: go_backwards=True outside Bidirectional "
                         f"is not exported")


def _weights(layer, cfg, gates, order=None):
    """(W (G*U, F), R (G*U, U), B (2*G*U,)) of one direction in ONNX's gate order."""
    w = layer.get_weights()
    k, rk = w[0], w[1]
    u = cfg["units"]
    if cfg.get("use_bias", True):
        b = w[2].reshape(-1)
        if b.size == gates * u:          # one bias: input side; the recurrent side is zero
            b = np.concatenate([b, np.zeros_like(b)])
    else:
        b = np.zeros(2 * gates * u, np.float32)

    def reorder(m):  # columns in gate blocks
        if order is None:
            return m
        blocks = np.split(m, gates, axis=-1)
        return np.concatenate([blocks[i] for i in order], axis=-1)

    bi, br = np.split(b, 2)
    return reorder(k).T, reorder(rk).T, np.concatenate([reorder(bi), reorder(br)])


def _node(g, kind, layers, cfgs, x, direction):
    """One ONNX recurrent node over x for 1 or 2 directions; returns (Y, Y_h)."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    order = _LSTM_ORDER if kind == "LSTM" else None
    ws = [_weights(la, c, gates, order) for la, c in zip(layers, cfgs)]
    W, R, B = (np.stack([w[i] for w in ws]).astype(np.float32) for i in range(3))
    cfg, who = cfgs[0], layers[0].name
    attrs = {"hidden_size": int(cfg["units"]), "direction": direction}
    acts = []
    for c in cfgs:  # per direction: ONNX's f (gates), g (candidate) and, for LSTM, h (output)
        if kind == "RNN":
            acts.append(_act(c["activation"], who))
        else:
            acts += [_act(c["recurrent_activation"], who)] + \
                [_act(c["activation"], who)] * (2 if kind == "LSTM" else 1)
    attrs["activations"] = acts
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(cfg.get("reset_after", True)))
    x_tm = g.op("Transpose", [x], perm=[1, 0, 2])
    inputs = [x_tm, g.const(W, "W"), g.const(R, "R"), g.const(B, "B")]
    n_out = 3 if kind == "LSTM" else 2
    outs = g.op(kind, inputs, hint=kind.lower(), n_out=n_out, **attrs)
    return (g.op("Transpose", [outs[0]], perm=[2, 0, 1, 3]),
            g.op("Transpose", [outs[1]], perm=[1, 0, 2]))


def _kind(layer):
    from grebe import layers as L
    kinds = {L.LSTM: "LSTM", L.GRU: "GRU", L.SimpleRNN: "RNN"}
    if type(layer) not in kinds:
        raise ValueError(f"ONNX export: {layer.name}: {type(layer).__name__} has no ONNX "
                         f"mapping")
    return kinds[type(layer)]


def _single(g, layer, cfg, xs, shape):
    _check(layer, cfg)
    y, y_h = _node(g, _kind(layer), [layer], [cfg], xs[0], "forward")
    if cfg.get("return_sequences"):
        return g.op("Squeeze", [y, g.const(np.array([2], np.int64), "axes")])
    return g.op("Squeeze", [y_h, g.const(np.array([1], np.int64), "axes")])


lstm = gru = simple_rnn = _single


def bidirectional(g, layer, cfg, xs, shape):
    fwd, bwd = layer.forward_layer, layer.backward_layer
    cf, cb = fwd.get_config(), bwd.get_config()
    _check(fwd, cf, True)
    _check(bwd, cb, True)
    kind = _kind(fwd)
    if _kind(bwd) != kind or cf["units"] != cb["units"]:
        raise ValueError(f"ONNX export: {layer.name}: forward and backward layers differ")
    y, y_h = _node(g, kind, [fwd, bwd], [cf, cb], xs[0], "bidirectional")
    u = int(cf["units"])
    # Y (N, T, 2, U) / Y_h (N, 2, U): the backward direction is already aligned in time.
    out, axis = (y, 2) if cf.get("return_sequences") else (y_h, 1)
    mode = layer.merge_mode
    if mode == "concat":
        shape_ = [0, 0, 2 * u] if axis == 2 else [0, 2 * u]
        return g.op("Reshape", [out, g.const(np.array(shape_, np.int64), "shape")])
    axes = g.const(np.array([axis], np.int64), "axes")
    if mode == "sum":
        return g.op("ReduceSum", [out, axes], keepdims=0)
    if mode == "ave":
        return g.op("Mul", [g.op("ReduceSum", [out, axes], keepdims=0),
                            g.const(np.float32(0.5))])
    if mode == "mul":
        a, b = g.op("Split", [out], n_out=2, axis=axis)
        return g.op("Squeeze", [g.op("Mul", [a, b]), axes])
    raise ValueError(f"ONNX export: {layer.name}: merge_mode={mode!r} is not exported")
