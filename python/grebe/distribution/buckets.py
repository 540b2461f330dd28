"""Gradients summed over ranks in buckets, each sent (MPI Iallreduce) as soon as backward has
made all of its gradients, so communication overlaps the rest of backward (the design of
PyTorch DDP and Horovod).

Buckets are fixed by parameter order, never by timing: the weights in reverse order (backward
makes the last layers' gradients first), cut every `cap_bytes`. Bucket k is launched only after
bucket k - 1, so every rank issues the same collectives in the same order (MPI requires it) and
the sums are the same bit for bit on every run. Each bucket ends with one flag per weight
(1 where this rank has a gradient): a weight no rank has a gradient for stays None, and the
optimizer skips it as it does in one process.

Each rank writes gradient * fraction into its bucket, fraction = its share of the global batch
(b_r / B), so the sum is the gradient of the mean loss over the whole global batch — what one
process computes on that batch, up to float rounding.
"""
from __future__ import annotations

import time

import numpy as np

from grebe import autograd

_f32 = np.float32


class GradientBuckets:
    """The buckets of one list of weights; `run` does one step's backward and reduction."""

    def __init__(self, comm, mpi, weights, cap_bytes: int, watchdog):
        self.comm, self.mpi, self.watchdog = comm, mpi, watchdog
        self.weights = list(weights)
        self.buckets = []  # [(weight indices, offsets, buffer)]
        self.where = {}  # id(weight) -> (bucket index, position in bucket)
        current, size = [], 0
        for i in reversed(range(len(self.weights))):
            current.append(i)
            size += self.weights[i].data.size
            if size * 4 >= cap_bytes:
                self._close(current)
                current, size = [], 0
        if current:
            self._close(current)
        self.backward_s = 0.0  # time in backward (the window communication can hide in)
        self.backward_cpu_s = 0.0  # the same in this process's CPU seconds
        self.comm_wait_s = 0.0  # time spent waiting for the sums after backward ended
        self.comm_wait_cpu_s = 0.0  # the CPU seconds of that wait (MPI polls)
        self.steps = 0

    def _close(self, idx) -> None:
        offsets = np.cumsum([0] + [self.weights[i].data.size for i in idx])
        buf = np.empty(int(offsets[-1]) + len(idx), _f32)
        k = len(self.buckets)
        for j, i in enumerate(idx):
            self.where[id(self.weights[i])] = (k, j)
        self.buckets.append((idx, offsets, buf))

    # ---- one step ----------------------------------------------------------------------------
    def run(self, loss, fraction: float, what: str) -> None:
        """backward(loss) (loss None: this rank has no samples), then every weight's `.grad`
        becomes the sum over ranks of fraction * gradient."""
        self._fraction = _f32(fraction)
        self._missing = [len(idx) for idx, _, _ in self.buckets]
        self._done = [False] * len(self.weights)
        self._requests = []
        with self.watchdog.watch(what):
            t0, c0 = time.perf_counter(), time.process_time()
            if loss is not None:
                autograd.backward(loss, on_ready=self._ready)
            self.backward_s += time.perf_counter() - t0
            self.backward_cpu_s += time.process_time() - c0
            for i, w in enumerate(self.weights):  # those backward never reached
                if not self._done[i]:
                    self._fill(w)
            self._launch()
            t0, c0 = time.perf_counter(), time.process_time()
            self.mpi.Request.Waitall(self._requests)
            self.comm_wait_s += time.perf_counter() - t0
            self.comm_wait_cpu_s += time.process_time() - c0
        self.steps += 1
        for idx, offsets, buf in self.buckets:
            flags = buf[offsets[-1]:]
            for j, i in enumerate(idx):
                w = self.weights[i]
                w.grad = buf[offsets[j]:offsets[j + 1]].reshape(w.data.shape) \
                    if flags[j] > 0 else None

    def _ready(self, leaves) -> None:
        for w in leaves:
            if id(w) in self.where:
                self._fill(w)
        self._launch()
        if self._requests:  # let MPI move the buckets already in flight
            self.mpi.Request.Testall(self._requests)

    def _fill(self, w) -> None:
        k, j = self.where[id(w)]
        idx, offsets, buf = self.buckets[k]
        part = buf[offsets[j]:offsets[j + 1]].reshape(w.data.shape)
        g = w.grad
        if g is None:
            part[...] = 0.0
            buf[offsets[-1] + j] = 0.0
        else:
            np.multiply(g, self._fraction, out=part)
            buf[offsets[-1] + j] = 1.0
        self._done[idx[j]] = True
        self._missing[k] -= 1

    def _launch(self) -> None:
        """Starts the next buckets in order, as far as they are complete."""
        k = len(self._requests)
        while k < len(self.buckets) and self._missing[k] == 0:
            buf = self.buckets[k][2]
            self._requests.append(self.comm.Iallreduce(self.mpi.IN_PLACE, buf,
                                                       op=self.mpi.SUM))
            k += 1


class StateAverage:
    """Non-trainable float weights that training changes (BatchNormalization's moving mean and
    variance): after each step every rank takes sum_r fraction_r * value_r, so the ranks stay
    identical and the statistics cover the global batch."""

    def __init__(self, comm, mpi, weights):
        self.comm, self.mpi = comm, mpi
        self.weights = list(weights)
        sizes = [w.data.size for w in self.weights]
        self.offsets = np.cumsum([0] + sizes)
        self.buf = np.empty(int(self.offsets[-1]), _f32)

    def run(self, fraction: float, watchdog, what: str) -> None:
        if not self.weights:
            return
        f = _f32(fraction)
        for w, a, b in zip(self.weights, self.offsets[:-1], self.offsets[1:]):
            np.multiply(w.data.reshape(-1), f, out=self.buf[a:b])
        with watchdog.watch(what):
            self.comm.Iallreduce(self.mpi.IN_PLACE, self.buf, op=self.mpi.SUM).Wait()
        arrays = [w.data for w in self.weights]

        def write():
            for w, a, b in zip(self.weights, self.offsets[:-1], self.offsets[1:]):
                w.data[...] = self.buf[a:b].reshape(w.data.shape)

        autograd.write_arrays(arrays, [f"weight {w.name!r} (replica average)"
                                       for w in self.weights], write)
