"""In-place writes between forward and backward (used by autograd; see its docstring).

Every numpy array a recorded node saved for backward is read-only while the node is alive; a
raw numpy write fails at once. grebe's own writes go through `write_arrays`, which opens the
array, writes, and bumps its version, so that node's backward raises (`_Hold.check`) instead of
computing wrong gradients, as PyTorch's version counters do.
"""
from __future__ import annotations

import threading

import numpy as np

# ---- in-place writes between forward and backward -----------------------------------------------
# id(array) -> [array, live nodes holding it, version, who wrote it last]; the entry keeps the
# array alive, so an id is never reused while it is in here. The lock covers threads that train
# different models (one model from two threads at once is refused by the trainer).
_held: dict = {}
_held_lock = threading.Lock()


class _Hold:
    """The arrays one node holds read-only and their versions when it saved them; released by
    backward or when the node dies."""

    __slots__ = ("arrays", "versions")

    def __init__(self, arrays, versions):
        self.arrays = arrays
        self.versions = versions

    def check(self, node) -> None:
        """Raises if a grebe write (assign, set_weights, an optimizer) changed a saved array."""
        for a, v in zip(self.arrays, self.versions):
            entry = _held[id(a)]
            if entry[2] != v:
                raise RuntimeError(
                    f"backward: {entry[3] or f'an array of shape {a.shape}'} was written in place after the forward that saved it "
                    f"for backward ({type(node).__name__}), so its gradients would be wrong. "
                    f"Run the forward again after changing weights or inputs")

    def release(self) -> None:
        arrays, self.arrays = self.arrays, ()
        if not arrays:
            return
        with _held_lock:
            for a in reversed(arrays):  # bases (appended last) before the views taken of them
                entry = _held[id(a)]
                entry[1] -= 1
                if entry[1] == 0:
                    del _held[id(a)]
                    try:
                        a.setflags(write=True)
                    except ValueError:  # its base was made read-only since: leave it so
                        pass

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to protect
            pass


def _hold_saved(saved, raw):
    """Makes the ndarrays in `saved` (one level of tuples/lists looked into) read-only, and the
    raw input arrays a saved view was taken from (same numpy base); returns their _Hold.
    Runs once per recorded op: kept to plain loops (setflags is twice as fast as .flags)."""
    nd = np.ndarray
    picked = []
    for v in saved:
        if type(v) is nd:
            picked.append(v)
            base = v.base
            if base is not None:  # a view: also hold the input it was taken from
                for r in raw:
                    if type(r) is nd and r is not v and (r is base or r.base is base):
                        picked.append(r)
        elif type(v) is tuple or type(v) is list:
            for u in v:
                if type(u) is nd:
                    picked.append(u)
    if not picked:
        return None
    arrays, versions = [], []
    held = _held
    with _held_lock:
        for a in picked:
            entry = held.get(id(a))
            if entry is not None:
                entry[1] += 1
            elif a.flags.writeable:
                a.setflags(write=False)
                entry = held[id(a)] = [a, 1, 0, None]
            else:
                continue  # read-only already (not by us): nothing to give back later
            arrays.append(a)
            versions.append(entry[2])
    return _Hold(arrays, versions) if arrays else None


def write_arrays(arrays, names, write) -> None:
    """Runs `write()`, which writes `arrays` in place (assign, set_weights, an optimizer step).

    An array that a live graph saved for backward is opened for the write and its version
    bumped, so that graph's backward raises instead of giving wrong gradients (as PyTorch's
    version counters do). An array that is read-only for any other reason raises here, naming
    it (`names[i]`), before anything is written."""
    opened = []
    for a, name in zip(arrays, names):
        if a.flags.writeable:
            continue
        if id(a) not in _held or _held[id(a)][0] is not a:
            raise RuntimeError(f"{name} cannot be written: its array is read-only")
        opened.append((a, name))
    if not opened:
        write()
        return
    with _held_lock:
        for a, _ in opened:
            a.flags.writeable = True
    try:
        write()
    finally:
        with _held_lock:
            for a, name in opened:
                entry = _held.get(id(a))
                if entry is not None:  # (a node may have released it meanwhile)
                    entry[2] += 1
                    entry[3] = name
                    a.flags.writeable = False
