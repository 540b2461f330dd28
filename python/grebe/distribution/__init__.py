"""Data-parallel training over MPI (mpi4py + Open MPI / MPICH / Intel MPI), Keras 3's names.

The same script runs on one process or on many::

    mpirun -n 4 python train.py          # or: srun python train.py, mpiexec ...

    import grebe
    grebe.distribution.set_distribution(grebe.distribution.DataParallel())
    model.fit(x, y, batch_size=128, epochs=5)   # 128 = the global batch, 32 per rank

(or set GREBE_DISTRIBUTED=1 and leave the script unchanged). fit broadcasts rank 0's weights and
optimizer state, gives each rank its part of every global batch of one shared shuffle, sums the
gradients over the ranks (bucketed MPI Iallreduce, overlapping backward) and reduces the metrics,
so the History is what one process reports; progress bar, ModelCheckpoint, CSVLogger,
TensorBoard, save and History.plot act on rank 0 only. evaluate and predict shard the data and
gather the results in order. mpi4py is an optional dependency: pip install 'grebe[mpi]'.
"""
from __future__ import annotations

from grebe import replica
from grebe.distribution.mpi import load_mpi


def initialize(job_addresses=None, num_processes=None, process_id=None) -> None:
    """Starts MPI (the launcher, mpirun or srun, gives every process its rank). Keras's
    arguments are checked against what MPI reports; job_addresses is not needed by MPI."""
    from grebe.distribution.mpi import install_abort_on_exception

    mpi = load_mpi()
    comm = mpi.COMM_WORLD
    if num_processes is not None and int(num_processes) != comm.Get_size():
        raise ValueError(f"initialize: num_processes={num_processes} but the MPI job has "
                         f"{comm.Get_size()} ranks (set the count with mpirun -n / srun -n)")
    if process_id is not None and int(process_id) != comm.Get_rank():
        raise ValueError(f"initialize: process_id={process_id} but MPI gave this process rank "
                         f"{comm.Get_rank()}")
    install_abort_on_exception(comm)


def rank() -> int:
    """This process's rank in the MPI job (0 when mpi4py is not installed)."""
    try:
        return load_mpi().COMM_WORLD.Get_rank()
    except ImportError:
        return 0


def size() -> int:
    """The number of processes in the MPI job (1 when mpi4py is not installed)."""
    try:
        return load_mpi().COMM_WORLD.Get_size()
    except ImportError:
        return 1


def list_devices(device_type=None) -> list:
    """One device per MPI rank: ['cpu:0', 'cpu:1', ...] (grebe runs on CPUs only)."""
    if device_type not in (None, "cpu", "CPU"):
        raise ValueError(f"list_devices: grebe runs on CPUs only; received "
                         f"device_type={device_type!r}")
    return [f"cpu:{i}" for i in range(load_mpi().COMM_WORLD.Get_size())]


def set_distribution(value) -> None:
    """Makes fit/evaluate/predict run under `value` (a DataParallel), or normally with None."""
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a grebe.distribution.DataParallel or None, "
                        f"received {type(value).__name__}")
    replica.install(value)


def backward(model, loss) -> None:
    """For a custom `train_step`: clears the `.grad` of model.trainable_weights, then
    `loss.backward()`, with the gradients summed over the ranks when a DataParallel is set
    (apply them with model.optimizer as usual)."""
    weights = model._weights_for_step()  # their .grad cleared first, as fit's own step does
    dist = replica.current()
    if dist is None:
        loss.backward()
    else:
        dist.backward(model, loss, weights)


def distribution():
    """The distribution set with set_distribution (None when there is none)."""
    return replica.current()


from grebe.distribution.data_parallel import DataParallel  # noqa: E402

__all__ = ["DataParallel", "backward", "distribution", "initialize", "list_devices", "rank",
           "set_distribution", "size"]
