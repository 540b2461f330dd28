"""Real Keras 3 files: `.keras` archives and `.weights.h5` weight files, both ways.

    grebe.load_model("model.keras")        # written by keras.Model.save: config + weights (+ Adam/
                                           # SGD/RMSprop state), rebuilt as a grebe model
    model.save("m.keras")                  # keras.saving.load_model opens it
    model.load_weights("x.weights.h5")     # Keras 3's HDF5 layout, both ways
    model.save_weights("x.weights.h5")

A `.keras` archive is a zip of config.json (Keras 3's serialization format, which grebe's own
configs follow), metadata.json and model.weights.h5. In the HDF5 file each layer's variables sit
in `<path>/vars/<i>` where the path names containers the way Keras does — by the snake-cased
class name, numbered within the container (`layers/dense`, `layers/dense_1`, ...) — and
sub-objects by attribute (`lstm/cell`, `bidirectional/forward_layer/cell`,
`time_distributed/layer`). grebe's get_weights() order is Keras's variable order for every layer
grebe has, so weights map one to one. h5py is an optional dependency: `pip install "grebe[keras]"`.

Keras arguments that grebe does not have are accepted only at their neutral value (None, False,
0); any other value raises an error naming the layer and the argument, never a silent drop.
Nothing is unpickled. With safe_mode=True (the default) a Lambda layer whose function is stored
as code is refused, as in Keras.
"""
from __future__ import annotations

import inspect
import io
import json
import os
import zipfile

import numpy as np

_CONFIG, _META, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
KERAS_VERSION = "3.15.1"  # the Keras version whose format grebe writes (metadata.json)


def _h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError('Keras .keras / .weights.h5 files need h5py: pip install '
                          '"grebe[keras]"') from e
    return h5py


def is_keras_file(path) -> bool:
    p = os.fspath(path)
    return p.endswith(".keras") or p.endswith(".h5")


# ---- weights: where Keras keeps each layer's variables ------------------------------------------

def _container(layers) -> list:
    """[(key, layer)] with Keras's keys: snake-cased class names, numbered on repeats."""
    from grebe.layers.layer import _snake  # Keras's rule: Conv2D -> conv2d, LSTMCell -> lstm_cell

    used, out = {}, []
    for la in layers:
        base = _snake(type(la).__name__)
        n = used.get(base, 0)
        used[base] = n + 1
        out.append((base if n == 0 else f"{base}_{n}", la))
    return out


def weight_paths(obj, prefix: str = "") -> list:
    """The HDF5 dataset path of each of obj.get_weights(), in order."""
    from grebe import layers as L

    if getattr(obj, "_is_model", False):
        paths = []
        for key, la in _container([la for la in obj.layers
                                   if not getattr(la, "_is_input_layer", False)]):
            paths += weight_paths(la, f"{prefix}layers/{key}/")
        return paths
    if isinstance(obj, L.Bidirectional):
        return (weight_paths(obj.forward_layer, f"{prefix}forward_layer/") +
                weight_paths(obj.backward_layer, f"{prefix}backward_layer/"))
    if isinstance(obj, L.TimeDistributed):
        return weight_paths(obj.layer, f"{prefix}layer/")
    n = len(obj.get_weights())
    if isinstance(obj, (L.LSTM, L.GRU, L.SimpleRNN, L.ConvLSTM1D, L.ConvLSTM2D)):
        prefix += "cell/"   # Keras keeps a recurrent layer's variables on its cell
    return [f"{prefix}vars/{i}" for i in range(n)]


def _write_weights_h5(model, f) -> None:
    h5py = _h5py()
    with h5py.File(f, "w") as h:
        for path, w in zip(weight_paths(model), model.get_weights()):
            h.create_dataset(path, data=np.asarray(w))
        h.require_group("layers")
        _write_optimizer_h5(model, h)


def _read_weights_h5(model, f, source: str, skip_mismatch: bool = False) -> list:
    """Assigns the model's weights from a Keras HDF5 weights file; returns skipped paths."""
    h5py = _h5py()
    values, skipped = [], []
    with h5py.File(f, "r") as h:
        for path, w in zip(weight_paths(model), model.get_weights()):
            if path not in h:
                if skip_mismatch:
                    skipped.append(path)
                    values.append(w)
                    continue
                raise ValueError(f"{source}: no weights at {path!r} (the file's model differs: "
                                 f"it holds {_list_datasets(h)[:12]})")
            a = np.asarray(h[path])
            if a.shape != w.shape:
                if skip_mismatch:
                    skipped.append(path)
                    values.append(w)
                    continue
                raise ValueError(f"{source}: weight {path!r} has shape {a.shape}, the model "
                                 f"expects {w.shape}")
            values.append(a.astype(np.float32))
        opt_state = _read_optimizer_h5(h)
    model.set_weights(values)
    return skipped if opt_state is None else skipped + [("optimizer", opt_state)]


def _list_datasets(h) -> list:
    names = []
    h.visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
    return sorted(names)


# ---- optimizer state --------------------------------------------------------------------------
# Keras 3 stores optimizer.variables as optimizer/vars/<i>: iterations, learning_rate, then the
# slots, interleaved per trainable variable (Adam: m, v). grebe's optimizers keep the same order
# (Optimizer.variables / load_own_variables), so the state moves as it is.

def _write_optimizer_h5(model, h) -> None:
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return
    for i, v in enumerate(opt.variables):
        h.create_dataset(f"optimizer/vars/{i}", data=np.asarray(v))


def _read_optimizer_h5(h):
    if "optimizer" not in h or "vars" not in h["optimizer"]:
        return None
    g = h["optimizer/vars"]
    return [np.asarray(g[str(i)]) for i in range(len(g))]


def _restore_optimizer(model, keras_vars, source: str) -> None:
    opt = getattr(model, "optimizer", None)
    if opt is None or len(keras_vars) <= 2 and not np.any(keras_vars[0]):
        return  # Keras never stepped: no slots were made, nothing to move
    if not opt.built:
        opt.build(model.trainable_weights)
    try:
        opt.load_own_variables({str(i): v for i, v in enumerate(keras_vars)})
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{source}: cannot restore the optimizer state: {e}") from e


# ---- configs: Keras -> grebe ------------------------------------------------------------------

_NEUTRAL = (None, False, 0, 0.0, "", (), [], {})
# Keras arguments that only act when another one is set (then they are not neutral).
_ONLY_WITH = {"renorm_momentum": "renorm", "renorm_clipping": "renorm",
              "ema_momentum": "use_ema", "ema_overwrite_frequency": "use_ema"}


def _accepted(cls) -> set | None:
    """The keyword arguments cls(...) takes (its __init__ and those its **kwargs reach up the
    class chain); None when some __init__ takes anything."""
    names = set()
    for c in cls.__mro__:
        if "__init__" not in c.__dict__ or c is object:
            continue
        try:
            params = inspect.signature(c.__dict__["__init__"]).parameters
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in params.values()
                     if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names            # this __init__ takes no more: the chain ends here
    return None if not names else names


def _grebe_class(obj: dict, custom_objects):
    from grebe import initializers
    from grebe.layers.layer import Layer
    from grebe.serialization import get_class

    module = str(obj.get("module") or "")
    name = obj["class_name"]
    if module.startswith("keras.initializers"):
        cls = getattr(initializers, name, None)
        return cls if isinstance(cls, type) else None
    custom = ">" in str(obj.get("registered_name") or "") and not module.startswith("keras")
    if name.startswith("__") or not (module.startswith("keras.layers") or custom):
        return None     # models, optimizers, losses, symbolic tensors: read as they are
    try:
        cls = get_class(name, custom_objects, obj.get("registered_name"))
    except ValueError:
        raise ValueError(f"Keras file: layer class {name!r} has no grebe equivalent (pass "
                         f"custom_objects={{'{name}': ...}} if it is your own)") from None
    return None if getattr(cls, "_is_model", False) or not issubclass(cls, Layer) else cls


def _lambda_function(obj, safe_mode):
    if safe_mode:
        raise ValueError("Keras file: a Lambda layer's function is stored as Python bytecode; "
                         "loading it runs code from the file, which safe_mode=True refuses. "
                         "Pass safe_mode=False only for files you trust.")
    import base64
    import marshal
    import types

    code = marshal.loads(base64.b64decode(obj["config"]["code"]))
    return types.FunctionType(code, {"__builtins__": __builtins__})


def _uses_masks(config) -> bool:
    text = json.dumps(config)
    return '"mask_zero": true' in text or '"class_name": "Masking"' in text


def to_grebe_config(obj, custom_objects=None, safe_mode=True, where="model"):
    """A Keras 3 config tree -> the same tree as grebe's from_config takes (DTypePolicy dicts
    become their names; Keras arguments grebe lacks are dropped only at neutral values)."""
    if isinstance(obj, list):
        return [to_grebe_config(v, custom_objects, safe_mode, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if obj.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in obj:
        return obj["config"]["name"]
    if obj.get("class_name") == "__lambda__":
        return _lambda_function(obj, safe_mode)
    out = {k: to_grebe_config(v, custom_objects, safe_mode, where)
           for k, v in obj.items() if k != "shared_object_id"}
    if "class_name" in obj and isinstance(obj.get("config"), dict):
        cls = _grebe_class(obj, custom_objects)
        cfg = out["config"]
        if cls is not None:
            who = cfg.get("name", obj["class_name"])
            accepted = _accepted(cls)
            for key in [k for k in cfg if accepted is not None and k not in accepted]:
                if cfg[key] in _NEUTRAL or not obj["config"].get(_ONLY_WITH.get(key, ""), True) \
                        or (key == "zero_output_for_mask" and where == "no masks"):
                    del cfg[key]
                else:
                    raise ValueError(f"Keras file: {obj['class_name']} {who!r}: argument "
                                     f"{key}={cfg[key]!r} has no grebe equivalent")
    return out


# ---- configs: grebe -> Keras ------------------------------------------------------------------

def to_keras_config(obj):
    """grebe's serialized config tree -> what keras.saving.load_model reads."""
    if isinstance(obj, list):
        return [to_keras_config(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: to_keras_config(v) for k, v in obj.items()}
    module = str(obj.get("module") or "")
    if module.startswith("grebe.layers") or module == "grebe.models.functional":
        out["module"] = "keras.layers"
    if module.startswith("grebe.models") and obj.get("class_name") in ("Sequential",
                                                                       "Functional"):
        out["module"] = "keras"
    return out


# ---- .keras archives --------------------------------------------------------------------------

def save_keras(model, filepath, overwrite: bool = True) -> None:
    """model -> a Keras 3 `.keras` archive that keras.saving.load_model opens."""
    from grebe.atomic_io import atomic_write
    from grebe.saving import json_config, model_file
    from grebe.serialization import serialize

    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    config = to_keras_config(serialize(model))
    if type(model).__name__ == "Functional":
        config["module"], config["class_name"] = "keras.src.models.functional", "Functional"
    config["build_config"] = model.get_build_config()
    cc = model.get_compile_config() if getattr(model, "optimizer", None) is not None else None
    if cc:
        config["compile_config"] = _compile_to_keras(json_config.serialize_object(cc))
    weights = io.BytesIO()
    _write_weights_h5(model, weights)
    meta = {"keras_version": KERAS_VERSION, "date_saved": "", "grebe": True}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(_META, json.dumps(meta))
        z.writestr(_CONFIG, json.dumps(config, default=json_config._json_default))
        z.writestr(_WEIGHTS, weights.getvalue())
    atomic_write(filepath, buf.getvalue())


def _compile_to_keras(cc: dict) -> dict:
    """grebe's serialized compile config -> Keras's (objects carry their keras module)."""
    def tag(v, module):
        if isinstance(v, list):
            return [tag(e, module) for e in v]
        if isinstance(v, dict) and "class_name" in v:
            return {"module": module, "registered_name": None, **v}
        if isinstance(v, dict):
            return {k: tag(e, module) for k, e in v.items()}
        return v

    out = dict(cc)
    for key, module in (("optimizer", "keras.optimizers"), ("loss", "keras.losses"),
                        ("metrics", "keras.metrics"), ("weighted_metrics", "keras.metrics")):
        if key in out:
            out[key] = tag(out[key], module)
    return out


def load_keras(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A `.keras` archive written by Keras 3 (or by save_keras) -> a grebe model."""
    from grebe.atomic_io import atomic_write
    from grebe.saving import json_config, model_file

    filepath = os.fspath(filepath)
    try:
        z = zipfile.ZipFile(filepath)
    except zipfile.BadZipFile:
        raise ValueError(f"{filepath}: not a Keras .keras archive (not a zip file)") from None
    with z:
        names = set(z.namelist())
        for member in (_CONFIG, _WEIGHTS):
            if member not in names:
                raise ValueError(f"{filepath}: not a Keras .keras archive (no {member})")
        config = json.loads(z.read(_CONFIG))
        weights = io.BytesIO(z.read(_WEIGHTS))
    # zero_output_for_mask (set by Keras inside Bidirectional) only acts on masked steps.
    where = "masks" if _uses_masks(config) else "no masks"
    config = to_grebe_config(config, custom_objects, safe_mode, where)
    cls = model_file._resolve_class(config, custom_objects)
    kwargs = {}
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        kwargs["custom_objects"] = custom_objects
    model = cls.from_config(config["config"], **kwargs)
    model_file._build_model(model, config.get("build_config"))
    extra = _read_weights_h5(model, weights, filepath)
    cc = config.get("compile_config")
    if compile and cc:
        model.compile(**json_config._deserialize_compile(_compile_from_keras(cc), custom_objects))
        for item in extra:
            if isinstance(item, tuple) and item[0] == "optimizer":
                _restore_optimizer(model, item[1], filepath)
    return model


def _compile_from_keras(cc: dict) -> dict:
    """Keras's compile_config -> the arguments of compile() (unknown keys are refused there)."""
    out = {k: v for k, v in cc.items() if v is not None and k not in
           ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")}
    opt = out.get("optimizer")
    if isinstance(opt, dict):
        opt = dict(opt, module="keras.optimizers", registered_name=None)
        cfg = {k: v for k, v in opt["config"].items() if v not in (None,) or k == "name"}
        for k in ("use_ema", "ema_momentum", "ema_overwrite_frequency"):
            if k in cfg and not cfg.get("use_ema"):
                cfg.pop(k)
        opt["config"] = cfg
        out["optimizer"] = opt
    return out


# ---- .weights.h5 files ------------------------------------------------------------------------

def save_weights_h5(model, filepath, overwrite: bool = True) -> None:
    from grebe.atomic_io import atomic_write
    from grebe.saving import json_config, model_file

    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    buf = io.BytesIO()
    _write_weights_h5(model, buf)
    atomic_write(filepath, buf.getvalue())


def load_weights_h5(model, filepath, skip_mismatch: bool = False):
    filepath = os.fspath(filepath)
    if not model.weights:
        raise ValueError(f"load_weights: model {model.name!r} has no weights yet: build it "
                         f"before loading {filepath}")
    with open(filepath, "rb") as f:
        extra = _read_weights_h5(model, io.BytesIO(f.read()), filepath, skip_mismatch)
    return [p for p in extra if not isinstance(p, tuple)]
