"""fit / evaluate / predict, the train/test/predict steps and the *_on_batch methods (a mixin
of Model; compile() and the compiled loss/metrics live in compile_mixin.py).

The training step is the PyTorch recipe under Keras's API: forward with training=True, the
compiled loss plus regularization, backward, `optimizer.apply(grads, weights)`. The list of
weights to update is gathered once per fit (Keras: "trainable variables are determined at
compile() time"); metrics update on the numpy outputs, outside the graph.
"""
from __future__ import annotations

import operator
import warnings
from typing import TYPE_CHECKING

import numpy as np

from grebe import autograd
from grebe import replica
from grebe import tree
from grebe.models import data_adapter
from grebe.models.compile_mixin import CompileMixin
from grebe.models.compile_utils import to_numpy
from grebe.models.ownership import exclusive
from grebe.ops.loss import LabelError

if TYPE_CHECKING:
    from grebe.callbacks import History


def _verbose(v) -> int:
    if v == "auto":
        return 1
    if v not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, received verbose={v!r}")
    return int(v)


def _label_error(e, adapter, what: str, where: str) -> ValueError:
    """The loss's label error with the sample's index in the data instead of in the batch."""
    i = data_adapter.sample_index(adapter, e.position)
    msg = e.message.replace(" of the batch", f" of the batch ({where})" if i is None else
                            f" of the batch: sample {i} of y ({where})")
    return ValueError(f"{what}: {msg}")


def _check_epochs(epochs, initial_epoch) -> int:
    """Keras-style errors for epochs=2.7, "3", -1; numpy integers are fine."""
    for name, v in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(v, (bool, np.bool_)) or not hasattr(type(v), "__index__"):
            raise TypeError(f"fit: expected `{name}` to be an integer. Received: {name}={v!r}")
        if operator.index(v) < 0:
            raise ValueError(f"fit: expected `{name}` to be >= 0. Received: {name}={v!r}")
    return operator.index(epochs)


def _require_x(x, what: str) -> None:
    if x is None:
        raise ValueError(f"{what}: x is None; pass the inputs as arrays (a list/dict of arrays "
                         f"for several inputs) or as a generator/dataset of batches")


def _check_validation_data(vd) -> None:
    if isinstance(vd, (tuple, list)) and len(vd) not in (2, 3):
        raise ValueError(f"fit: validation_data must be (x_val, y_val) or (x_val, y_val, "
                         f"val_sample_weight), received a {type(vd).__name__} of length "
                         f"{len(vd)}")


class Trainer(CompileMixin):
    """Keras's training API; the model it mixes into provides __call__ and the weights."""

    def _init_trainer(self) -> None:
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = None
        self._compile_config = None
        self._compile_ready = False
        self._train_weights = None
        self._has_regularizers = None
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history = None

    # ---- steps ---------------------------------------------------------------------------
    def _gather_train_weights(self) -> list:
        return [w for w in self.trainable_weights if w.requires_grad]

    def train_step(self, data):
        """One optimizer step on a batch as the user gave it ((x,), (x, y) or (x, y,
        sample_weight)); returns None (the running metrics are read by the loop only when
        needed) or, in overrides, a logs dict."""
        x, y, sw = data_adapter.unpack(data)
        with autograd.enable_grad():
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sw, training=True)
        weights = self._weights_for_step()
        if loss.requires_grad:
            # As Keras's train_step: the optimizer scales the loss (loss_scale_factor,
            # LossScaleOptimizer) before backward and unscales the gradients in apply.
            scaled = self.optimizer.scale_loss(loss)
            replicas = replica.current()
            if replicas is None:
                scaled.backward()
            else:  # data-parallel: the gradients summed over the ranks
                replicas.backward(self, scaled, weights)
        self._apply_gradients(weights)
        self._loss_tracker.update_state(float(loss.data), _batch_len(x))
        self.compute_metrics(x, y, y_pred, sw)
        return None

    def _weights_for_step(self) -> list:
        weights = self._train_weights
        if weights is None:
            weights = self._train_weights = self._gather_train_weights()
        for w in weights:
            w.grad = None
        return weights

    def _apply_gradients(self, weights) -> None:
        grads = [w.grad for w in weights]
        # The optimizer skips None gradients (weights the loss does not depend on).
        if weights and any(g is not None for g in grads):
            self.optimizer.apply(grads, weights)
            opt_weights = getattr(self.optimizer, "_weights", None)
            if opt_weights is not weights and opt_weights is not None and \
                    len(opt_weights) == len(weights) and \
                    all(a is b for a, b in zip(opt_weights, weights)):
                # Hand the optimizer its own list back: it then skips a per-step lookup.
                self._train_weights = opt_weights

    def test_step(self, data):
        x, y, sw = data_adapter.unpack(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sw, training=False)
        self._loss_tracker.update_state(float(loss.data), _batch_len(x))
        self.compute_metrics(x, y, y_pred, sw)
        return None

    def predict_step(self, data):
        x, _, _ = data_adapter.unpack(data)
        return self(x, training=False)

    def _logs_from(self, out) -> dict:
        replicas = replica.current()
        if replicas is not None:  # data-parallel: what one process would report
            return replicas.reduce_logs(self, out)
        if isinstance(out, dict):
            return {k: _float(v) for k, v in out.items()}
        return self.get_metrics_result()

    # ---- fit -----------------------------------------------------------------------------
    @exclusive
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1) -> History:
        """Trains for `epochs` epochs; returns a History (history.history['loss'], ...).

        x, y: arrays (a list/dict of arrays for several inputs/outputs), or x alone as a
        generator / iterable of (x, y[, sample_weight]) batches (a grebe.data loader, a torch
        DataLoader, a Keras PyDataset). validation_split takes the last fraction of the
        arrays, before shuffling; each epoch is shuffled from grebe.random.generator()."""
        from grebe.callbacks import CallbackList

        self._assert_compiled("fit")
        verbose = _verbose(verbose)
        epochs = _check_epochs(epochs, initial_epoch)
        _require_x(x, "fit")
        _check_validation_data(validation_data)
        if validation_split and validation_data is None:
            if not data_adapter.is_arrays(x):
                raise ValueError("fit: validation_split is supported for arrays only; pass "
                                 "validation_data for generators and datasets")
            x, y, sample_weight = (data_adapter.standardize(v, f"fit: {n}") for v, n in
                                   ((x, "x"), (y, "y"), (sample_weight, "sample_weight")))
            (x, y, sample_weight), validation_data = data_adapter.split_validation(
                x, y, sample_weight, validation_split)
        train = data_adapter.make_adapter(x, y, sample_weight, batch_size, shuffle,
                                          class_weight, "fit")
        val = None
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3) \
                    and data_adapter.is_arrays(validation_data[0]):
                vx, vy, vsw = data_adapter.unpack(tuple(validation_data))
                val = data_adapter.make_adapter(vx, vy, vsw, validation_batch_size or
                                                batch_size, False, None, "fit (validation)")
            else:
                val = data_adapter.make_adapter(validation_data, what="fit (validation)")
        self._build_from_adapter(train)
        replicas = replica.current()
        if replicas is not None:  # data-parallel: same start on every rank, sharded batches
            train, val = replicas.begin(
                self, "fit", [train, val], batch_size=batch_size, epochs=epochs,
                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                validation_steps=validation_steps, validation_freq=validation_freq)
        epochs_it = data_adapter.EpochIterator(train, steps_per_epoch)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=epochs_it.num_steps)
        self._fit_validates = val is not None
        self.stop_training = False
        self._train_weights = None
        self._has_regularizers = None
        cbs.on_train_begin()
        training_logs = None
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            out, steps = None, 0
            hooks = cbs.train_batch_hooks
            for step, batch in epochs_it:
                if hooks:
                    cbs.on_train_batch_begin(step)
                try:
                    if replicas is not None and replicas.idle:  # no samples here
                        out = replicas.idle_step(self)
                    else:
                        out = self.train_step(batch)
                except LabelError as e:
                    raise _label_error(e, train, "fit", f"epoch {epoch + 1}, batch {step}") \
                        from None
                steps += 1
                if hooks:
                    cbs.on_train_batch_end(step, self._logs_from(out))
                if self.stop_training:
                    break
            if steps == 0 and epoch == initial_epoch:
                raise ValueError("fit: the training data gave no batches (is it empty, or an "
                                 "exhausted generator?)")
            epoch_logs = self._logs_from(out)
            if val is not None and _should_eval(epoch, validation_freq):
                val_logs = self._evaluate_loop(val, validation_steps, cbs)
                if not val_logs:
                    warnings.warn("fit: validation_data gave no batches this epoch (a Python "
                                  "generator can be read only once: pass arrays or a "
                                  "re-iterable dataset)", stacklevel=2)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training or epochs_it.exhausted:
                break
        cbs.on_train_end(training_logs)
        return cbs.history

    def _build_from_adapter(self, adapter) -> None:
        """Builds an unbuilt model on one sample before training starts (so that callbacks
        see its weights in on_train_begin); iterables build on their first batch."""
        if self.built or not isinstance(adapter, data_adapter.ArrayAdapter):
            return
        with autograd.no_grad():
            self(tree.map_structure(lambda a: a[:1], adapter.x), training=False)

    # ---- evaluate ------------------------------------------------------------------------
    def _evaluate_loop(self, adapter, steps, cbs) -> dict:
        self.reset_metrics()
        self.stop_evaluating = False
        cbs.on_test_begin()
        hooks = cbs.test_batch_hooks
        out = None
        replicas = replica.current()
        with autograd.no_grad():
            for step, batch in data_adapter.EpochIterator(adapter, steps):
                if hooks:
                    cbs.on_test_batch_begin(step)
                try:
                    if replicas is None or not replicas.idle:  # (idle: no samples here)
                        out = self.test_step(batch)
                except LabelError as e:
                    raise _label_error(e, adapter, "evaluate", f"batch {step}") from None
                if hooks:
                    cbs.on_test_batch_end(step, self._logs_from(out))
                if self.stop_evaluating:
                    break
        logs = self._logs_from(out)
        cbs.on_test_end(logs)
        return logs

    @exclusive
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False,
                 **kwargs) -> float | list | dict:
        """The loss (a float), [loss, *metrics] when there are metrics, or a dict."""
        from grebe.callbacks import CallbackList

        if kwargs:
            raise TypeError(f"evaluate: unrecognized arguments {sorted(kwargs)}")
        self._assert_compiled("evaluate")
        verbose = _verbose(verbose)
        _require_x(x, "evaluate")
        adapter = data_adapter.make_adapter(x, y, sample_weight, batch_size, False, None,
                                            "evaluate")
        replicas = replica.current()
        if replicas is not None:
            adapter, = replicas.begin(self, "evaluate", [adapter], batch_size=batch_size,
                                      steps=steps)
        epoch_steps = data_adapter.EpochIterator(adapter, steps).num_steps
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                           epochs=1, steps=epoch_steps)
        logs = self._evaluate_loop(adapter, steps, cbs)
        if not logs:
            raise ValueError("evaluate: the data gave no batches")
        return logs if return_dict else self._flatten_logs(logs)

    # ---- predict -------------------------------------------------------------------------
    @exclusive
    def predict(self, x, batch_size=None, verbose="auto", steps=None,
                callbacks=None) -> np.ndarray | list | dict:
        """Outputs for `x` as numpy (a list/dict of arrays for several outputs); no graph is
        recorded and layers run with training=False."""
        from grebe.callbacks import CallbackList

        verbose = _verbose(verbose)
        _require_x(x, "predict")
        adapter = data_adapter.make_adapter(x, None, None, batch_size, False, None, "predict")
        replicas = replica.current()
        if replicas is not None:
            adapter, = replicas.begin(self, "predict", [adapter], batch_size=batch_size,
                                      steps=steps)
        it = data_adapter.EpochIterator(adapter, steps)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                           epochs=1, steps=it.num_steps)
        self.stop_predicting = False
        cbs.on_predict_begin()
        hooks = cbs.predict_batch_hooks
        known = isinstance(adapter, data_adapter.ArrayAdapter) and steps is None
        buffers, chunks, structure, pos = None, None, None, 0
        with autograd.no_grad():
            for step, batch in it:
                if replicas is not None and replicas.idle:
                    continue  # this rank's part of the batch is empty
                if hooks:
                    cbs.on_predict_batch_begin(step)
                out = self.predict_step(batch)
                flat = [to_numpy(o) for o in tree.flatten(out)]
                if structure is None:
                    structure = out
                    if known:
                        buffers = [np.empty((adapter.n,) + a.shape[1:], a.dtype) for a in flat]
                    else:
                        chunks = [[] for _ in flat]
                if known:
                    n = len(flat[0])
                    for buf, a in zip(buffers, flat):
                        buf[pos:pos + n] = a
                    pos += n
                else:
                    for c, a in zip(chunks, flat):
                        c.append(np.array(a, copy=True))
                if hooks:
                    cbs.on_predict_batch_end(step, {"outputs": out})
                if self.stop_predicting:
                    break
        cbs.on_predict_end()
        if structure is None:
            arrays = None
        elif known:
            arrays = [b[:pos] for b in buffers]
        else:
            arrays = [np.concatenate(c, axis=0) for c in chunks]
        if replicas is not None:  # every rank's outputs, in data order
            arrays = replicas.gather(arrays, adapter)
            if structure is None and arrays is not None:
                return arrays[0] if len(arrays) == 1 else arrays
        if arrays is None:
            raise ValueError("predict: the data gave no batches")
        if not tree.is_nested(structure):
            return arrays[0]
        return tree.pack_like(structure, iter(arrays))

    # ---- single batches ------------------------------------------------------------------
    def _batch_data(self, x, y, sample_weight, class_weight, what):
        x, y, sw = (data_adapter.standardize(v, f"{what}: {n}") for v, n in
                    ((x, "x"), (y, "y"), (sample_weight, "sample_weight")))
        data_adapter.num_samples(x, y, sw, what)
        if class_weight is not None:
            if sw is not None:
                raise ValueError(f"{what}: give class_weight or sample_weight, not both")
            sw = data_adapter.class_weight_to_sample_weight(y, class_weight, what)
        return data_adapter.pack(x, y, sw)

    @exclusive
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimizer step on one batch; returns that batch's loss (and metrics)."""
        self._assert_compiled("train_on_batch")
        data = self._batch_data(x, y, sample_weight, class_weight, "train_on_batch")
        self._train_weights = None
        self.reset_metrics()
        logs = self._logs_from(self.train_step(data))
        return logs if return_dict else self._flatten_logs(logs)

    @exclusive
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        data = self._batch_data(x, y, sample_weight, None, "test_on_batch")
        self.reset_metrics()
        with autograd.no_grad():
            out = self.test_step(data)
        logs = self._logs_from(out)
        return logs if return_dict else self._flatten_logs(logs)

    @exclusive
    def predict_on_batch(self, x):
        x = data_adapter.standardize(x, "predict_on_batch: x")
        with autograd.no_grad():
            out = self.predict_step((x,))
        if not tree.is_nested(out):
            return np.array(to_numpy(out), copy=True)
        return tree.map_structure(lambda o: np.array(to_numpy(o), copy=True), out)


def _batch_len(x) -> int:
    first = x if not tree.is_nested(x) else tree.flatten(x)[0]
    return len(first)


def _float(v):
    try:
        return float(np.asarray(getattr(v, "data", v)))
    except (TypeError, ValueError):
        return v


def _should_eval(epoch: int, freq) -> bool:
    epoch += 1
    if isinstance(freq, int):
        return epoch % freq == 0
    if isinstance(freq, (list, tuple, set)):
        return epoch in freq
    raise ValueError(f"validation_freq must be an int or a list of epochs, received "
                     f"validation_freq={freq!r}")
