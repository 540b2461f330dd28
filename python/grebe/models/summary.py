"""model.summary(): Keras 3's table of layers, output shapes and parameter counts.

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    │ dense (Dense)                   │ (None, 64)             │           320 │
    └─────────────────────────────────┴────────────────────────┴───────────────┘
     Total params: 320 (1.25 KB)
     Trainable params: 320 (1.25 KB)
     Non-trainable params: 0 (0.00 B)

Graph models that are not a plain chain get a "Connected to" column.
"""
from __future__ import annotations

import shutil

import numpy as np

def readable_size(n_bytes: float) -> str:
    units = ["B", "KB", "MB", "GB", "TB"]
    i = 0
    while n_bytes >= 1024 and i < len(units) - 1:
        n_bytes /= 1024
        i += 1
    return f"{n_bytes:.2f} {units[i]}"


def _fmt_shape(shape) -> str:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _graph_info(model):
    """(rows of (layer, its first node in the model or None), sequential_like)."""
    from grebe.models.functional import Functional
    from grebe.models.sequential import Sequential

    if isinstance(model, Sequential):
        nodes = {id(layer): node for layer, node in model._trace}
        return [(la, nodes.get(id(la))) for la in model.layers], True
    if not isinstance(model, Functional):
        return [(la, None) for la in model.layers], True
    model_nodes = list(model._exec_nodes) + [t._node for t in model._inputs]
    first = {}
    for node in model_nodes:
        first.setdefault(id(node.layer), node)
    rows = [(la, first.get(id(la))) for la in model.layers]
    sequential_like = len(model._inputs) == 1 and len(model._outputs) == 1 and all(
        len(n.inputs) <= 1 and len(n.outputs) == 1 for n in model._exec_nodes)
    if sequential_like:
        counts = {}
        for n in model._exec_nodes:
            counts[id(n.layer)] = counts.get(id(n.layer), 0) + 1
            consumers = sum(1 for m in model._exec_nodes if n.outputs[0] in m.inputs)
            if counts[id(n.layer)] > 1 or consumers > 1:
                sequential_like = False
                break
    return rows, sequential_like


def _connections(model, layer) -> str:
    from grebe.models.functional import Functional

    if not isinstance(model, Functional):
        return ""
    index = {}
    for la in model._layers:
        for k, n in enumerate(getattr(la, "_inbound_nodes", [])):
            index[id(n)] = k
    parts = []
    for node in model._exec_nodes:
        if node.layer is layer:
            for t in node.inputs:
                parts.append(f"{t._node.layer.name}[{index.get(id(t._node), 0)}][{t._index}]")
    return ", ".join(parts) if parts else "-"


def _param_cell(layer) -> str:
    if not layer.built:
        return "0 (unbuilt)"
    return f"{sum(int(w.size) for w in layer.weights):,}"


def _column_widths(positions, line_length, n) -> list:
    """Keras's columns (fractions of line_length), shrunk to leave room for the borders."""
    widths, current = [], 0
    for pos in positions:
        end = int(pos * line_length) if pos <= 1 else int(pos)
        widths.append(max(end - current, 4))
        current = end
    room = line_length - (n + 1)  # inner width (text + padding) of all columns together
    total = sum(widths)
    inner = [max(w * room // total, 4) for w in widths]
    for i in range(room - sum(inner)):
        inner[i % n] += 1
    return [w - 2 for w in inner]  # one space of padding on each side


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None) -> None:
    rows, sequential_like = _graph_info(model)
    if layer_range is not None:
        names = [la.name for la, _ in rows]
        lo, hi = (names.index(layer_range[0]), names.index(layer_range[1]))
        rows = rows[lo:hi + 1]
    if sequential_like:
        header, align = ["Layer (type)", "Output Shape", "Param #"], ["l", "l", "r"]
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
    else:
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["l", "l", "r", "l"]
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
    positions = list(positions or default_positions)
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        align.append("c")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    widths = _column_widths(positions, line_length or default_length, len(header))

    table = []
    for layer, node in rows:
        if node is not None:
            shapes = [t.shape for t in node.outputs]
            shape = _fmt_shape(shapes[0] if len(shapes) == 1 else shapes)
        else:
            shape = "?"
        cells = [f"{layer.name} ({type(layer).__name__})", shape, _param_cell(layer)]
        if not sequential_like:
            cells.append(_connections(model, layer))
        if show_trainable:
            cells.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        table.append(cells)

    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    lines += _row_lines(header, widths, align, "┃")
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    for i, cells in enumerate(table):
        lines += _row_lines(cells, widths, align, "│")
        if i != len(table) - 1:
            lines.append("├" + "┼".join("─" * (w + 2) for w in widths) + "┤")
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")

    weights = model.weights
    trainable = {id(w) for w in model.trainable_weights}
    n_train = sum(int(w.size) for w in weights if id(w) in trainable)
    n_fixed = sum(int(w.size) for w in weights if id(w) not in trainable)
    n_opt = _optimizer_params(model)
    total = n_train + n_fixed + n_opt  # Keras counts the optimizer's variables in the total
    lines.append(f" Total params: {total:,} ({readable_size(4 * total)})")
    lines.append(f" Trainable params: {n_train:,} ({readable_size(4 * n_train)})")
    lines.append(f" Non-trainable params: {n_fixed:,} ({readable_size(4 * n_fixed)})")
    if n_opt:
        lines.append(f" Optimizer params: {n_opt:,} ({readable_size(4 * n_opt)})")
    fused = model.fusion_plan() if hasattr(model, "fusion_plan") else []
    if fused:  # grebe.layers.fusion: runs of layers that execute as one kernel
        lines.append(" Fused: " + ", ".join(" + ".join(names) for names in fused))
    out = print_fn or print
    for line in lines:
        out(line)


def _optimizer_params(model) -> int:
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "built", False) or not hasattr(opt, "variables"):
        return 0
    try:
        return int(sum(np.size(v) for v in opt.variables))
    except (TypeError, ValueError):
        return 0


def _row_lines(cells, widths, align, bar) -> list:
    wrapped = [_wrap(str(c), w) for c, w in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    out = []
    for r in range(height):
        parts = []
        for col, w, a in zip(wrapped, widths, align):
            text = col[r] if r < len(col) else ""
            cell = text.rjust(w) if a == "r" else text.center(w) if a == "c" else text.ljust(w)
            parts.append(" " + cell + " ")
        out.append(bar + bar.join(parts) + bar)
    return out


def _wrap(text: str, width: int) -> list:
    lines = []
    for raw in text.split("\n"):
        while len(raw) > width:
            cut = raw.rfind(" ", 0, width + 1)
            cut = cut if cut > 0 else width
            lines.append(raw[:cut].rstrip())
            raw = raw[cut:].lstrip()
        lines.append(raw)
    return lines
