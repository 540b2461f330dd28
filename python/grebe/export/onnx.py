"""ONNX export: `model.export("m.onnx", format="onnx")` writes a Sequential or functional model
(nested models inlined) as an ONNX graph (opset 17) with a dynamic batch dimension, built with the
`onnx` package (`pip install "grebe[onnx]"`) and checked with `onnx.checker`.

How a model becomes a graph: the model's recorded layer calls are walked in execution order
(`grebe.graph.map_graph`); each layer's converter reads the layer's public config
(`get_config()`) and weights (`get_weights()`) and appends ONNX nodes. Values stay in grebe's
channels-last layout between layers; layers whose ONNX operator is channels-first (Conv,
MaxPool, AveragePool) transpose in and out, and ONNX Runtime's optimizer cancels the pairs.
Only layers whose exact class has a converter are exported: a subclass with its own call(), or a
layer without a converter, raises an error naming it — never a silent drop.

Recurrent gate orders: Keras LSTM kernels are (i, f, c, o), ONNX LSTM wants (i, o, f, c); GRU is
(z, r, h) in both, and Keras `reset_after=True` is ONNX `linear_before_reset=1`.
"""
from __future__ import annotations

import numpy as np

OPSET = 17


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as e:
        raise ImportError('ONNX export needs the onnx package: pip install "grebe[onnx]"') from e
    return onnx, helper, numpy_helper


class _Graph:
    """The ONNX nodes and initializers being built, with fresh value names."""

    def __init__(self):
        self.onnx, self.helper, self.numpy_helper = _onnx()
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, array, hint="const") -> str:
        name = self.name(hint)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs, hint=None, n_out=1, **attrs):
        outs = [self.name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if n_out == 1 else outs


# ---- activations ------------------------------------------------------------------------------

def _activation(g: _Graph, x: str, name, who: str) -> str:
    if isinstance(name, dict):  # a serialized activation {"class_name": ..., "config": ...}
        name = name.get("config", {}).get("name", name.get("class_name"))
    if name in (None, "linear"):
        return x
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu",
              "selu": "Selu", "softplus": "Softplus", "softsign": "Softsign", "exponential": "Exp"}
    if name in simple:
        return g.op(simple[name], [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=-1)
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=-1)
    if name in ("swish", "silu"):
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "relu6":
        return g.op("Clip", [x, g.const(np.float32(0)), g.const(np.float32(6))])
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=0.2)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name == "gelu":  # Keras 3's default gelu is exact: x * (1 + erf(x / sqrt 2)) / 2
        erf = g.op("Erf", [g.op("Mul", [x, g.const(np.float32(1 / np.sqrt(2)))])])
        half = g.op("Mul", [g.const(np.float32(0.5)), x])
        return g.op("Mul", [half, g.op("Add", [g.const(np.float32(1)), erf])])
    if name == "mish":
        return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])])
    raise ValueError(f"ONNX export: {who}: activation {name!r} has no ONNX mapping")


# ---- layer converters: (graph, layer, config, inputs, static input shape) -> output -----------

def _to_first(g, x, rank):   # channels-last (N, ..., C) -> channels-first (N, C, ...)
    return g.op("Transpose", [x], perm=[0, rank - 1] + list(range(1, rank - 1)))


def _to_last(g, x, rank):
    return g.op("Transpose", [x], perm=[0] + list(range(2, rank)) + [1])


def _dense(g, layer, cfg, xs, shape):
    w = layer.get_weights()
    y = g.op("MatMul", [xs[0], g.const(w[0], "kernel")])
    if cfg.get("use_bias", True):
        y = g.op("Add", [y, g.const(w[1], "bias")])
    return _activation(g, y, cfg.get("activation"), layer.name)


def _conv_pads(cfg, kernel, rank):
    pad = cfg["padding"]
    if pad == "valid":
        return {"pads": [0] * (2 * rank)}
    if pad == "same":
        return {"auto_pad": "SAME_UPPER"}  # TF/Keras 'same': the odd pixel at the end
    if pad == "causal":  # Conv1D: (k - 1) * d zeros on the left only
        return {"pads": [(kernel[0] - 1) * cfg["dilation_rate"][0], 0]}
    raise ValueError(f"ONNX export: padding {pad!r} has no ONNX mapping")


def _conv(g, layer, cfg, xs, shape):
    w = layer.get_weights()
    rank = len(shape)                       # (N, ..., C)
    k = w[0]                                # Keras (k..., in/groups, out)
    spatial = k.ndim - 2
    onnx_k = np.transpose(k, (k.ndim - 1, k.ndim - 2) + tuple(range(spatial)))
    inputs = [_to_first(g, xs[0], rank), g.const(onnx_k, "kernel")]
    if cfg.get("use_bias", True):
        inputs.append(g.const(w[1], "bias"))
    strides, dil = list(cfg["strides"]), list(cfg["dilation_rate"])
    if cfg["padding"] == "same" and any(d > 1 for d in dil) and any(s > 1 for s in strides):
        raise ValueError(f"ONNX export: {layer.name}: padding='same' with both strides and "
                         f"dilation has no exact ONNX mapping")
    y = g.op("Conv", inputs, kernel_shape=list(k.shape[:spatial]), strides=strides,
             dilations=dil, group=int(cfg.get("groups", 1)),
             **_conv_pads(cfg, k.shape[:spatial], spatial))
    return _activation(g, _to_last(g, y, rank), cfg.get("activation"), layer.name)


def _pool(op_type):
    def convert(g, layer, cfg, xs, shape):
        rank = len(shape)
        pad = cfg["padding"]
        attrs = {"auto_pad": "SAME_UPPER"} if pad == "same" else {"pads": [0] * (2 * (rank - 2))}
        y = g.op(op_type, [_to_first(g, xs[0], rank)], kernel_shape=list(cfg["pool_size"]),
                 strides=list(cfg["strides"] or cfg["pool_size"]), **attrs)
        return _to_last(g, y, rank)
    return convert


def _global_pool(op_type):
    def convert(g, layer, cfg, xs, shape):
        return g.op(op_type, [xs[0]], axes=list(range(1, len(shape) - 1)),
                    keepdims=int(bool(cfg.get("keepdims", False))))
    return convert


def _batch_norm(g, layer, cfg, xs, shape):
    """Inference form y = x * scale + shift on the normalized axis (the moving statistics)."""
    axis = cfg.get("axis", -1)
    if axis not in (-1, len(shape) - 1):
        raise ValueError(f"ONNX export: {layer.name}: BatchNormalization over axis {axis} "
                         f"(only the last axis is exported)")
    w = list(layer.get_weights())          # [gamma if scale] [beta if center] mean, var
    gamma = w.pop(0) if cfg.get("scale", True) else 1.0
    beta = w.pop(0) if cfg.get("center", True) else 0.0
    mean, var = w
    scale = gamma / np.sqrt(var.astype(np.float64) + cfg["epsilon"])
    shift = beta - mean * scale
    y = g.op("Mul", [xs[0], g.const(scale.astype(np.float32), "bn_scale")])
    return g.op("Add", [y, g.const(shift.astype(np.float32), "bn_shift")])


def _identity(g, layer, cfg, xs, shape):
    return xs[0]


def _activation_layer(g, layer, cfg, xs, shape):
    return _activation(g, xs[0], cfg["activation"], layer.name)


def _flatten(g, layer, cfg, xs, shape):
    return g.op("Reshape", [xs[0], g.const(np.array([0, -1], np.int64), "shape")])


def _reshape(g, layer, cfg, xs, shape):
    target = np.array([0] + list(cfg["target_shape"]), np.int64)
    return g.op("Reshape", [xs[0], g.const(target, "shape")])


def _embedding(g, layer, cfg, xs, shape):
    if cfg.get("mask_zero"):
        raise ValueError(f"ONNX export: {layer.name}: mask_zero=True (masks are not exported)")
    ids = g.op("Cast", [xs[0]], to=g.onnx.TensorProto.INT64)
    return g.op("Gather", [g.const(layer.get_weights()[0], "embeddings"), ids], axis=0)


def _merge(op_type):
    def convert(g, layer, cfg, xs, shape):
        if op_type == "Sub":
            return g.op("Sub", xs[:2])
        return g.op(op_type, xs)
    return convert


def _concatenate(g, layer, cfg, xs, shape):
    return g.op("Concat", xs, axis=int(cfg.get("axis", -1)))


def _rescaling(g, layer, cfg, xs, shape):
    y = g.op("Mul", [xs[0], g.const(np.asarray(cfg["scale"], np.float32))])
    return g.op("Add", [y, g.const(np.asarray(cfg["offset"], np.float32))])


def _zero_padding(g, layer, cfg, xs, shape):
    pad = np.asarray(cfg["padding"]).reshape(-1, 2)          # per spatial axis (before, after)
    begins = [0] + list(pad[:, 0]) + [0]
    ends = [0] + list(pad[:, 1]) + [0]
    return g.op("Pad", [xs[0], g.const(np.array(begins + ends, np.int64), "pads")])


from grebe.export import onnx_layers, onnx_rnn  # noqa: E402  (converters below this module)


def _converters() -> dict:
    from grebe import layers as L

    table = {
        L.Dense: _dense, L.Conv1D: _conv, L.Conv2D: _conv,
        L.MaxPooling1D: _pool("MaxPool"), L.MaxPooling2D: _pool("MaxPool"),
        L.AveragePooling1D: _pool("AveragePool"), L.AveragePooling2D: _pool("AveragePool"),
        L.GlobalAveragePooling1D: _global_pool("ReduceMean"),
        L.GlobalAveragePooling2D: _global_pool("ReduceMean"),
        L.GlobalMaxPooling1D: _global_pool("ReduceMax"),
        L.GlobalMaxPooling2D: _global_pool("ReduceMax"),
        L.BatchNormalization: _batch_norm, L.Activation: _activation_layer,
        L.Flatten: _flatten, L.Reshape: _reshape, L.Embedding: _embedding,
        L.Add: _merge("Sum"), L.Subtract: _merge("Sub"), L.Multiply: _merge("Mul"),
        L.Average: _merge("Mean"), L.Maximum: _merge("Max"), L.Minimum: _merge("Min"),
        L.Concatenate: _concatenate, L.Rescaling: _rescaling,
        L.ZeroPadding1D: _zero_padding, L.ZeroPadding2D: _zero_padding,
        L.LSTM: onnx_rnn.lstm, L.GRU: onnx_rnn.gru, L.SimpleRNN: onnx_rnn.simple_rnn,
        L.Bidirectional: onnx_rnn.bidirectional,
        **onnx_layers.table(L),
    }
    # Layers that compute nothing at inference.
    for name in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
                 "GaussianDropout", "AlphaDropout", "Identity", "ActivityRegularization",
                 "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom"):
        cls = getattr(L, name, None)
        if cls is not None:
            table[cls] = _identity
    return table


# ---- the graph walk ---------------------------------------------------------------------------

def _graph_of(model):
    """(inputs, outputs, execution-ordered nodes) of a built Sequential or functional model."""
    from grebe.graph import map_graph

    inputs, outputs = getattr(model, "_inputs", None), getattr(model, "_outputs", None)
    if not inputs or not outputs:
        raise ValueError(f"ONNX export: model {model.name!r} has no recorded graph: build it "
                         f"with an Input (or call model.build(input_shape)) first; subclassed "
                         f"models are not exported")
    nodes = getattr(model, "_exec_nodes", None)
    if nodes is None:
        nodes, _ = map_graph(inputs, outputs)
    return list(inputs), list(outputs), nodes


def _walk(g: _Graph, model, values: dict, table: dict) -> None:
    """Appends the nodes of `model` given ONNX names of its inputs in `values`."""
    _, _, nodes = _graph_of(model)
    for node in nodes:
        layer = node.layer
        if node.call_args or any(v is not None for k, v in (node.call_kwargs or {}).items()
                                 if k not in ("training", "mask")):
            raise ValueError(f"ONNX export: {layer.name}: calls with extra arguments are not "
                             f"exported")
        xs = [values[t] for t in node.inputs]
        if getattr(layer, "_is_model", False):          # a nested model: inline its graph
            sub_in, sub_out, _ = _graph_of(layer)
            if len(sub_in) != len(xs):
                raise ValueError(f"ONNX export: nested model {layer.name!r} takes "
                                 f"{len(sub_in)} inputs, called with {len(xs)}")
            values.update(zip(sub_in, xs))
            _walk(g, layer, values, table)
            for t, s in zip(node.outputs, sub_out):
                values[t] = values[s]
            continue
        convert = table.get(type(layer))
        if convert is None:
            raise ValueError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) has "
                             f"no ONNX mapping")
        if len(node.outputs) != 1:
            raise ValueError(f"ONNX export: {layer.name}: layers with several outputs are not "
                             f"exported")
        shape = node.inputs[0].shape if node.inputs else ()
        values[node.outputs[0]] = convert(g, layer, layer.get_config(), xs, shape)


def _value_info(g: _Graph, name: str, kt, batch: str):
    onnx = g.onnx
    kind = {"f": onnx.TensorProto.FLOAT, "i": onnx.TensorProto.INT64,
            "u": onnx.TensorProto.INT64}.get(np.dtype(kt.dtype).kind, onnx.TensorProto.FLOAT)
    if kind == onnx.TensorProto.INT64 and np.dtype(kt.dtype) != np.int64:
        kind = onnx.TensorProto.INT32 if np.dtype(kt.dtype) == np.int32 else kind
    dims = [batch] + [d if d is not None else f"d{i}" for i, d in enumerate(kt.shape[1:], 1)]
    return g.helper.make_tensor_value_info(name, kind, dims)


def export_onnx(model, filepath, opset: int = OPSET, verbose: bool = False):
    """Writes `model` as an ONNX file at `filepath` (batch dimension dynamic). Returns the path."""
    import os

    if opset < 17:
        raise ValueError(f"ONNX export: opset must be >= 17, received {opset}")
    g = _Graph()
    inputs, outputs, _ = _graph_of(model)
    names = [kt.name or f"input_{i}" for i, kt in enumerate(inputs)]
    values = dict(zip(inputs, names))
    _walk(g, model, values, _converters())
    out_names = []
    for i, kt in enumerate(outputs):        # graph outputs get stable names
        name = f"output_{i}"
        g.nodes.append(g.helper.make_node("Identity", [values[kt]], [name]))
        out_names.append(name)
    graph = g.helper.make_graph(
        g.nodes, model.name, [_value_info(g, n, kt, "batch") for n, kt in zip(names, inputs)],
        [_value_info(g, n, kt, "batch") for n, kt in zip(out_names, outputs)],
        initializer=g.inits)
    proto = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", opset)],
                                producer_name="grebe")
    proto.ir_version = min(proto.ir_version, 9)  # readable by current ONNX Runtime releases
    g.onnx.checker.check_model(proto, full_check=True)
    path = os.fspath(filepath)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(proto.SerializeToString())
    os.replace(tmp, path)                   # atomic: never a half-written model
    if verbose:
        print(f"ONNX export: {path} ({len(g.nodes)} nodes, opset {opset})")
    return path
