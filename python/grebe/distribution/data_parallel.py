"""DataParallel: the same model on every MPI rank, each rank on its part of every global batch,
gradients summed over ranks so that every rank takes the same optimizer step.

fit/evaluate/predict reach it through grebe.replica (see there for the methods they call).
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from grebe.distribution import sharding
from grebe.distribution.buckets import GradientBuckets, StateAverage
from grebe.distribution.mpi import Watchdog, install_abort_on_exception, load_mpi


class DataParallel:
    """Data parallelism over the ranks of an MPI job (`mpirun -n 4 python train.py`).

    Keras 3's name and arguments; `devices` (if given) must be `list_devices()`: one replica per
    MPI rank. bucket_mb: gradients are summed in buckets of about this size, each sent while
    backward continues. timeout: seconds any rank waits for the others before the job is ended
    with an error (default 600, or the GREBE_MPI_TIMEOUT environment variable).

    >>> import grebe
    >>> grebe.distribution.set_distribution(grebe.distribution.DataParallel())  # doctest: +SKIP
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True, *,
                 bucket_mb: float = 1.0, timeout: float | None = None):
        if device_mesh is not None:
            raise NotImplementedError("DataParallel: device_mesh is not supported: grebe runs "
                                      "one replica per MPI rank (pass devices or nothing)")
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) or \
                not bucket_mb > 0:
            raise ValueError(f"DataParallel: expected bucket_mb > 0 (megabytes). Received: "
                             f"bucket_mb={bucket_mb!r}")
        self.bucket_bytes = int(bucket_mb * 2**20)
        raw = os.environ.get("GREBE_MPI_TIMEOUT", "600") if timeout is None else timeout
        try:
            timeout = float(raw)
        except (TypeError, ValueError):
            timeout = -1.0
        if not timeout > 0:
            raise ValueError(f"DataParallel: expected timeout (or GREBE_MPI_TIMEOUT) > 0 "
                             f"seconds. Received: {raw!r}")
        mpi = load_mpi()
        self.mpi = mpi
        self.comm = mpi.COMM_WORLD.Dup()  # grebe's own messages never meet the user's
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        from grebe.distribution import list_devices

        if devices is not None and list(devices) != list_devices():
            raise ValueError(f"DataParallel: devices must be one per MPI rank, "
                             f"{list_devices()}; received {list(devices)}")
        self.devices = list_devices()
        self.auto_shard_dataset = auto_shard_dataset
        self.watchdog = Watchdog(self.comm, timeout)
        install_abort_on_exception(self.comm)
        self.fraction, self.idle = None, False
        self._buckets = None
        self._state = None
        self._step = 0
        self._summed_from = None  # (optimizer iterations, steps summed) at fit's start

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"<DataParallel rank {self.rank} of {self.size}>"

    # ---- the start of fit / evaluate / predict ----------------------------------------------
    def begin(self, model, what: str, adapters, **settings) -> list:
        """Checks that every rank runs the same model on data of the same size with the same
        settings (else a ValueError naming what differs, on every rank); for fit, rank 0's
        weights and optimizer state go to every rank. Returns the sharded adapters."""
        if what == "fit" and not model.built:
            raise ValueError("fit: under DataParallel the model must be built before fit when "
                             "the data is a generator or dataset (give the model an Input, or "
                             "call model.build(input_shape)), so that rank 0's initial weights "
                             "can be sent to every rank")
        self._check_same(model, what, adapters, settings)
        for a in adapters:
            if getattr(a, "n", None) is not None and min(a.n, a.batch_size) < self.size:
                # A rank would never see a sample: its metrics would never be built.
                raise ValueError(f"{what}: the global batch ({a.batch_size}) and the data "
                                 f"({a.n} samples) must each hold at least one sample per "
                                 f"rank ({self.size} ranks)")
        if what == "fit":
            self._broadcast_state(model)
            self._buckets = None
            self._summed_from = (model.optimizer.iterations, self._step)
        return [sharding.shard(a, self) for a in adapters]

    def _check_same(self, model, what, adapters, settings) -> None:
        sig = {"model": _model_signature(model),
               "weights": [tuple(w.shape) for w in model.weights]}
        opt = getattr(model, "optimizer", None)
        if what == "fit" and opt is not None:
            sig["optimizer"] = f"{type(opt).__name__} {_digest(opt.get_config())}"
            sig["optimizer built"] = bool(opt.built)
        for i, a in enumerate(adapters):
            if a is not None:
                name = "data" if i == 0 else "validation data"
                sig[f"{name} samples"] = getattr(a, "n", None)
                sig[f"{name} batches"] = a.num_batches
        sig.update(settings)
        with self.watchdog.watch(f"{what}'s start (comparing the ranks)"):
            every = self.comm.allgather(sig)
        for key, value in every[0].items():
            for r, other in enumerate(every[1:], 1):
                if other.get(key) != value:
                    raise ValueError(
                        f"{what}: the ranks disagree on {key}: rank 0 has {value!r}, rank {r} "
                        f"has {other.get(key)!r}. Every rank must build the same model and "
                        f"call {what} with the same arguments on data of the same size (each "
                        f"rank takes its own part of every batch)")

    def _broadcast_state(self, model) -> None:
        arrays = [np.ascontiguousarray(a) for a in model.get_weights()]
        with self.watchdog.watch("fit's start (broadcasting rank 0's weights)"):
            self.mpi.Request.Waitall([self.comm.Ibcast(a, root=0) for a in arrays])
            opt = model.optimizer
            state = self.comm.bcast(opt.get_state() if self.rank == 0 else None, root=0)
        if self.rank != 0:
            model.set_weights(arrays)
            opt.set_state(state)

    # ---- one training step ------------------------------------------------------------------
    def set_batch_share(self, local, total) -> None:
        """This rank's samples of the current global batch (None, None between epochs)."""
        self.fraction = None if local is None else local / total
        self.idle = local == 0

    def broadcast_array(self, a: np.ndarray, what: str) -> None:
        with self.watchdog.watch(f"broadcasting {what}"):
            self.comm.Bcast(a, root=0)

    def _buckets_for(self, model, weights) -> GradientBuckets:
        b = self._buckets
        if b is None or len(b.weights) != len(weights) or \
                any(u is not v for u, v in zip(b.weights, weights)):
            b = self._buckets = GradientBuckets(self.comm, self.mpi, weights,
                                                self.bucket_bytes, self.watchdog)
            self._state = StateAverage(self.comm, self.mpi, _changing_state(model))
        return b

    def backward(self, model, loss, weights) -> None:
        """loss.backward(), with each weight's gradient summed over the ranks (loss None: this
        rank has no samples in this batch and adds nothing)."""
        f = 1.0 / self.size if self.fraction is None else self.fraction
        self._step += 1
        what = f"the gradient sum of step {self._step}"
        self._buckets_for(model, weights).run(loss, f, what)
        self._state.run(f, self.watchdog, f"averaging the moving statistics of step "
                                          f"{self._step}")

    def idle_step(self, model) -> None:
        """A train step for a rank with no samples in this (last, small) global batch: it adds
        nothing to the gradient sum but takes the same optimizer step as the others."""
        weights = model._weights_for_step()
        self.backward(model, None, weights)
        model._apply_gradients(weights)

    def timings(self) -> dict:
        """Since the last fit started: steps, seconds in backward (the window the gradient
        sums can hide in) and seconds waiting for the sums after backward ended (not hidden)."""
        names = ("steps", "backward_s", "backward_cpu_s", "comm_wait_s", "comm_wait_cpu_s")
        b = self._buckets
        return {k: 0 if b is None else getattr(b, k) for k in names}

    # ---- logs and outputs -------------------------------------------------------------------
    def reduce_logs(self, model, out) -> dict:
        """The logs one process would report: every metric's state (totals, counts, confusion
        counts) summed over the ranks before its result is read. A custom train_step's logs
        dict is averaged over the ranks instead."""
        self._check_summed(model)
        if isinstance(out, dict):
            with self.watchdog.watch("averaging the logs over the ranks"):
                every = self.comm.allgather({k: _float(v) for k, v in out.items()})
            return {k: sum(d[k] for d in every) / self.size for k in every[0]}
        states = [_State(m) for m in model.metrics]
        flat = [s.read() for s in states]
        sizes = [len(f) for f in flat]
        total = np.concatenate(flat) if flat else np.zeros(0)
        with self.watchdog.watch("summing the metrics over the ranks"):
            self.comm.Allreduce(self.mpi.IN_PLACE, total, op=self.mpi.SUM)
        pos = 0
        for s, n in zip(states, sizes):
            s.write(total[pos:pos + n])
            pos += n
        try:
            return model.get_metrics_result()
        finally:
            for s, f in zip(states, flat):
                s.write(f)

    def _check_summed(self, model) -> None:
        """Every optimizer step of fit must have come through backward() above: a custom
        train_step calling loss.backward() itself would let the ranks drift apart."""
        if self._summed_from is None or getattr(model, "optimizer", None) is None:
            return
        it0, s0 = self._summed_from
        if model.optimizer.iterations - it0 > self._step - s0:
            self._summed_from = None
            raise RuntimeError(
                f"fit under DataParallel: {type(model).__name__}.train_step applied "
                f"gradients that were not summed over the ranks (it calls loss.backward() "
                f"itself), so the ranks' weights would drift apart. In a custom train_step "
                f"call grebe.distribution.backward(model, loss) instead of loss.backward()")

    def gather(self, arrays, adapter):
        """predict: every rank's outputs (a list of arrays, or None) put back in data order."""
        with self.watchdog.watch("gathering predict's outputs"):
            every = self.comm.allgather((adapter.parts, arrays))
        got = [(parts, arrs) for parts, arrs in every if arrs is not None]
        if not got:
            return None
        n = max(z for parts, _ in got for _, z in parts)
        out = [np.empty((n,) + a.shape[1:], a.dtype) for a in got[0][1]]
        for parts, arrs in got:
            idx = np.concatenate([np.arange(a, z) for a, z in parts])
            for o, a in zip(out, arrs):
                o[idx[:len(a)]] = a
        return out


class _State:
    """A metric's state as one float64 vector (read/write), for summing over ranks: the
    attributes named in `_state_names` (Keras's total/count, confusion counts ...) and the
    variables made with add_variable."""

    def __init__(self, metric):
        names = getattr(metric, "_state_names", None)
        if names is None and hasattr(metric, "total") and hasattr(metric, "count"):
            names = ("total", "count")  # the loss trackers
        self.metric, self.names = metric, tuple(names or ())
        self.variables = list(metric.__dict__.get("_tracked_variables", ()))
        if not self.names and not self.variables:
            raise TypeError(f"grebe.distribution: metric {metric.name!r} "
                            f"({type(metric).__name__}) keeps its state where it cannot be "
                            f"summed over ranks; make its state with add_variable() (or list "
                            f"its additive attributes in _state_names)")
        self.shapes = None

    def read(self) -> np.ndarray:
        values = [getattr(self.metric, n) for n in self.names] + \
            [v.data for v in self.variables]
        self.shapes = [(np.shape(v), type(v), getattr(v, "dtype", None)) for v in values]
        return np.concatenate([np.asarray(v, np.float64).ravel() for v in values])

    def write(self, flat) -> None:
        pos, k = 0, len(self.names)
        for i, (shape, kind, dtype) in enumerate(self.shapes):
            n = int(np.prod(shape))
            part = flat[pos:pos + n]
            pos += n
            if i < k:
                if not issubclass(kind, np.ndarray):  # a Python or numpy scalar
                    value = kind(part[0])
                else:
                    value = part.reshape(shape).astype(dtype)
                setattr(self.metric, self.names[i], value)
            else:
                self.variables[i - k].assign(part.reshape(shape).astype(dtype))


def _changing_state(model) -> list:
    """Non-trainable float32 weights of layers that train (BatchNormalization's moving
    statistics); frozen layers' weights never change and are left alone."""
    trainable = {id(w) for w in model.trainable_weights}
    out, seen = [], set()
    for layer in [model] + model._flat_layers():
        if not layer.trainable:
            continue
        for w in layer._own_weights:
            if id(w) in trainable or id(w) in seen or w.data.dtype != np.float32:
                continue
            seen.add(id(w))
            out.append(w)
    return out


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, default=lambda o: type(o).__name__)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _model_signature(model) -> str:
    try:
        config = model.get_config()
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        config = None
    return f"{type(model).__name__} {_digest(config)}"


def _float(v):
    try:
        return float(np.asarray(getattr(v, "data", v)))
    except (TypeError, ValueError):
        return v
