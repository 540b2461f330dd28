"""DLPack in: `grebe.from_dlpack(obj)` wraps another library's CPU tensor without copying.

    import torch, grebe
    t = torch.arange(6, dtype=torch.float32)
    g = grebe.from_dlpack(t)          # shares t's memory: a write through either is seen by both
    back = torch.from_dlpack(g)       # and out again (Tensor.__dlpack__), still the same memory

grebe computes on C-contiguous float32 (and integer label) arrays. Other inputs are converted
(a copy) when copy=None, refused with a clear error when copy=False, and always copied when
copy=True — the array API's rule.
"""
from __future__ import annotations

import numpy as np

from grebe.tensor import Tensor


def from_dlpack(obj, requires_grad: bool = False, copy=None) -> Tensor:
    """A grebe Tensor over the memory of `obj` (anything with __dlpack__, e.g. a torch tensor,
    a numpy array, a JAX array on the CPU)."""
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a torch/JAX/numpy "
                        f"array), received {type(obj).__name__}")
    try:
        a = np.from_dlpack(obj)
    except (BufferError, RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"from_dlpack: cannot import {type(obj).__name__} ({e}); only CPU "
                         f"tensors can be shared with grebe") from None
    ok_dtype = a.dtype == np.float32 or (a.dtype.kind in "iub" and not requires_grad)
    shared = ok_dtype and a.flags.c_contiguous and copy is not True
    if not shared:
        if copy is False:
            why = (f"dtype {a.dtype} (grebe computes in float32)" if not ok_dtype else
                   "a non-contiguous layout")
            raise ValueError(f"from_dlpack: cannot share memory with {type(obj).__name__} of "
                             f"{why}; pass copy=None (convert) or make it contiguous float32")
        a = np.array(a, dtype=np.float32 if not ok_dtype or a.dtype.kind == "f" else a.dtype,
                     order="C", copy=True)
    t = Tensor._make(a, bool(requires_grad), None, 0)   # wraps `a` itself: no copy
    t.trainable = bool(requires_grad)
    return t
