"""What compile() holds: the loss of each output (CompileLoss) and the metrics (CompileMetrics).

Losses run on Tensors (they are differentiated); metrics run on numpy arrays after the step,
so they never touch the autograd graph. Names follow Keras: 'loss', '<output>_loss' for each
output of a multi-output model, metric names, prefixed '<output>_' when there are several
outputs.
"""
from __future__ import annotations

import inspect

import numpy as np

from grebe import autograd
from grebe.tensor import Tensor


class MeanTracker:
    """A running, count-weighted mean of scalars (the 'loss' shown during fit)."""

    def __init__(self, name: str):
        self.name = name
        self.total = 0.0
        self.count = 0.0

    def update_state(self, value: float, count: float = 1.0) -> None:
        self.total += float(value) * count
        self.count += count

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0


def to_numpy(out) -> np.ndarray:
    """A model output (Tensor or array-like) as a numpy array."""
    return out.data if hasattr(out, "data") and not isinstance(out, np.ndarray) else \
        np.asarray(out)


def _name_of(fn) -> str:
    name = getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return str(name)


def as_loss_tensor(name, value, y_pred):
    from grebe.losses.loss import as_loss_tensor as check

    return check(name, value, y_pred)


class LossFn:
    """One output's loss: `fn(y_true, y_pred, sample_weight)` -> scalar Tensor, whether `fn` is a
    Loss object (it reduces, weighting samples itself) or a plain function returning one value
    per sample (reduced here as Keras's 'sum_over_batch_size': sum(w * v) / count)."""

    def __init__(self, identifier):
        from grebe import losses

        fn = losses.resolve(identifier)  # a Loss object: built-in losses take their fused path
        if not callable(fn):
            raise TypeError(f"compile: a loss must be a name, a Loss or a function "
                            f"fn(y_true, y_pred); received {identifier!r}")
        self.fn = fn
        self.identifier = identifier
        self.name = _name_of(fn)
        if isinstance(fn, losses.Loss):
            self.takes_weight = True
        else:
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                params = {}
            self.takes_weight = "sample_weight" in params or any(
                p.kind == p.VAR_KEYWORD for p in params.values())

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        if self.takes_weight:
            if sample_weight is None:
                out = self.fn(y_true, y_pred)
            else:
                out = self.fn(y_true, y_pred, sample_weight=sample_weight)
            out = as_loss_tensor(self.name, out, y_pred)
            if out.ndim == 0:
                return out
            return _reduce(out, None)
        out = as_loss_tensor(self.name, self.fn(y_true, y_pred), y_pred)
        return _reduce(out, sample_weight)


def _reduce(values: Tensor, sample_weight) -> Tensor:
    if values.ndim == 0:
        return values
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float32)
        if w.ndim < values.ndim:
            w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
        values = values * w
    return values.sum() * (1.0 / values.size)


def _per_output(spec, names, what):
    """A loss/weight/metric spec as one entry per output (None where an output has none)."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} has keys {unknown} that are not output names; "
                             f"the model's outputs are {names}")
        return [spec.get(k) for k in names]
    if isinstance(spec, (list, tuple)) and what != "metrics":
        if len(spec) != n:
            raise ValueError(f"compile: {what} is a list of {len(spec)} entries, but the model "
                             f"has {n} output(s) {names}")
        return list(spec)
    return [spec] * n


class CompileLoss:
    """The total loss sum_i w_i * loss_i(y_true_i, y_pred_i) over the model's outputs."""

    def __init__(self, loss, loss_weights=None, output_names=None):
        self.loss = loss
        self.loss_weights = loss_weights
        self.output_names = output_names
        self.fns = None
        self.trackers = []

    def build(self, output_names: list) -> None:
        self.output_names = list(output_names)
        specs = _per_output(self.loss, self.output_names, "loss")
        self.fns = [None if s is None else LossFn(s) for s in specs]
        if all(f is None for f in self.fns):
            raise ValueError("compile: no loss for any output")
        weights = self.loss_weights
        if weights is None:
            self.weights = [1.0] * len(self.fns)
        elif isinstance(weights, (int, float)) and len(self.fns) == 1:
            self.weights = [float(weights)]
        else:
            self.weights = [1.0 if w is None else float(w)
                            for w in _per_output(weights, self.output_names, "loss_weights")]
        multi = len(self.fns) > 1
        self.trackers = [MeanTracker(f"{n}_loss") if multi and f is not None else None
                         for n, f in zip(self.output_names, self.fns)]

    def __call__(self, y_true: list, y_pred: list, sample_weight: list):
        """Total loss Tensor; per-output values go to the trackers (batch size `count`)."""
        total = None
        for i, fn in enumerate(self.fns):
            if fn is None:
                continue
            if y_true[i] is None:
                raise ValueError(f"compile: output '{self.output_names[i]}' has a loss but no "
                                 f"target was given")
            value = fn(y_true[i], y_pred[i], sample_weight[i])
            if self.trackers[i] is not None:
                self.trackers[i].update_state(float(value.data), len(y_pred[i]))
            if self.weights[i] != 1.0:
                value = value * self.weights[i]
            total = value if total is None else total + value
        return total

    def reset_state(self) -> None:
        for t in self.trackers:
            if t is not None:
                t.reset_state()


class FnMetric:
    """A plain function fn(y_true, y_pred) used as a metric: the weighted mean of its values."""

    def __init__(self, fn, name=None):
        self.fn = fn
        self.name = name or _name_of(fn)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with autograd.no_grad():
            v = self.fn(y_true, y_pred)
        v = np.asarray(v.data if isinstance(v, Tensor) else v, dtype=np.float64)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.size
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            w = np.broadcast_to(w.reshape(w.shape + (1,) * (v.ndim - w.ndim)), v.shape)
            self.total += float((v * w).sum())
            self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0


def _resolve_metric(identifier, loss_fn, y_true, y_pred):
    if isinstance(identifier, str):
        from grebe import metrics

        resolve = getattr(metrics, "resolve", None)
        loss = None if loss_fn is None else loss_fn.identifier
        if resolve is not None:
            m = resolve(identifier, loss, np.shape(y_true), np.shape(y_pred))
        else:
            m = metrics.get(identifier)
    elif isinstance(identifier, type):
        m = identifier()
    else:
        m = identifier
    if not hasattr(m, "update_state") and callable(m):
        from grebe import metrics

        try:
            m = metrics.get(m)  # a function becomes Keras's MeanMetricWrapper
        except (TypeError, ValueError):
            pass
    if not hasattr(m, "update_state"):
        if not callable(m):
            raise TypeError(f"compile: a metric must be a name, a Metric or a function "
                            f"fn(y_true, y_pred); received {identifier!r}")
        name = identifier if isinstance(identifier, str) else None
        m = FnMetric(m, name)
    elif isinstance(identifier, str) and identifier.lower() not in ("accuracy", "acc"):
        m.name = identifier  # Keras logs a metric under the name the user wrote ('mae')
    return m


class CompileMetrics:
    """compile(metrics=..., weighted_metrics=...) for every output, updated on numpy arrays."""

    def __init__(self, metrics=None, weighted_metrics=None):
        self.metrics_spec = metrics
        self.weighted_spec = weighted_metrics
        self.built = False
        self.entries = []  # (output index, metric, weighted, display name)

    def _specs(self, spec, names):
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict):
            per = _per_output(spec, names, "metrics")
        elif isinstance(spec, (list, tuple)) and len(names) > 1 and \
                any(isinstance(s, (list, tuple)) for s in spec):
            if len(spec) != len(names):
                raise ValueError(f"compile: metrics is a list of {len(spec)} entries, but the "
                                 f"model has {len(names)} outputs {names}")
            per = list(spec)
        else:
            per = [spec] * len(names)
        return [[] if s is None else list(s) if isinstance(s, (list, tuple)) else [s]
                for s in per]

    def build(self, output_names, y_true: list, y_pred: list, loss_fns: list) -> None:
        names = list(output_names)
        multi = len(names) > 1
        self.entries = []
        for weighted, spec in ((False, self.metrics_spec), (True, self.weighted_spec)):
            for i, specs in enumerate(self._specs(spec, names)):
                for s in specs:
                    if y_true[i] is None:
                        continue
                    m = _resolve_metric(s, loss_fns[i] if loss_fns else None, y_true[i],
                                        y_pred[i])
                    if multi and len(names) == len(set(names)) and \
                            not str(m.name).startswith(names[i] + "_"):
                        display = f"{names[i]}_{m.name}"
                    else:
                        display = str(m.name)
                    if weighted and any(e[3] == display for e in self.entries):
                        display = "weighted_" + display
                    self.entries.append((i, m, weighted, display))
        self.built = True

    @property
    def names(self) -> list:
        return [e[3] for e in self.entries]

    def update_state(self, y_true: list, y_pred: list, sample_weight: list) -> None:
        for i, m, weighted, _ in self.entries:
            sw = sample_weight[i] if weighted else None
            if sw is None:
                m.update_state(y_true[i], y_pred[i])
            else:
                m.update_state(y_true[i], y_pred[i], sample_weight=sw)

    def result(self) -> dict:
        out = {}
        for _, m, _, name in self.entries:
            r = m.result()
            out[name] = float(np.asarray(r.data if isinstance(r, Tensor) else r))
        return out

    def reset_state(self) -> None:
        for _, m, _, _ in self.entries:
            m.reset_state()
