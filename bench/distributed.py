"""Data-parallel training over MPI: 1 process x 1 thread against 2 ranks x 1 thread.

    python bench/distributed.py [--models cnn,resnet] [--steps 6] [--repeats 5]

The seed CNN (bench/_seed_cnn.py) and ResNet-20 (bench/resnet.py) train with fit() on global
batches of 128: one process takes all 128 samples per step, two ranks (mpirun -n 2) take 64
each and sum their gradients (grebe.distribution.DataParallel, bucketed Iallreduce started
during backward). Each run is one fit() of repeats + 1 epochs of `steps` steps; the first epoch
warms up, the time per step is the median over the other epochs (wall clock: run it on a quiet
machine, it needs both cores; the load average is printed before and after).

Prints per model: ms per step for each, the scaling efficiency T1 / (2 * T2), the backward
time per step (the window the sums can hide in), the communication time NOT hidden (time
waiting for the sums after backward ended), and a blocking allreduce of the same bytes alone
for comparison. The same in CPU seconds, which a loaded machine does not blur: the work per
step of each, and the efficiency that work allows. Then the extrapolation to 8 and 64 nodes
(see README, "Scaling out").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH = 128


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="cnn,resnet")
    p.add_argument("--steps", type=int, default=6, help="steps (global batches) per epoch")
    p.add_argument("--repeats", type=int, default=5, help="timed epochs (median)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def build(name):
    import grebe

    grebe.utils.set_random_seed(0)
    if name == "cnn":
        from _seed_cnn import grebe_seed_cnn

        model = grebe_seed_cnn()
    else:
        from resnet import keras_like_resnet

        inp = grebe.Input((32, 32, 3))
        model = grebe.Model(inp, keras_like_resnet(grebe.layers, inp))
    model.compile(optimizer=grebe.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    return model


def timed_fit(name, steps, repeats, dist=None) -> dict:
    """Per-epoch wall seconds (and DataParallel's timings per epoch) of one fit()."""
    import grebe

    grebe.set_num_threads(1)
    model = build(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps * BATCH, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, steps * BATCH)
    epochs, marks = [], []

    class Clock(grebe.callbacks.Callback):
        """Per epoch and rank: wall and CPU seconds per step, from a common start (a barrier)
        to the rank's end of the epoch (the epoch's last log sum has lined the ranks up)."""

        def on_epoch_begin(self, epoch, logs=None):
            if dist is not None:
                dist.comm.Barrier()
            marks.append((time.perf_counter(), time.process_time(),
                          dist.timings() if dist else None))

        def on_epoch_end(self, epoch, logs=None):
            t0, c0, m0 = marks[-1]
            per = {"s": (time.perf_counter() - t0) / steps,
                   "cpu_s": (time.process_time() - c0) / steps}
            if dist is not None:
                m1 = dist.timings()
                for k in ("backward_s", "backward_cpu_s", "comm_wait_s", "comm_wait_cpu_s"):
                    per[k] = (m1[k] - m0[k]) / steps
                per["work_cpu_s"] = per["cpu_s"] - per["comm_wait_cpu_s"]
            epochs.append(per)

    model.fit(x, y, batch_size=BATCH, epochs=repeats + 1, shuffle=False, verbose=0,
              callbacks=[Clock()])
    timed = epochs[1:]
    if dist is not None:  # each epoch's slower rank
        every = dist.comm.allgather(timed)
        timed = [{k: max(r[i][k] for r in every) for k in timed[i]}
                 for i in range(len(timed))]
    out = {k: statistics.median(e[k] for e in timed) for k in timed[0]}
    out["params"] = int(sum(w.size for w in model.trainable_weights))
    return out


def allreduce_alone(dist, params, repeats=20) -> float:
    """Median seconds of a blocking allreduce of `params` floats (no overlap)."""
    buf = np.ones(params, np.float32)
    times = []
    for _ in range(repeats):
        dist.comm.Barrier()
        t0 = time.perf_counter()
        dist.comm.Allreduce(dist.mpi.IN_PLACE, buf, op=dist.mpi.SUM)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def worker(args) -> None:
    from grebe import distribution

    dist = distribution.DataParallel()
    distribution.set_distribution(dist)
    res = timed_fit(args.worker, args.steps, args.repeats, dist)
    res["allreduce_alone_s"] = allreduce_alone(dist, res["params"])
    if dist.rank == 0:
        print("RESULT " + json.dumps(res), flush=True)


def two_ranks(name, args) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(here, "..", "python"), os.environ.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1")
    cmd = ["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root", "--bind-to", "core",
           "-x", "PYTHONPATH", "-x", "OMP_NUM_THREADS", sys.executable, __file__,
           "--worker", name, "--steps", str(args.steps), "--repeats", str(args.repeats)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"the 2-rank run failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def extrapolate(name, one, two) -> list:
    """Rows for 8 and 64 nodes (64 samples per node, as measured) at 10 and 100 Gbit/s: ring
    allreduce bytes per step = params x 4 x 2(N-1)/N, bandwidth term only. The window is the
    backward of 64 samples in CPU seconds (1 thread: what a quiet core takes)."""
    rows = []
    window = two["backward_cpu_s"]
    per_sample_backward = window / (BATCH // 2)
    for nodes in (8, 64):
        nbytes = one["params"] * 4 * 2 * (nodes - 1) / nodes
        for gbit in (10, 100):
            comm = nbytes * 8 / (gbit * 1e9)
            rows.append((name, nodes, gbit, nbytes / 1e6, comm * 1e3,
                         window * 1e3, "yes" if comm <= window else "no",
                         comm / per_sample_backward))
    return rows


def main() -> None:
    args = parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if args.worker:
        worker(args)
        return
    load0 = os.getloadavg()
    results, rows = {}, []
    for name in args.models.split(","):
        one = timed_fit(name, args.steps, args.repeats)
        two = two_ranks(name, args)
        results[name] = (one, two)
        rows += extrapolate(name, one, two)
    load1 = os.getloadavg()
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; wall-clock medians of "
          f"{args.repeats} epochs x {args.steps} steps, global batch {BATCH}")
    print(f"{'model':8} {'params':>8} {'1x1 ms/step':>12} {'2x1 ms/step':>12} "
          f"{'efficiency':>10} {'backward ms':>11} {'not hidden ms':>13} {'allreduce ms':>12}")
    for name, (one, two) in results.items():
        print(f"{name:8} {one['params']:8d} {one['s'] * 1e3:12.1f} {two['s'] * 1e3:12.1f} "
              f"{one['s'] / (2 * two['s']):10.1%} {two['backward_s'] * 1e3:11.1f} "
              f"{two['comm_wait_s'] * 1e3:13.3f} {two['allreduce_alone_s'] * 1e3:12.3f}")
    print("\nThe same in CPU seconds (what the scheduler of a shared machine cannot blur): "
          "1x1 per step, the busier rank's work per step (its CPU time less the time MPI "
          "polled in waits), work efficiency T1 / (2 work), and the efficiency if no "
          "communication were hidden, T1 / (2 (work + allreduce alone)):")
    print(f"{'model':8} {'1x1 CPU ms':>10} {'2x1 work ms':>11} {'work eff.':>9} "
          f"{'no-overlap eff.':>15} {'backward CPU ms':>15}")
    for name, (one, two) in results.items():
        work = two["work_cpu_s"]
        print(f"{name:8} {one['cpu_s'] * 1e3:10.1f} {work * 1e3:11.1f} "
              f"{one['cpu_s'] / (2 * work):9.1%} "
              f"{one['cpu_s'] / (2 * (work + two['allreduce_alone_s'])):15.1%} "
              f"{two['backward_cpu_s'] * 1e3:15.1f}")
    print("\nExtrapolation (64 samples per node per step; bandwidth term of a ring allreduce; "
          "backward in CPU ms):")
    print(f"{'model':8} {'nodes':>5} {'Gbit/s':>6} {'MB/step':>8} {'comm ms':>8} "
          f"{'backward ms':>11} {'hidden':>6} {'hides down to (samples/node)':>29}")
    for r in rows:
        print(f"{r[0]:8} {r[1]:5d} {r[2]:6d} {r[3]:8.2f} {r[4]:8.2f} {r[5]:11.1f} {r[6]:>6} "
              f"{r[7]:29.1f}")


if __name__ == "__main__":
    main()
