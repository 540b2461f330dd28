"""plot_model: a picture of a model's layer graph (Keras's arguments). Through pydot + graphviz
when both are installed; otherwise drawn with matplotlib — boxes per layer, arrows per
connection, laid out by depth — so a PNG comes out on any machine with matplotlib.

>>> import grebe, tempfile, os
>>> m = grebe.Sequential([grebe.Input((4,)), grebe.layers.Dense(2)])
>>> path = os.path.join(tempfile.mkdtemp(), "m.png")
>>> grebe.utils.plot_model(m, path, show_shapes=True)
>>> open(path, "rb").read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""
from __future__ import annotations

import os
import shutil

__all__ = ["plot_model", "model_to_dot"]


def _fmt(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _nodes(model) -> list:
    """The model's graph nodes in execution order (inputs first), or [] when unknown."""
    from grebe.models.functional import Functional
    from grebe.models.sequential import Sequential

    if isinstance(model, Functional):
        return [t._node for t in model._inputs] + list(model._exec_nodes)
    if isinstance(model, Sequential) and model._trace:
        return [model._inputs[0]._node] + [n for _, n in model._trace]
    return []


def _graph(model):
    """(boxes, edges): boxes are dicts with the layer and its node (or None); edges are
    (from index, to index) pairs."""
    nodes = _nodes(model)
    if not nodes:  # not traced: the layers in order
        layers = list(model.layers)
        return ([{"layer": la, "node": None} for la in layers],
                [(i, i + 1) for i in range(len(layers) - 1)])
    index, boxes = {}, []
    for node in nodes:
        if id(node.layer) not in index:
            index[id(node.layer)] = len(boxes)
            boxes.append({"layer": node.layer, "node": node})
    edges = []
    for node in nodes:
        for t in node.inputs:
            edge = (index[id(t._node.layer)], index[id(node.layer)])
            if edge not in edges:
                edges.append(edge)
    return boxes, edges


def _activation_name(layer):
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return act if isinstance(act, str) else getattr(act, "__name__", type(act).__name__)


def _label(box, show_shapes, show_dtype, show_layer_names, show_layer_activations,
           show_trainable) -> list:
    layer, node = box["layer"], box["node"]
    cls = type(layer).__name__
    lines = [f"{layer.name} ({cls})" if show_layer_names else cls]
    if show_layer_activations and _activation_name(layer):
        lines.append(f"Activation: {_activation_name(layer)}")
    if show_trainable:
        lines.append(f"Trainable: {'T' if layer.trainable else 'F'}")
    if show_shapes and node is not None:
        ins = [t.shape for t in node.inputs] if node.inputs else [t.shape for t in node.outputs]
        outs = [t.shape for t in node.outputs]
        lines.append(f"Input shape: {_fmt(ins[0] if len(ins) == 1 else ins)}")
        lines.append(f"Output shape: {_fmt(outs[0] if len(outs) == 1 else outs)}")
    if show_dtype and node is not None:
        lines.append(f"Output dtype: {node.outputs[0].dtype}")
    return lines


def _depths(n: int, edges) -> list:
    depth = [0] * n
    for _ in range(n):  # edges follow execution order, so one pass suffices; loops are cheap
        changed = False
        for a, b in edges:
            if depth[b] < depth[a] + 1:
                depth[b], changed = depth[a] + 1, True
        if not changed:
            break
    return depth


def _draw_matplotlib(labels, edges, to_file, rankdir, dpi):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch
    except ImportError:
        raise ImportError("plot_model needs matplotlib (pip install matplotlib) or pydot with "
                          "graphviz to draw the model") from None
    n = len(labels)
    depth = _depths(n, edges)
    rows = {}
    for i, d in enumerate(depth):
        rows.setdefault(d, []).append(i)
    char_w, line_h = 0.075, 0.22  # inches per character and per text line at 9 pt
    box_w = max(1.6, max(len(s) for lab in labels for s in lab) * char_w + 0.3)
    box_h = max(len(lab) for lab in labels) * line_h + 0.25
    gap_x, gap_y = 0.5, 0.55
    pos = {}
    for d, members in rows.items():
        for k, i in enumerate(members):
            across = (k - (len(members) - 1) / 2) * (box_w + gap_x)
            along = d * (box_h + gap_y)
            pos[i] = (across, -along) if rankdir == "TB" else (along * (box_w + gap_x) /
                                                               (box_h + gap_y), -across)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    width = max(xs) - min(xs) + box_w + 0.4
    height = max(ys) - min(ys) + box_h + 0.4
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(min(xs) - box_w / 2 - 0.2, max(xs) + box_w / 2 + 0.2)
    ax.set_ylim(min(ys) - box_h / 2 - 0.2, max(ys) + box_h / 2 + 0.2)
    ax.axis("off")
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        if rankdir == "TB":
            start, end = (xa, ya - box_h / 2), (xb, yb + box_h / 2)
        else:
            start, end = (xa + box_w / 2, ya), (xb - box_w / 2, yb)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0})
    for i, lab in enumerate(labels):
        x, y = pos[i]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor="#e8eef7", edgecolor="#335577", lw=1.0))
        ax.text(x, y, "\n".join(lab), ha="center", va="center", fontsize=9,
                family="DejaVu Sans", linespacing=1.35)
    fig.savefig(to_file, dpi=dpi)


def _pydot():
    """The pydot module when it and graphviz's `dot` are both installed, else None."""
    try:
        import pydot
    except ImportError:
        return None
    return pydot if shutil.which("dot") else None


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, **kwargs):
    """The model's graph as a pydot.Dot (needs pydot and graphviz)."""
    pydot = _pydot()
    if pydot is None:
        raise ImportError("model_to_dot needs pydot and graphviz: pip install pydot, and "
                          "install graphviz (apt-get install graphviz); plot_model works "
                          "without them (it draws with matplotlib)")
    boxes, edges = _graph(model)
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=str(dpi))
    dot.set_node_defaults(shape="box", style="rounded", fontname="Helvetica")
    for i, box in enumerate(boxes):
        label = "\n".join(_label(box, show_shapes, show_dtype, show_layer_names,
                                 show_layer_activations, show_trainable))
        dot.add_node(pydot.Node(str(i), label=label))
    for a, b in edges:
        dot.add_edge(pydot.Edge(str(a), str(b)))
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, **kwargs):
    """Draws the model's layer graph to `to_file` (PNG, or any format matplotlib/graphviz
    writes, by extension). rankdir 'TB' (top to bottom) or 'LR'. Each box is the layer's
    class (and name with show_layer_names), its input and output shapes with show_shapes."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR'. Received: "
                         f"rankdir={rankdir!r}")
    if not getattr(model, "layers", None):
        raise ValueError(f"plot_model: model '{getattr(model, 'name', model)}' has no layers "
                         f"to plot")
    to_file = os.fspath(to_file)
    pydot = _pydot()
    if pydot is not None:
        dot = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir,
                           expand_nested, dpi, show_layer_activations=show_layer_activations,
                           show_trainable=show_trainable)
        ext = os.path.splitext(to_file)[1][1:] or "png"
        dot.write(to_file, format=ext)
        return None
    boxes, edges = _graph(model)
    labels = [_label(b, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                     show_trainable) for b in boxes]
    _draw_matplotlib(labels, edges, to_file, rankdir, dpi)
    return None
