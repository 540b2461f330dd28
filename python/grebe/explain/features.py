"""Feature maps: the outputs of named layers from one forward pass."""
from __future__ import annotations

import contextlib

import numpy as np

from grebe.explain import _core


def activations(model, x, layers=None) -> dict:
    """{layer name: output (numpy)} for `layers` (names or Layer objects; None = every layer of
    the model, nested models' layers included), all from one inference pass over the batch."""
    who = "activations"
    x = _core.as_batch(x, who)
    if layers is None:
        chosen = [la for la in _core.all_layers(model) if la is not model and not la._layers]
    else:
        chosen = [_core.find_layer(model, la, who) for la in layers]
    got: dict = {}

    def keeper(la):
        def keep(out):
            got[la.name] = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
            return out
        return keep

    with contextlib.ExitStack() as stack:
        for la in chosen:
            stack.enter_context(_core.layer_hook(la, keeper(la)))
        _core.forward(model, x)
    return {la.name: got[la.name] for la in chosen if la.name in got}
