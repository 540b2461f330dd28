"""One model, one thread at a time.

Two models may train, evaluate and predict in two Python threads at once (grad mode is per
thread; kernels release the GIL). One model used from two threads at once is not supported:
its weights, optimizer slots, metrics and callbacks' state would interleave. `exclusive`
guards the entry points (fit, evaluate, predict, *_on_batch): the first call takes the model
for its thread, calls from the same thread nest freely (a callback that predicts inside fit),
and a call from another thread meanwhile raises a RuntimeError saying which call holds it.
"""
from __future__ import annotations

import functools
import threading

_lock = threading.Lock()


def exclusive(method):
    """Decorates a Model method so it refuses to run while another thread uses the model."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        me = threading.get_ident()
        state = self.__dict__
        with _lock:
            owner = state.get("_owner_thread")
            if owner is not None and owner != me:
                raise RuntimeError(
                    f"{type(self).__name__} '{getattr(self, 'name', '')}': {method.__name__}() "
                    f"was called from another thread while {state['_owner_call']}() is running "
                    f"in thread {owner}. One model cannot be used from two threads at once: "
                    f"use it from one thread, or give each thread its own model")
            if owner is None:
                state["_owner_thread"], state["_owner_call"], state["_owner_depth"] = \
                    me, method.__name__, 0
            state["_owner_depth"] += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            with _lock:
                state["_owner_depth"] -= 1
                if state["_owner_depth"] == 0:
                    state["_owner_thread"] = None
    return wrapper
