"""Fuzzes every binding of grebe._C with arrays of bad shapes, dtypes, layouts and values, and
with bad sizes, strides and flags: each call must return or raise ValueError/TypeError (a clear
message from the binding's checks) — never crash, hang, raise anything else (MemoryError from a
std::bad_alloc, RuntimeError, IndexError) or touch memory out of bounds.

    python tests/fuzz/fuzz_bindings.py -runs=20000 -seed=1      # see tests/fuzz/README.md

Two kinds of calls: most start from a real call (recorded at start-up while a small model of
every layer kind trains one step and the optimizers update) with one or two arguments mutated
(a dimension, the dtype, the layout, a NaN, an index out of range, a huge or negative size), so
they reach past the first check; the rest are built from each binding's pybind11 signature."""
from __future__ import annotations

import os
import re
import sys

import atheris
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_util  # noqa: E402

with atheris.instrument_imports():
    from grebe import _C

_SKIP = {"set_isa", "set_num_threads", "detect_isa", "active_isa", "num_threads", "max_threads",
         "physical_cores"}
_ALLOWED = (ValueError, TypeError)
_DTYPES = [np.float32] * 8 + [np.float64, np.int32, np.int64, np.bool_, np.complex64, np.float16,
                              np.uint8, object]
_INTS = [0, 1, 2, 3, 4, 5, 7, 8, -1, -2, 2**31 - 1, 2**31, -2**31, 2**40, 2**62, 10**30]
_FLOATS = [0.0, 1.0, -1.0, 0.5, 1e-7, 1e30, float("nan"), float("inf"), -float("inf")]


def _split_params(doc: str) -> list:
    """[(name, type text, has default)] from a pybind11 signature line."""
    inner = doc[doc.index("(") + 1:doc.rindex(") ->")] if ") ->" in doc else ""
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    out = []
    for p in parts:
        name, _, rest = p.strip().partition(":")
        typ, eq, _ = rest.partition(" = ")
        out.append((name.strip(), typ.strip(), bool(eq)))
    return out


_FUNCS = []
for _name in sorted(dir(_C)):
    _f = getattr(_C, _name)
    if callable(_f) and _name not in _SKIP and getattr(_f, "__doc__", None):
        _FUNCS.append((_name, _f, _split_params(_f.__doc__.strip().splitlines()[0])))


def _array(fdp, sizes):
    dtype = fdp.PickValueInList(_DTYPES)
    ndim = fdp.ConsumeIntInRange(0, 5)
    shape = tuple(fdp.PickValueInList(sizes) for _ in range(ndim))
    n = int(np.prod(shape)) if shape else 1
    if n > 1 << 16:
        shape, n = (n % 64,), n % 64
    kind = fdp.ConsumeIntInRange(0, 9)
    if dtype is object:
        a = np.empty(shape, object)
        a.reshape(-1)[:] = [None] * n
        return a
    if np.dtype(dtype).kind in "iub":
        hi = fdp.PickValueInList([2, 8, 64, 2**31 - 1])
        a = np.random.default_rng(fdp.ConsumeIntInRange(0, 99)).integers(
            -2 if kind == 0 else 0, hi, size=shape).astype(dtype)
    else:
        a = np.random.default_rng(fdp.ConsumeIntInRange(0, 99)).standard_normal(shape)
        if kind == 1 and n:
            a.reshape(-1)[0] = fdp.PickValueInList(_FLOATS)
        a = a.astype(dtype)
    if kind == 2 and a.ndim >= 2:  # not C-contiguous
        a = np.swapaxes(a, 0, 1)
    elif kind == 3 and a.ndim >= 1 and a.shape[0] >= 2:
        a = a[::2]
    elif kind == 4:
        a.flags.writeable = False
    return a


def _value(fdp, typ: str, sizes):
    optional = "None" in typ
    if optional and fdp.ConsumeIntInRange(0, 3) == 0:
        return None
    if "ndarray" in typ or "ArrayLike" in typ or typ == "object":
        r = fdp.ConsumeIntInRange(0, 15)
        if typ == "object" and r == 0:
            return None
        if r == 1:
            return fdp.PickValueInList([[1.0, 2.0], "x", 3, None])
        return _array(fdp, sizes)
    m = re.search(r'FixedSize\((\d+)\)', typ)
    if m:
        n = int(m.group(1)) + (fdp.ConsumeIntInRange(-1, 1) if fdp.ConsumeIntInRange(0, 9) == 0
                               else 0)
        return [fdp.PickValueInList(sizes + _INTS) for _ in range(max(n, 0))]
    if typ.startswith("list"):
        return [_array(fdp, sizes) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if "Sequence" in typ:
        return [fdp.PickValueInList(_FLOATS) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if typ == "bool":
        return fdp.ConsumeBool()
    if "SupportsInt" in typ:
        return fdp.PickValueInList(sizes + _INTS)
    if "SupportsFloat" in typ:
        return fdp.PickValueInList(_FLOATS)
    if typ == "str":
        return fdp.ConsumeUnicodeNoSurrogates(8)
    return None


_RECORDED = []  # (name, fn, args tuple, kwargs dict) of real calls


def _record_real_calls() -> None:
    """Runs a small model of every layer kind for one training step with every optimizer and
    loss, recording each grebe._C call it makes (arguments copied)."""
    import grebe
    from grebe import layers

    originals = {name: fn for name, fn, _ in _FUNCS}

    def wrap(name, fn):
        def rec(*args, **kwargs):
            if len(_RECORDED) < 4000:
                cp = lambda v: v.copy() if isinstance(v, np.ndarray) else (
                    [cp(u) for u in v] if isinstance(v, list) else v)
                _RECORDED.append((name, fn, tuple(cp(a) for a in args),
                                  {k: cp(v) for k, v in kwargs.items()}))
            return fn(*args, **kwargs)
        return rec
    for name, fn in originals.items():
        setattr(_C, name, wrap(name, fn))
    try:
        rng = np.random.default_rng(0)
        specs = [
            ((8, 8, 3), [layers.Conv2D(4, 3, activation="relu", padding="same"),
                         layers.MaxPooling2D(2), layers.Conv2D(4, 3, dilation_rate=2, padding="same"),
                         layers.AveragePooling2D(2, padding="same"), layers.BatchNormalization(),
                         layers.GlobalMaxPooling2D()]),
            ((8, 8, 3), [layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                         layers.GlobalAveragePooling2D()]),
            ((6, 4), [layers.LSTM(5, return_sequences=True), layers.GRU(5),
                      layers.Dense(3, activation="elu")]),
            ((6, 4), [layers.SimpleRNN(5), layers.LayerNormalization(), layers.Dense(3)]),
            ((5,), [layers.Dense(7, activation="tanh"), layers.Dense(3, activation="sigmoid")]),
        ]
        losses = ["sparse_categorical_crossentropy", "categorical_crossentropy",
                  "binary_crossentropy", "mse"]
        opts = ["sgd", "adam", "rmsprop", "adagrad"]
        for i, (shape, ls) in enumerate(specs):
            model = grebe.Sequential([grebe.Input(shape)] + ls)
            loss = losses[i % len(losses)]
            model.compile(optimizer=opts[i % len(opts)], loss=loss)
            x = rng.standard_normal((4,) + shape).astype(np.float32)
            k = model.output_shape[-1]
            y = rng.integers(0, k, 4) if loss.startswith("sparse") else \
                np.eye(k, dtype=np.float32)[rng.integers(0, k, 4)]
            model.fit(x, y, epochs=1, batch_size=4, verbose=0)
            model.predict(x, verbose=0)
    finally:
        for name, fn in originals.items():
            setattr(_C, name, fn)


def _mutate_array(fdp, a):
    if not isinstance(a, np.ndarray):  # a None inside a list of arrays (optional slots)
        return _array(fdp, [1, 2, 3]) if fdp.ConsumeBool() else a
    r = fdp.ConsumeIntInRange(0, 8)
    if r == 0 and a.ndim:  # one dimension changed
        shape = list(a.shape)
        shape[fdp.ConsumeIntInRange(0, a.ndim - 1)] = fdp.PickValueInList([0, 1, 2, 3, 5, 9])
        return np.resize(a, shape) if np.prod(shape) else np.zeros(shape, a.dtype)
    if r == 1:  # rank changed
        return a.reshape(a.shape + (1,)) if fdp.ConsumeBool() or a.ndim == 0 else \
            a.reshape(-1)
    if r == 2:
        return a.astype(fdp.PickValueInList(_DTYPES[8:]))
    if r == 3 and a.ndim >= 2:
        return np.swapaxes(a, 0, 1)
    if r == 4 and a.size:  # a special value, or an index out of range for integer arrays
        b = a.copy()
        v = fdp.PickValueInList(_FLOATS) if a.dtype.kind in "fc" else \
            fdp.PickValueInList([-1, -2**31, 2**31 - 1, a.size, 10**6])
        with np.errstate(all="ignore"):
            b.reshape(-1)[fdp.ConsumeIntInRange(0, a.size - 1)] = np.asarray(v).astype(b.dtype)
        return b
    if r == 5:
        b = a.copy()
        b.flags.writeable = False
        return b
    if r == 6:
        return None
    return a


def _mutate_value(fdp, v, sizes):
    if isinstance(v, np.ndarray):
        return _mutate_array(fdp, v)
    if isinstance(v, list) and v and isinstance(v[0], np.ndarray):
        v = list(v)
        if fdp.ConsumeBool():
            i = fdp.ConsumeIntInRange(0, len(v) - 1)
            v[i] = _mutate_array(fdp, v[i])
        else:
            v = v[:-1] if fdp.ConsumeBool() else v + v[:1]
        return v
    if isinstance(v, (list, tuple)):
        v = list(v)
        if v:
            v[fdp.ConsumeIntInRange(0, len(v) - 1)] = fdp.PickValueInList(_INTS)
        return v
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return fdp.PickValueInList(_INTS + sizes)
    if isinstance(v, float):
        return fdp.PickValueInList(_FLOATS)
    return v


def _from_recording(fdp):
    name, fn, args, kwargs = fdp.PickValueInList(_RECORDED)
    args, kwargs = list(args), dict(kwargs)
    keys = [("a", i) for i in range(len(args))] + [("k", k) for k in kwargs]
    for _ in range(fdp.ConsumeIntInRange(1, 2)):
        if not keys:
            break
        where, key = fdp.PickValueInList(keys)
        if where == "a":
            args[key] = _mutate_value(fdp, args[key], [0, 1, 2])
        else:
            kwargs[key] = _mutate_value(fdp, kwargs[key], [0, 1, 2])
    return name, fn, args, kwargs


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if _RECORDED and fdp.ConsumeIntInRange(0, 3):
        name, fn, pos, args = _from_recording(fdp)
    else:
        name, fn, params = fdp.PickValueInList(_FUNCS)
        sizes = [fdp.ConsumeIntInRange(0, 9) for _ in range(3)]
        pos, args = [], {}
        for pname, typ, has_default in params:
            if has_default and fdp.ConsumeIntInRange(0, 2) == 0:
                continue
            args[pname] = _value(fdp, typ, sizes)
    if os.environ.get("GREBE_FUZZ_VERBOSE"):
        print(name, {k: (getattr(v, "shape", v), getattr(v, "dtype", None),
                         getattr(getattr(v, "flags", None), "c_contiguous", None))
                     for k, v in args.items()}, file=sys.stderr, flush=True)
    try:
        fn(*pos, **args)
    except _ALLOWED:
        pass
    except MemoryError as e:
        # A size argument (S, x_shape, padding) far beyond memory fails in numpy's allocator
        # with "Unable to allocate N GiB for an array with shape ...": clear, and allowed. A
        # bare std::bad_alloc from inside a kernel's workspace names nothing: a finding.
        if "Unable to allocate" not in str(e):
            fuzz_util.finding(name, e)
    except Exception as e:  # noqa: BLE001 - anything else is a finding
        shapes = {k: (getattr(v, "shape", None), str(getattr(v, "dtype", type(v).__name__)))
                  for k, v in args.items()}
        fuzz_util.finding(name, e, f" (args {shapes})")


def main() -> None:
    fuzz_util.limit_memory()
    _C.set_num_threads(1)  # one thread: the fuzzer runs many tiny calls
    _record_real_calls()
    # The C++ is not instrumented: instrumenting this harness gives libFuzzer feedback on which
    # binding, argument and mutation an input reached, so the corpus spreads over all of them.
    atheris.instrument_func(test_one_input)
    for f in (_from_recording, _mutate_value, _mutate_array, _value, _array):
        atheris.instrument_func(f)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
