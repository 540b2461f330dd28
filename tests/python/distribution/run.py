"""Entry point of the data-parallel jobs the tests launch:

    mpirun -n 2 python run.py OUT CASE [CASE ...]     # cases of cases.py, results to OUT
    mpirun -n 2 python run.py OUT --fail raise|hang|die|mismatch|custom
    python run.py OUT --single                         # DataParallel in one process

Each rank writes OUT/<case>_rank<r>.npz (weights, predictions) and .json (history, evaluate).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grebe  # noqa: E402
from grebe import distribution  # noqa: E402

import cases  # noqa: E402


def save(out, name, rank, result) -> None:
    arrays = {f"w{i}": w for i, w in enumerate(result["weights"])}
    if "predict" in result:
        arrays["predict"] = result["predict"]
    np.savez(os.path.join(out, f"{name}_rank{rank}.npz"), **arrays)
    meta = {"history": {k: [float(v) for v in vs] for k, vs in result["history"].items()},
            "evaluate": {k: float(v) for k, v in result.get("evaluate", {}).items()},
            "opt_iterations": int(result["opt_iterations"])}
    with open(os.path.join(out, f"{name}_rank{rank}.json"), "w") as f:
        json.dump(meta, f)


def failing(out, how) -> None:
    """A job in which one rank goes wrong during the first epoch."""
    dp = distribution.DataParallel(timeout=float(os.environ.get("TEST_TIMEOUT", 600)))
    distribution.set_distribution(dp)
    model, fit, _ = cases.custom_step(summed=False) if how == "custom" else cases.mlp()
    x, y = fit["x"], fit["y"]
    if how == "mismatch" and dp.rank == 1:
        x, y = x[:-10], y[:-10]  # a rank that loaded less data

    def on_batch_end(batch, logs):
        if batch == 1 and dp.rank == 1:
            if how == "raise":
                raise RuntimeError("boom on rank 1 in batch 1")
            if how == "hang":
                time.sleep(1000)
            if how == "die":
                os._exit(7)  # as a crash or a kill: no exception, no MPI_Abort

    fit = dict(fit, x=x, y=y, callbacks=[grebe.callbacks.LambdaCallback(
        on_train_batch_end=on_batch_end)])
    model.fit(**fit)


def single(out) -> None:
    """DataParallel in one process (size 1) gives the plain run's weights, bit for bit."""
    distribution.set_distribution(distribution.DataParallel())
    dp_result = cases.run("mlp")
    distribution.set_distribution(None)
    plain = cases.run("mlp")
    same = all(np.array_equal(a, b) for a, b in zip(dp_result["weights"], plain["weights"]))
    same = same and np.array_equal(dp_result["predict"], plain["predict"])
    with open(os.path.join(out, "single.json"), "w") as f:
        json.dump({"size": distribution.size(), "rank": distribution.rank(),
                   "devices": distribution.list_devices(), "bitwise_equal": bool(same),
                   "history_equal": dp_result["history"] == plain["history"]}, f)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    grebe.set_num_threads(int(os.environ.get("GREBE_TEST_THREADS", "1")))
    if args[0] == "--fail":
        failing(out, args[1])
        return
    if args[0] == "--single":
        single(out)
        return
    if os.environ.get("GREBE_DISTRIBUTED") != "1":  # (else `import grebe` did it, 1 MB buckets)
        distribution.set_distribution(distribution.DataParallel(bucket_mb=0.05))
    assert distribution.distribution() is not None
    rank = distribution.rank()
    if os.environ.get("GREBE_TEST_NETNS"):  # the two-"host" test: where each rank runs
        import subprocess

        ns = subprocess.run(["ip", "netns", "identify", str(os.getpid())], text=True,
                            capture_output=True).stdout.strip()
        with open(os.path.join(out, f"netns_rank{rank}.txt"), "w") as f:
            f.write(ns)
    for name in args:
        save(out, name, rank, cases.run(name, out, rank))


if __name__ == "__main__":
    main()
