"""grebe.distribution: data-parallel jobs of 2 MPI ranks (`mpirun -n 2`, launched as
subprocesses) against the same training in one process.

The tolerance: 2 ranks sum each half-batch's mean gradient scaled by its share, one process
takes the mean over the whole batch; after 6 to 12 Adam/SGD steps the weights differ by at most
about 1e-6 of the largest weight (measured: 1.1e-7 MLP, 9.3e-7 seed CNN, 3.3e-7 GRU). The tests
allow 1e-5. The two ranks must agree bit for bit.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import grebe

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "distribution", "run.py")
sys.path.insert(0, os.path.join(HERE, "distribution"))
import cases  # noqa: E402

TOL = 1e-5  # of the largest weight, see the module docstring
MPIRUN = ["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root", "-x", "PYTHONPATH"]
TRAINED = ["mlp", "cnn", "gru", "tiny_last", "dataset", "custom_step", "batchnorm",
           "callbacks"]


def job_env(**extra) -> dict:
    """The environment of a job: the grebe these tests import (in-tree or installed)."""
    env = dict(os.environ)
    env.pop("GREBE_DISTRIBUTED", None)
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(grebe.__file__)), env.get("PYTHONPATH", "")])
    return env


def run_job(args, timeout=120, env=None, launcher=MPIRUN):
    """Runs `launcher python run.py args`; a job that hangs fails the test at `timeout`."""
    if launcher and shutil.which(launcher[0]) is None:
        pytest.fail(f"{launcher[0]} is not installed (apt-get install openmpi-bin)")
    return subprocess.run(launcher + [sys.executable, RUN] + args, capture_output=True,
                          text=True, timeout=timeout, env=env or job_env())


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One 2-rank job that trains every case (one launch keeps the tests quick)."""
    out = str(tmp_path_factory.mktemp("dp"))
    r = run_job([out] + TRAINED)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def load(out, name, rank):
    arrays = np.load(os.path.join(out, f"{name}_rank{rank}.npz"))
    with open(os.path.join(out, f"{name}_rank{rank}.json")) as f:
        return {k: arrays[k] for k in arrays.files}, json.load(f)


@pytest.mark.parametrize("name", ["mlp", "cnn", "gru", "tiny_last", "dataset", "custom_step"])
def test_two_ranks_match_one_process(job, name):
    arrays, meta = load(job, name, 0)
    ref = cases.run(name)
    assert meta["opt_iterations"] == ref["opt_iterations"]
    test_data = "evaluate" in ref
    for i, w in enumerate(ref["weights"]):
        err = np.abs(arrays[f"w{i}"] - w).max()
        assert err <= TOL * np.abs(w).max(), (name, i, err)
    assert sorted(meta["history"]) == sorted(ref["history"])
    for k, values in ref["history"].items():  # the History one process reports
        np.testing.assert_allclose(meta["history"][k], values, rtol=1e-5, atol=1e-6,
                                   err_msg=k)
    if not test_data:
        return
    for k, v in ref["evaluate"].items():
        np.testing.assert_allclose(meta["evaluate"][k], v, rtol=1e-5, atol=1e-6, err_msg=k)
    assert arrays["predict"].shape == ref["predict"].shape  # gathered in data order
    np.testing.assert_allclose(arrays["predict"], ref["predict"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", TRAINED)
def test_ranks_bitwise_identical(job, name):
    a0, m0 = load(job, name, 0)
    a1, m1 = load(job, name, 1)
    assert sorted(a0) == sorted(a1)
    for k in a0:
        assert np.array_equal(a0[k], a1[k]), k
    assert m0 == m1


def test_bitwise_the_same_run_to_run_and_with_2_threads(job, tmp_path):
    """A second job, each rank with 2 threads and the distribution set by GREBE_DISTRIBUTED=1
    (default 1 MB buckets instead of 0.05 MB): the same bits (each element's sum is the same
    whatever the buckets; grebe's kernels do not depend on the thread count)."""
    r = run_job([str(tmp_path), "cnn", "batchnorm"],
                env=job_env(GREBE_TEST_THREADS="2", GREBE_DISTRIBUTED="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("cnn", "batchnorm"):
        a, m = load(job, name, 0)
        b, n = load(str(tmp_path), name, 0)
        assert all(np.array_equal(a[k], b[k]) for k in a) and m == n, name


def test_side_effects_on_rank_0_only(job):
    files0 = sorted(os.listdir(os.path.join(job, "r0")))
    assert os.listdir(os.path.join(job, "r1")) == []  # rank 1 wrote nothing
    _, meta = load(job, "callbacks", 0)
    epochs = len(meta["history"]["loss"])
    assert files0 == sorted([f"ckpt-{e}.weights.h5" for e in range(1, epochs + 1)] +
                            ["final.grebe", "log.csv"])
    with open(os.path.join(job, "r0", "log.csv")) as f:
        rows = f.read().splitlines()
    assert len(rows) == epochs + 1
    restored = grebe.saving.load_model(os.path.join(job, "r0", "final.grebe"))
    arrays, _ = load(job, "callbacks", 0)
    for i, w in enumerate(restored.get_weights()):
        assert np.array_equal(w, arrays[f"w{i}"])


def test_early_stopping_same_epoch_as_one_process(job, tmp_path):
    _, m0 = load(job, "callbacks", 0)
    _, m1 = load(job, "callbacks", 1)
    ref = cases.run("callbacks", str(tmp_path), 0)
    n = len(ref["history"]["loss"])
    assert 1 < n < 12  # it did stop early
    assert len(m0["history"]["loss"]) == len(m1["history"]["loss"]) == n


@pytest.mark.parametrize("how, message", [
    ("raise", "rank 1 of 2 stopped on an uncaught RuntimeError: boom on rank 1"),
    ("hang", "waited more than 3 s for the other ranks in"),
    ("die", "exited with non-zero status"),
    ("mismatch", "the ranks disagree on data samples: rank 0 has 101, rank 1 has 91"),
    ("custom", "applied gradients that were not summed over the ranks"),
])
def test_a_failing_rank_ends_the_job(tmp_path, how, message):
    # The subprocess timeout is the bound: a job that hung would fail here, not pass slowly.
    r = run_job([str(tmp_path), "--fail", how], timeout=60,
                env=job_env(TEST_TIMEOUT="3") if how == "hang" else None)
    assert r.returncode != 0
    assert message in r.stdout + r.stderr, r.stderr[-3000:]


def test_data_parallel_in_one_process_is_plain_fit(tmp_path):
    r = run_job([str(tmp_path), "--single"], launcher=[], timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(tmp_path / "single.json") as f:
        got = json.load(f)
    assert got == {"size": 1, "rank": 0, "devices": ["cpu:0"], "bitwise_equal": True,
                   "history_equal": True}


def test_without_mpi4py_the_error_names_the_extra(monkeypatch):
    from grebe import distribution
    from grebe.distribution import mpi

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(mpi, "_MPI", None)
    with pytest.raises(ImportError, match=r"pip install 'grebe\[mpi\]'"):
        distribution.DataParallel()
    with pytest.raises(ImportError, match="mpi4py"):
        distribution.initialize()
    assert distribution.rank() == 0 and distribution.size() == 1


def test_set_distribution_checks_its_argument():
    from grebe import distribution

    with pytest.raises(TypeError, match="DataParallel or None"):
        distribution.set_distribution("data_parallel")
    distribution.set_distribution(None)
    assert distribution.distribution() is None


def test_backward_reports_each_leaf_once_its_gradient_is_final():
    """autograd.backward(on_ready=...): the hook the gradient buckets start from. A weight
    used twice is reported after its second use, with the gradient backward ends with."""
    from grebe import autograd

    rng = np.random.default_rng(0)
    w1 = grebe.tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    w2 = grebe.tensor(rng.standard_normal((5, 5)).astype(np.float32), requires_grad=True)
    unused = grebe.tensor(np.ones(3, np.float32), requires_grad=True)
    x = grebe.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    h = grebe.ops.matmul(x, w1)
    loss = grebe.ops.sum(grebe.ops.matmul(grebe.ops.matmul(h, w2), w2))  # w2 used twice
    seen = []
    autograd.backward(loss, on_ready=lambda leaves: seen.extend(
        (id(w), None if w.grad is None else w.grad.copy()) for w in leaves))
    assert [i for i, _ in seen] == [id(w2), id(w1)]  # w2 is final before w1
    for w, (_, g) in zip((w2, w1), seen):
        assert np.array_equal(g, w.grad)
    assert unused.grad is None


@pytest.mark.parametrize("kwargs, message", [
    ({"bucket_mb": 0}, "bucket_mb > 0"),
    ({"timeout": "soon"}, r"timeout \(or GREBE_MPI_TIMEOUT\) > 0 seconds. Received: 'soon'"),
    ({"timeout": -1}, "Received: -1"),
    ({"device_mesh": object()}, "device_mesh is not supported"),
])
def test_data_parallel_checks_its_arguments(kwargs, message):
    from grebe import distribution

    with pytest.raises((ValueError, NotImplementedError), match=message):
        distribution.DataParallel(**kwargs)  # before MPI starts: nothing else happens
