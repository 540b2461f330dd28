"""Model and weight files: safetensors for the tensors, JSON for everything else, no pickle.

A model file (``model.save("digits.grebe")``) is a zip archive holding

- ``config.json``: the architecture (``model.get_config()`` with the class name), the build
  input shape, the compile config (optimizer config, loss, metrics) and an index that lists,
  layer by layer, the names of that layer's tensors in model.safetensors;
- ``model.safetensors``: every weight (named ``<layer>/<weight>``) and the optimizer state
  (``optimizer/<key>``: moments, iteration counters).

A weights file (``model.save_weights("w.weights.safetensors")``) is a plain safetensors file with
the same layer index in its ``__metadata__``; any safetensors reader opens it.

    model.save("digits.grebe")
    model2 = grebe.load_model("digits.grebe")
    report = other.load_weights("digits.grebe", by_name=True, skip_mismatch=True)

Opening a file never runs code (JSON + raw numbers). Writes are atomic: the bytes go to a
temporary file in the same directory, are flushed and fsync'ed, then renamed over the target, so
a crash leaves either the old file or the new one. A truncated, corrupted or foreign file gives a
ValueError that names the file and what is wrong.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from grebe import safetensors_io

MODEL_FORMAT = "grebe.model"
WEIGHTS_FORMAT = "grebe.weights"
FORMAT_VERSION = 1
_CONFIG = "config.json"
_TENSORS = "model.safetensors"
_OPT = "optimizer/"


# ---- atomic writes ---------------------------------------------------------------------------
def atomic_write(path, data: bytes) -> None:
    """Writes `data` to `path` atomically: temp file in the same directory, fsync, os.replace."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible on every platform
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _file_mode(path) -> int:
    """The mode a plain open() would give: the old file's, else 0666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _check_overwrite(path, overwrite: bool) -> None:
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{os.fspath(path)!r} exists and overwrite=False")


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
        names = [w.name or k for w, k in zip(ws, keys)]
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


# ---- JSON helpers ------------------------------------------------------------------------------
def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, np.dtype):
        return str(o)
    if callable(o) and hasattr(o, "__name__"):
        return o.__name__
    raise TypeError(f"cannot save a {type(o).__name__} in a model config: {o!r}")


def _to_json(obj) -> bytes:
    return json.dumps(obj, indent=1, default=_json_default).encode("utf-8")


def serialize_object(obj):
    """A loss/metric/optimizer as JSON: a name string stays a string, an object with get_config
    becomes {"class_name", "config"}, a function becomes its name."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, dict):
        return {str(k): serialize_object(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [serialize_object(v) for v in obj]
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    if callable(obj) and hasattr(obj, "__name__"):
        return obj.__name__
    raise TypeError(f"cannot serialize {obj!r} in a compile config")


def _compile_config(model):
    if not getattr(model, "compiled", getattr(model, "optimizer", None) is not None):
        return None
    getter = getattr(model, "get_compile_config", None)
    cfg = getter() if getter is not None else None
    if cfg is None:
        cfg = {}
        for key, attr in (("optimizer", "optimizer"), ("loss", "loss"),
                          ("metrics", "_compile_metrics")):
            if getattr(model, attr, None) is not None:
                cfg[key] = getattr(model, attr)
    if not cfg:
        return None
    return serialize_object(cfg)


def _deserialize_compile(cfg: dict, custom_objects) -> dict:
    out = dict(cfg)
    opt = cfg.get("optimizer")
    if isinstance(opt, (dict, str)):
        from grebe import optimizers

        out["optimizer"] = (optimizers.deserialize(opt, custom_objects) if isinstance(opt, dict)
                            else optimizers.get(opt))
    for key, module in (("loss", "grebe.losses"), ("metrics", "grebe.metrics"),
                        ("weighted_metrics", "grebe.metrics")):
        if key in cfg:
            out[key] = _from_json(module, cfg[key], custom_objects)
    return out


def _from_json(module_name, v, custom_objects):
    """A loss/metric (or a list/per-output dict of them) from its JSON form: names stay names
    (compile() reads them) unless custom_objects maps them; {"class_name", "config"} dicts
    become objects."""
    if isinstance(v, list):
        return [_from_json(module_name, e, custom_objects) for e in v]
    if isinstance(v, str):
        return (custom_objects or {}).get(v, v)
    if not isinstance(v, dict):
        return v
    if "class_name" not in v:  # one entry per output
        return {k: _from_json(module_name, e, custom_objects) for k, e in v.items()}
    name, config = v["class_name"], v.get("config") or {}
    cls = (custom_objects or {}).get(name)
    if cls is None:
        import importlib

        module = importlib.import_module(module_name)
        if hasattr(module, "deserialize"):
            return module.deserialize(v)
        cls = getattr(module, name, None)
        if cls is None:
            raise ValueError(f"unknown class {name!r} in the compile config: pass "
                             f"custom_objects={{'{name}': ...}} to load_model")
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)


# ---- model files -------------------------------------------------------------------------------
def _build_config(model):
    getter = getattr(model, "get_build_config", None)
    if getter is not None:
        try:
            cfg = getter()
        except Exception:  # noqa: BLE001 - an unbuilt model has none; fall back below
            cfg = None
        if cfg:
            return cfg
    for attr in ("_build_input_shape", "input_shape"):
        try:
            shape = getattr(model, attr, None)
        except Exception:  # noqa: BLE001 - Keras raises on input_shape for unbuilt models
            shape = None
        if shape is not None:
            return {"input_shape": shape}
    return None


def _optimizer_state(model) -> dict:
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "get_state"):
        return {}
    return {_OPT + k: np.asarray(v) for k, v in opt.get_state().items()}


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Saves architecture, weights, compile config and optimizer state in one zip file
    (a path ending in .keras: Keras 3's own archive, see grebe.keras_files)."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        from grebe import keras_files

        return keras_files.save_keras(model, filepath, overwrite=overwrite)
    _check_overwrite(filepath, overwrite)
    groups = _weight_groups(model)
    tensors = _weight_tensors(groups)
    if include_optimizer:
        tensors.update(_optimizer_state(model))
    import grebe

    config = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "grebe_version": grebe.__version__,
        "class_name": type(model).__name__,
        "registered_name": getattr(type(model), "_registered_name", None),
        "config": model.get_config(),
        "build_config": _build_config(model),
        "compile_config": _compile_config(model) if include_optimizer else None,
        "weights_index": _weights_index(groups),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(_CONFIG, _to_json(config))
        z.writestr(_TENSORS, safetensors_io.dumps(tensors, {"format": MODEL_FORMAT}))
    atomic_write(filepath, buf.getvalue())


def _read_bytes(filepath) -> bytes:
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"no such file: {filepath!r}")
    with open(filepath, "rb") as f:
        return f.read()


def _read_model_zip(filepath, blob: bytes):
    """(config dict, tensors dict) from a .grebe zip, with a clear error for each defect."""
    try:
        z = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise ValueError(f"{filepath}: not a grebe model file (not a zip archive, or truncated: "
                         f"{len(blob)} bytes)") from None
    with z:
        names = set(z.namelist())
        for member in (_CONFIG, _TENSORS):
            if member not in names:
                raise ValueError(f"{filepath}: not a grebe model file: member {member!r} is "
                                 f"missing (the zip holds {sorted(names)[:10]})")
        try:
            raw_config, raw_tensors = z.read(_CONFIG), z.read(_TENSORS)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise ValueError(f"{filepath}: corrupted model file ({e})") from None
    try:
        config = json.loads(raw_config.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{filepath}: corrupted model file: {_CONFIG} is not valid JSON "
                         f"({e})") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ValueError(f"{filepath}: not a grebe model file ({_CONFIG} has no "
                         f"'format': '{MODEL_FORMAT}')")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{filepath}: written by a newer grebe (format version "
                         f"{config['format_version']}, this one reads {FORMAT_VERSION})")
    for key in ("class_name", "config", "weights_index"):
        if key not in config:
            raise ValueError(f"{filepath}: corrupted model file: {_CONFIG} lacks {key!r}")
    tensors, _ = safetensors_io.loads(raw_tensors, source=f"{filepath}:{_TENSORS}")
    return config, tensors


def _resolve_class(config, custom_objects):
    from grebe.layers.serialization import get_class

    return get_class(config["class_name"], custom_objects, config.get("registered_name"))


def _build_model(model, build_config) -> None:
    if model.weights or not build_config or build_config.get("input_shape") is None:
        return
    shape = build_config["input_shape"]
    if hasattr(model, "build"):
        multi = isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple))
        model.build([tuple(s) for s in shape] if multi else tuple(shape))
    if not model.weights:  # build() made nothing: run a forward pass on zeros
        from grebe import autograd
        from grebe.tensor import Tensor

        with autograd.no_grad():
            model(Tensor(np.zeros(tuple(1 if d is None else d for d in shape), np.float32)))


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True):
    """Rebuilds a model saved with save_model: architecture, weights and, with compile=True,
    the compile config and the optimizer state, so that training continues exactly. A path
    ending in .keras is read as a Keras 3 archive (grebe.keras_files; safe_mode as in Keras)."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        from grebe import keras_files

        return keras_files.load_keras(filepath, custom_objects, compile, safe_mode)
    blob = _read_bytes(filepath)
    if not blob.startswith(b"PK"):
        hint = ""
        if len(blob) >= 8 and blob[8:9] == b"{":
            hint = " (this looks like a weights file: build the model, then load_weights)"
        raise ValueError(f"{filepath}: not a grebe model file (not a zip archive){hint}")
    config, tensors = _read_model_zip(filepath, blob)
    cls = _resolve_class(config, custom_objects)
    kwargs = {}
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        kwargs["custom_objects"] = custom_objects
    model = cls.from_config(config["config"], **kwargs)
    _build_model(model, config.get("build_config"))
    _assign(model, tensors, config["weights_index"], by_name=False, skip_mismatch=False,
            source=filepath)
    cc = config.get("compile_config")
    if compile and cc:
        model.compile(**_deserialize_compile(cc, custom_objects))
        state = {k[len(_OPT):]: v for k, v in tensors.items() if k.startswith(_OPT)}
        if state:
            _restore_optimizer(model, state, filepath)
    return model


def _restore_optimizer(model, state: dict, source) -> None:
    """Hands the saved state to the optimizer; an optimizer that builds its slots lazily (on
    the first apply) keeps it until then, so the slots line up with the weights it trains."""
    opt = model.optimizer
    if not hasattr(opt, "set_state"):
        return
    lr = getattr(opt, "_learning_rate", None)
    if type(lr) is float and "learning_rate" in state and \
            np.float32(lr) == np.asarray(state["learning_rate"]).astype(np.float32):
        # The config holds the rate as an exact double; the state only as float32. Keep the
        # double, or the resumed run would step with a rate rounded to float32.
        state = dict(state, learning_rate=np.asarray(lr, np.float64))
    try:
        opt.set_state(state)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{source}: cannot restore the optimizer state: {e}") from e


# ---- weights files -----------------------------------------------------------------------------
def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Saves the weights alone as a safetensors file (layer index in its metadata); a path
    ending in .h5 gets Keras 3's HDF5 layout (grebe.keras_files)."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".h5"):
        from grebe import keras_files

        return keras_files.save_weights_h5(model, filepath, overwrite=overwrite)
    _check_overwrite(filepath, overwrite)
    groups = _weight_groups(model)
    import grebe

    meta = {"format": WEIGHTS_FORMAT, "format_version": str(FORMAT_VERSION),
            "grebe_version": grebe.__version__,
            "weights_index": json.dumps(_weights_index(groups))}
    atomic_write(filepath, safetensors_io.dumps(_weight_tensors(groups), meta))


def _file_groups_from_plain(tensors: dict) -> list:
    """A safetensors file written elsewhere: group '<layer>/<weight>' keys by layer prefix, in
    the order the keys appear."""
    groups = {}
    for k in tensors:
        if k.startswith(_OPT):
            continue
        groups.setdefault(k.split("/", 1)[0], []).append(k)
    return [{"name": n, "weights": ks, "by_key": True} for n, ks in groups.items()]


def load_weights(model, filepath, skip_mismatch: bool = False,
                 by_name: bool = False) -> WeightsReport:
    """Loads weights from a weights file or a .grebe model file into `model`.

    Layers are matched by position among the layers that hold weights (by_name=False, Keras's
    default) or by layer name (by_name=True: partial loading into a different architecture,
    e.g. a pre-trained base under a new head). A shape or count mismatch raises ValueError,
    unless skip_mismatch=True, which skips that layer. Returns a WeightsReport. A Keras 3
    `.weights.h5` file (or a `.keras` archive) is read by grebe.keras_files."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".h5"):
        from grebe import keras_files

        return keras_files.load_weights_h5(model, filepath, skip_mismatch)
    if filepath.endswith(".keras"):
        from grebe import keras_files

        return model.set_weights(keras_files.load_keras(filepath, compile=False).get_weights())
    blob = _read_bytes(filepath)
    if blob.startswith(b"PK"):
        config, tensors = _read_model_zip(filepath, blob)
        index = config["weights_index"]
    else:
        tensors, meta = safetensors_io.loads(blob, source=filepath)
        if "weights_index" in meta:
            try:
                index = json.loads(meta["weights_index"])
            except ValueError as e:
                raise ValueError(f"{filepath}: corrupted weights index in the metadata "
                                 f"({e})") from None
        else:
            index = _file_groups_from_plain(tensors)
            by_name = True
    if not isinstance(index, list) or not all(
            isinstance(g, dict) and isinstance(g.get("name"), str)
            and isinstance(g.get("weights"), list) for g in index):
        raise ValueError(f"{filepath}: corrupted weights index (expected a list of "
                         f"{{'name', 'weights'}} entries)")
    return _assign(model, tensors, index, by_name=by_name, skip_mismatch=skip_mismatch,
                   source=filepath)
