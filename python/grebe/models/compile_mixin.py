"""compile() and what it sets up: the compiled loss and metrics, compute_loss /
compute_metrics, the metric listing and the order of the logs (a mixin of Trainer)."""
from __future__ import annotations

from grebe import tree
from grebe.models.compile_utils import CompileLoss, CompileMetrics, MeanTracker, to_numpy


class CompileMixin:
    """Keras's compile API and the compiled loss/metrics state that fit/evaluate use."""

    # ---- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True) -> None:
        """Sets the optimizer, the loss (a name, Loss, function, or one per output as a list
        or dict) and the metrics (names such as 'accuracy', Metric objects, functions)."""
        from grebe import optimizers

        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._compile_loss = None if loss is None else CompileLoss(loss, loss_weights)
        self._compile_metrics = None if metrics is None and weighted_metrics is None else \
            CompileMetrics(metrics, weighted_metrics)
        self._loss_tracker = MeanTracker("loss")
        self._compile_config = {"optimizer": self.optimizer, "loss": loss,
                                "loss_weights": loss_weights, "metrics": metrics,
                                "weighted_metrics": weighted_metrics}
        self._compile_ready = False
        self._train_weights = None
        self.run_eagerly = run_eagerly
        self.jit_compile = jit_compile
        self.steps_per_execution = steps_per_execution
        self.stop_training = False
        self.compiled = True

    def get_compile_config(self) -> dict | None:
        """The compile() arguments (objects, not yet serialized), or None before compile."""
        if not self.compiled:
            return None
        return {k: v for k, v in self._compile_config.items() if v is not None}

    def compile_from_config(self, config: dict) -> None:
        self.compile(**config)

    def _assert_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{type(self).__name__} '{self.name}': call compile(optimizer, "
                               f"loss, ...) before {what}()")

    # ---- losses and metrics ----------------------------------------------------------------
    def _output_names_for(self, flat_pred: list, y_pred) -> list:
        if isinstance(y_pred, dict):
            return sorted(y_pred)
        names = None
        try:
            names = list(self.output_names)
        except (AttributeError, ValueError):
            names = None
        if names and len(names) == len(flat_pred) and len(set(names)) == len(names):
            return names
        if len(flat_pred) == 1:
            return names[:1] if names else ["output"]
        return [f"output_{i + 1}" for i in range(len(flat_pred))]

    def _flat_per_output(self, value, names: list, what: str, broadcast: bool) -> list:
        n = len(names)
        if value is None:
            return [None] * n
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"{what} has keys {unknown} that are not outputs of "
                                 f"'{self.name}': {names}")
            return [value.get(k) for k in names]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"{what}: the model '{self.name}' has {n} output(s) {names} "
                                 f"but {len(value)} arrays were given")
            return list(value)
        if n == 1 or broadcast:
            return [value] * n
        raise ValueError(f"{what}: the model '{self.name}' has {n} outputs {names}; give a "
                         f"list or a dict of {n} arrays")

    def _prepare_compiled(self, y, y_pred, flat_pred) -> None:
        names = self._output_names_for(flat_pred, y_pred)
        self._compiled_output_names = names
        y_flat = self._flat_per_output(y, names, "y", broadcast=False)
        loss_fns = None
        if self._compile_loss is not None:
            self._compile_loss.build(names)
            loss_fns = self._compile_loss.fns
        if self._compile_metrics is not None:
            self._compile_metrics.build(names, y_flat, [to_numpy(p) for p in flat_pred],
                                        loss_fns)
        self._compile_ready = True

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss over all outputs plus the layers' regularization (a Tensor)."""
        flat_pred = tree.flatten(y_pred)
        if not self._compile_ready:
            self._prepare_compiled(y, y_pred, flat_pred)
        names = self._compiled_output_names
        total = None
        if self._compile_loss is not None:
            total = self._compile_loss(
                self._flat_per_output(y, names, "y", broadcast=False), flat_pred,
                self._flat_per_output(sample_weight, names, "sample_weight", broadcast=True))
        if self._has_regularizers is None:
            self._has_regularizers = bool(self.losses)
        if self._has_regularizers:
            for extra in self.losses:
                total = extra if total is None else total + extra
        if total is None:
            raise ValueError(f"'{self.name}': no loss to compute; give compile() a loss")
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> None:
        if self._compile_metrics is None:
            return
        names = self._compiled_output_names
        self._compile_metrics.update_state(
            self._flat_per_output(y, names, "y", broadcast=False),
            [to_numpy(p) for p in tree.flatten(y_pred)],
            self._flat_per_output(sample_weight, names, "sample_weight", broadcast=True))

    @property
    def metrics(self) -> list:
        out = []
        if self._loss_tracker is not None:
            out.append(self._loss_tracker)
        if self._compile_loss is not None:
            out += [t for t in self._compile_loss.trackers if t is not None]
        if self._compile_metrics is not None:
            out += [m for _, m, _, _ in self._compile_metrics.entries]
        return out

    @property
    def metrics_names(self) -> list:
        return self._ordered_names(self.get_metrics_result())

    def reset_metrics(self) -> None:
        if self._loss_tracker is not None:
            self._loss_tracker.reset_state()
        if self._compile_loss is not None:
            self._compile_loss.reset_state()
        if self._compile_metrics is not None:
            self._compile_metrics.reset_state()

    def get_metrics_result(self) -> dict:
        """{'loss': ..., metric: ...} over the batches seen since the last reset, sorted by
        name (Keras 3's log order)."""
        out = {}
        if self._loss_tracker is not None and self._loss_tracker.count:
            out["loss"] = self._loss_tracker.result()
        if self._compile_loss is not None:
            for t in self._compile_loss.trackers:
                if t is not None and t.count:
                    out[t.name] = t.result()
        if self._compile_metrics is not None and self._compile_metrics.built:
            out.update(self._compile_metrics.result())
        return dict(sorted(out.items()))

    def _ordered_names(self, logs: dict) -> list:
        """Keras's order for evaluate()'s list: the loss, each output's loss, the compiled
        metrics as given, then anything else by name."""
        first = ["loss"]
        if self._compile_loss is not None:
            first += [t.name for t in self._compile_loss.trackers if t is not None]
        if self._compile_metrics is not None:
            first += self._compile_metrics.names
        names = [k for k in first if k in logs]
        return names + sorted(k for k in logs if k not in names)

    def _flatten_logs(self, logs: dict):
        values = [logs[k] for k in self._ordered_names(logs)]
        return values[0] if len(values) == 1 else values

