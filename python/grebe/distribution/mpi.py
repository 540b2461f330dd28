"""MPI through mpi4py: loading it (a clear ImportError naming the `grebe[mpi]` extra), the
watchdog that ends a stuck job, and the hook that ends the job when one rank raises.

Failure model. MPI collectives wait for every rank; a rank that died or went elsewhere would
leave the others waiting forever. Three guards bound that time:
- a rank that dies (signal, os._exit) is seen by the launcher (mpirun/srun), which ends the job;
- an uncaught exception on any rank prints its traceback, then MPI_Abort ends every rank at once
  (what `python -m mpi4py` does; installed by `initialize()`);
- every wait grebe makes runs under `Watchdog.watch(what)`: a rank still waiting after `timeout`
  seconds (a rank that hangs, or caught an exception and went on) prints what it waited for and
  aborts the job.
"""
from __future__ import annotations

import os
import sys
import threading
import time

_MPI = None


def load_mpi():
    """mpi4py's MPI module (initializing MPI on first use)."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError(
                "grebe.distribution runs data-parallel training over MPI through mpi4py, which "
                "is not installed: pip install 'grebe[mpi]' (it also needs an MPI library such "
                f"as Open MPI or MPICH, e.g. apt-get install openmpi-bin). ({e})") from e
        _MPI = MPI
    return _MPI


class Watchdog:
    """A daemon thread that aborts the MPI job when a watched wait lasts over `timeout` s."""

    def __init__(self, comm, timeout: float):
        self.comm = comm
        self.timeout = float(timeout)
        self._what = None
        self._deadline = None
        self._thread = None

    def watch(self, what: str):
        return _Watch(self, what)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="grebe-mpi-watchdog",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        period = min(1.0, self.timeout / 8)
        while True:
            time.sleep(period)
            deadline, what = self._deadline, self._what
            if deadline is not None and time.monotonic() > deadline:
                rank, size = self.comm.Get_rank(), self.comm.Get_size()
                sys.stderr.write(
                    f"\ngrebe.distribution: rank {rank} of {size} waited more than "
                    f"{self.timeout:g} s for the other ranks in {what}; one of them has "
                    f"stopped, hangs or runs a different program (a different number of "
                    f"batches?). Aborting the job (MPI_Abort). Raise the limit with "
                    f"DataParallel(timeout=...) or GREBE_MPI_TIMEOUT.\n")
                sys.stderr.flush()
                self.comm.Abort(3)
                os._exit(3)  # Abort does not return; in case an MPI library lets it


class _Watch:
    __slots__ = ("dog", "what", "prev")

    def __init__(self, dog, what):
        self.dog, self.what = dog, what

    def __enter__(self):
        dog = self.dog
        if dog.comm.Get_size() > 1:
            dog._start()
            self.prev = (dog._what, dog._deadline)
            dog._what = self.what
            dog._deadline = time.monotonic() + dog.timeout
        return self

    def __exit__(self, *exc):
        dog = self.dog
        if dog.comm.Get_size() > 1:
            dog._what, dog._deadline = self.prev
        return False


_hook_installed = False


def install_abort_on_exception(comm) -> None:
    """An uncaught exception on any rank ends every rank (else they would wait in the next
    collective forever): print the traceback, name the rank, MPI_Abort."""
    global _hook_installed
    if _hook_installed or comm.Get_size() == 1:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"grebe.distribution: rank {comm.Get_rank()} of {comm.Get_size()} "
                         f"stopped on an uncaught {kind.__name__}: {value}; aborting every "
                         f"rank (MPI_Abort)\n")
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook
