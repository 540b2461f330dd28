"""Reads the ragged ``dtype=object`` arrays of Keras's imdb.npz / reuters.npz without unpickling.

numpy stores an object array as a pickle stream, and ``np.load(allow_pickle=False)`` refuses it.
Rather than run a (restricted) unpickler, this walks the stream's opcodes with
``pickletools.genops`` — a parser that executes nothing — and interprets only the handful of
opcodes that a numpy object array of lists of ints uses: strings, ints, tuples, lists, the memo,
and GLOBAL/REDUCE/BUILD on exactly ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and
``numpy.dtype`` (and ``_codecs.encode``, evaluated here as ``str.encode``), which are never
imported or called: they become plain placeholders. Any other
opcode or global is an error naming it. Numeric members load with ``allow_pickle=False``.

>>> import io, numpy as np
>>> a = np.empty(2, dtype=object); a[0], a[1] = [1, 2], [3]
>>> buf = io.BytesIO(); np.savez(buf, x=a, y=np.arange(2)); _ = buf.seek(0)
>>> d = load_npz(buf, "demo.npz"); list(d["x"]), d["y"].tolist()
([[1, 2], [3]], [0, 1])
"""
from __future__ import annotations

import io
import pickletools
import zipfile
import zlib

import numpy as np

_GLOBALS = {("numpy.core.multiarray", "_reconstruct"): "reconstruct",
            ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
            ("numpy", "ndarray"): "ndarray", ("numpy", "dtype"): "dtype",
            ("_codecs", "encode"): "encode"}  # protocol 2 from Python 3 spells bytes so
_PUSH_ARG = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
             "BINSTRING", "STRING", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BININT",
             "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT"}
_CONST = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": (),
          "EMPTY_LIST": None}
_TUPLE_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_SKIP = {"PROTO", "FRAME", "STOP"}


class _Placeholder:
    """Stands for a numpy object the stream would build; holds only data, never calls."""

    def __init__(self, kind, args=()):
        self.kind, self.args, self.state = kind, args, None


def _pop_mark(stack, marks):
    start = marks.pop()
    items = stack[start:]
    del stack[start:]
    return items


def _interpret(stream: bytes, source: str):
    stack, marks, memo = [], [], {}
    for op, arg, _ in pickletools.genops(stream):
        name = op.name
        if name in _SKIP:
            continue
        if name in _PUSH_ARG:
            stack.append(arg)
        elif name in _CONST:
            stack.append([] if name == "EMPTY_LIST" else _CONST[name])
        elif name == "MARK":
            marks.append(len(stack))
        elif name in _TUPLE_N:
            n = _TUPLE_N[name]
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack, marks)))
        elif name == "LIST":
            stack.append(list(_pop_mark(stack, marks)))
        elif name == "APPEND":
            v = stack.pop()
            stack[-1].append(v)
        elif name == "APPENDS":
            items = _pop_mark(stack, marks)
            stack[-1].extend(items)
        elif name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, qual = arg.split(" ", 1)
            else:
                qual = stack.pop()
                module = stack.pop()
            if (module, qual) not in _GLOBALS:
                raise ValueError(f"{source}: refusing to read an object array that refers to "
                                 f"{module}.{qual} (only numpy array data is read)")
            stack.append(_Placeholder(_GLOBALS[(module, qual)]))
        elif name == "REDUCE":
            args = stack.pop()
            fn = stack.pop()
            if not isinstance(fn, _Placeholder) or fn.kind not in ("reconstruct", "dtype",
                                                                   "encode"):
                raise ValueError(f"{source}: unexpected call in an object array's data")
            if fn.kind == "encode":  # (text, 'latin1') -> bytes, computed here, not called
                stack.append(str(args[0]).encode(str(args[1]) if len(args) > 1 else "utf-8"))
                continue
            stack.append(_Placeholder("array" if fn.kind == "reconstruct" else "dtype_obj",
                                      args))
        elif name == "BUILD":
            state = stack.pop()
            if not isinstance(stack[-1], _Placeholder):
                raise ValueError(f"{source}: unexpected BUILD in an object array's data")
            stack[-1].state = state
        else:
            raise ValueError(f"{source}: unsupported pickle opcode {name} in an object array "
                             f"(only lists of integers are read)")
    if len(stack) != 1:
        raise ValueError(f"{source}: malformed object array data")
    return stack[0]


def _to_array(obj, source: str) -> np.ndarray:
    """The placeholder of ndarray(shape, dtype('O'), items) to a numpy object array."""
    state = obj.state if isinstance(obj, _Placeholder) and obj.kind == "array" else None
    if not isinstance(state, tuple) or len(state) != 5:
        raise ValueError(f"{source}: not a numpy object array")
    _, shape, dtype, _, items = state
    if not (isinstance(dtype, _Placeholder) and dtype.args[:1] == ("O8",)):
        raise ValueError(f"{source}: expected an array of dtype object")
    if not isinstance(items, list) or len(items) != int(np.prod(shape)):
        raise ValueError(f"{source}: object array data does not match its shape {shape}")
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v
    return out.reshape(shape)


def _read_member(raw: bytes, source: str) -> np.ndarray:
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if not dtype.hasobject:
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)
    return _to_array(_interpret(f.read(), source), source)


def load_npz(path, source: str | None = None) -> dict:
    """Every member of an .npz archive as a numpy array: numeric ones with
    allow_pickle=False, object arrays (lists of ints) through the opcode reader above."""
    source = source or str(path)
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if member.endswith(".npy"):
                    out[member[:-4]] = _read_member(z.read(member), f"{source}:{member}")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, KeyError, IndexError,
            TypeError) as e:
        raise ValueError(f"{source}: not a readable .npz file ({type(e).__name__}: {e})") \
            from None
    return out
