"""MultiOptimizer and OptimizerMap (Keras 3): different optimizers for different weights,
chosen by the weight's path ('dense/kernel') — an exact key first, else the one regular
expression that fully matches — or by a callable `f(weight) -> optimizer`."""
from __future__ import annotations

import re

from grebe.optimizers.optimizer import Optimizer


def _path(w) -> str:
    return getattr(w, "path", None) or getattr(w, "name", None) or ""


class OptimizerMap:
    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise ValueError(f"OptimizerMap: default_optimizer must be an Optimizer, "
                             f"received {default_optimizer!r}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = dict(optimizer_map or {})
        for k, opt in self._optimizer_map.items():
            if isinstance(opt, MultiOptimizer):
                raise ValueError("OptimizerMap: an optimizer cannot be a MultiOptimizer")

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key: str):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        hits = [k for k in self._optimizer_map if re.fullmatch(k, key)]
        if len(hits) > 1:
            raise ValueError(f"OptimizerMap: path {key!r} matches several patterns {hits}")
        return self._optimizer_map[hits[0]] if hits else self._default_optimizer

    def __setitem__(self, key, optimizer):
        self._optimizer_map[key] = optimizer

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[_path(variable)]

    def optimizers(self) -> list:
        out = [self._default_optimizer]
        for o in self._optimizer_map.values():
            if all(o is not x for x in out):
                out.append(o)
        return out


class MultiOptimizer(Optimizer):
    """Delegates each weight's update to the optimizer `optimizer_map(weight)` gives."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not callable(optimizer_map):
            raise ValueError(f"MultiOptimizer: optimizer_map must be an OptimizerMap or a "
                             f"callable, received {optimizer_map!r}")
        super().__init__(0.0, loss_scale_factor=loss_scale_factor,
                         name=name or "multi_optimizer")
        self.optimizer_map = optimizer_map
        self._assignment = {}

    def build(self, var_list) -> None:
        var_list = list(var_list)
        groups = {}
        for w in var_list:
            opt = self.optimizer_map(w)
            self._assignment[id(w)] = opt
            groups.setdefault(id(opt), (opt, []))[1].append(w)
        for opt, ws in groups.values():
            opt.build(ws)
        self._weights = var_list
        self._index = {id(w): i for i, w in enumerate(var_list)}
        self.built = True

    def apply(self, grads, trainable_variables=None):
        weights = self._weights if trainable_variables is None else list(trainable_variables)
        grads = list(grads)
        if not self.built:
            self.build(weights)
        groups = {}
        for g, w in zip(grads, weights):
            if g is None:
                continue
            opt = self._assignment.get(id(w)) or self.optimizer_map(w)
            if self.loss_scale_factor:
                g = g * (1.0 / self.loss_scale_factor)
            groups.setdefault(id(opt), (opt, [], []))
            groups[id(opt)][1].append(g)
            groups[id(opt)][2].append(w)
        for opt, gs, ws in groups.values():
            opt.apply(gs, ws)
        self._iterations += 1

    @property
    def variables(self) -> list:
        out = []
        seen = set()
        for opt in self._assignment.values():
            if id(opt) not in seen:
                seen.add(id(opt))
                out += opt.variables
        return out
