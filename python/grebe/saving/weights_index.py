"""Which tensors belong to which layer: the weight groups of a model, the index written to
files, and assigning a file's tensors back to layers (by position or by name)."""
from __future__ import annotations

import dataclasses

import numpy as np

from grebe.saving.archive import _OPT
from grebe.layers.layer import to_float32_weight


# ---- weights: which tensors belong to which layer --------------------------------------------
def _model_layers(model) -> list:
    layers = getattr(model, "layers", None)
    if layers is None:
        layers = model._layers
    return list(layers)


def _weight_groups(model) -> list:
    """[(group name, layer or None, [weight Tensors], [keys])] in the model's layer order.
    Keys are '<layer name>/<weight name>', unique in the file; a weight shared by two layers is
    stored once and listed in both."""
    groups, key_of, used = [], {}, set()

    def key_for(prefix, w, j):
        if id(w) in key_of:
            return key_of[id(w)]
        short = w.name or f"weight_{j}"
        if short.startswith(prefix + "/"):
            short = short[len(prefix) + 1:]
        key, k = f"{prefix}/{short}", 1
        while key in used or key.startswith(_OPT):
            key, k = f"{prefix}/{short}:{k}", k + 1
        used.add(key)
        key_of[id(w)] = key
        return key

    for layer in _model_layers(model):
        ws = list(layer.weights)
        groups.append((layer.name, layer, ws, [key_for(layer.name, w, j) for j, w in
                                               enumerate(ws)]))
    rest = [w for w in model.weights if id(w) not in key_of]
    if rest:  # weights the model owns directly (a subclassed model's add_weight)
        name = getattr(model, "name", "model")
        groups.append((name, None, rest, [key_for(name, w, j) for j, w in enumerate(rest)]))
    return groups


def _weights_index(groups) -> list:
    return [{"name": name, "class_name": type(layer).__name__ if layer is not None else None,
             "weights": keys, "shapes": [list(w.shape) for w in ws]}
            for name, layer, ws, keys in groups]


def _weight_tensors(groups) -> dict:
    out = {}
    for _, _, ws, keys in groups:
        for w, k in zip(ws, keys):
            out[k] = np.asarray(w.data if hasattr(w, "data") else w)
    return out


@dataclasses.dataclass
class WeightsReport:
    """What load_weights did: weight names loaded, (name, reason) skipped, and
    (name, shape in file, shape in model) mismatched (skipped because of the shape)."""

    loaded: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    mismatched: list = dataclasses.field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} weights, skipped {len(self.skipped)}, "
                 f"mismatched {len(self.mismatched)}"]
        lines += [f"  skipped {n}: {why}" for n, why in self.skipped]
        lines += [f"  mismatched {n}: file {f} vs model {m}" for n, f, m in self.mismatched]
        return "\n".join(lines)


def _pair_groups(model_groups, file_groups, by_name, skip_mismatch, source, report):
    """Pairs model layers with file layers (both restricted to layers that hold weights)."""
    mg = [g for g in model_groups if g[2]]
    fg = [g for g in file_groups if g["weights"]]
    if by_name:
        by = {}
        for g in fg:
            by.setdefault(g["name"], g)
        pairs = [(m, by.get(m[0])) for m in mg]
        model_names = {m[0] for m in mg}
        for g in fg:
            if g["name"] not in model_names:
                report.skipped += [(k, "in the file, no layer of that name in the model")
                                   for k in g["weights"]]
        return pairs
    if len(mg) != len(fg) and not skip_mismatch:
        raise ValueError(
            f"{source}: the file holds weights for {len(fg)} layers "
            f"{[g['name'] for g in fg]}, the model has {len(mg)} layers with weights "
            f"{[m[0] for m in mg]}; pass by_name=True to match layers by name, or "
            f"skip_mismatch=True to load what fits")
    pairs = [(m, fg[i] if i < len(fg) else None) for i, m in enumerate(mg)]
    for g in fg[len(mg):]:
        report.skipped += [(k, "in the file, the model has no layer at that position")
                           for k in g["weights"]]
    return pairs


def _assign(model, tensors, file_groups, *, by_name, skip_mismatch, source) -> WeightsReport:
    """Checks everything first, then assigns: a failed load leaves the model unchanged."""
    report = WeightsReport()
    model_groups = _weight_groups(model)
    if not any(g[2] for g in model_groups) and any(g["weights"] for g in file_groups):
        raise ValueError(f"{source}: the model has no weights yet: build it (call it on an "
                         f"input or model.build(input_shape)) before loading weights")
    todo = []
    for (name, layer, ws, keys), fgroup in _pair_groups(model_groups, file_groups, by_name,
                                                       skip_mismatch, source, report):
        names = [getattr(w, "path", None) or w.name or k for w, k in zip(ws, keys)]
        if fgroup is None:
            report.skipped += [(n, "no weights for this layer in the file") for n in names]
            continue
        missing = [k for k in fgroup["weights"] if k not in tensors]
        if missing:
            raise ValueError(f"{source}: corrupted file: the index lists tensors {missing} for "
                             f"layer {fgroup['name']!r} but the data has none of that name")
        file_keys = fgroup["weights"]
        if fgroup.get("by_key") and set(keys) <= set(file_keys):
            file_keys = keys  # a file written elsewhere: its key order is not the layer's
        arrays = [tensors[k] for k in file_keys]
        if all(a.shape == tuple(w.shape) for a, w in zip(arrays, ws)):
            arrays = [to_float32_weight(a, f"{source}: weight {k!r}")  # no silent inf
                      for a, k in zip(arrays, file_keys)]
        problem = None
        if len(arrays) != len(ws):
            problem = (f"layer {name!r} has {len(ws)} weights {[tuple(w.shape) for w in ws]}, "
                       f"the file's layer {fgroup['name']!r} has {len(arrays)} "
                       f"{[a.shape for a in arrays]}")
            mism = [(name, [a.shape for a in arrays], [tuple(w.shape) for w in ws])]
        else:
            mism = [(n, a.shape, tuple(w.shape)) for n, a, w in zip(names, arrays, ws)
                    if a.shape != tuple(w.shape)]
            if mism:
                problem = "; ".join(f"weight {n!r}: the file has shape {f}, the model {m}"
                                    for n, f, m in mism)
        if problem:
            if not skip_mismatch:
                raise ValueError(f"{source}: cannot load layer {name!r}: {problem} "
                                 f"(skip_mismatch=True skips such layers)")
            report.mismatched += mism
            continue
        todo.append((layer, ws, arrays))
        report.loaded += names
    for layer, ws, arrays in todo:
        lw = list(layer.weights) if layer is not None else []
        if len(lw) == len(ws) and all(a is b for a, b in zip(lw, ws)):
            layer.set_weights(arrays)  # lets a layer refresh anything derived from its weights
        else:
            for w, a in zip(ws, arrays):
                w.data[...] = a
    return report
