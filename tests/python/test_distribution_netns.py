"""Two "hosts": a 2-rank job with one rank in each of two network namespaces joined by a veth
pair, Open MPI over TCP on that link only, so the gradient sums really cross a network
interface. Needs root (ip netns), as in CI.

How it is launched: mpirun runs inside namespace A with `--host <A's address>:1,<B's address>:1`;
rank 0 starts locally (A's address is its own), and for B mpirun's rsh launcher calls an agent
script in place of ssh, which runs Open MPI's daemon (orted) with `ip netns exec B`. The daemon
connects back over the veth pair (oob_tcp_if_include), and MPI's messages use the TCP BTL on the
same subnet (btl tcp,self; btl_tcp_if_include), never shared memory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from test_distribution import RUN, TOL, cases, job_env, load


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=30)


def tx_bytes(ns, dev) -> int:
    return int(ip("netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/tx_bytes")
               .stdout)


def test_two_hosts_over_a_veth_pair(tmp_path):
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and iproute2 (ip netns) to make two network namespaces")
    tag = f"gb{os.getpid() % 100000}"
    ns_a, ns_b, dev_a, dev_b = tag + "a", tag + "b", tag + "va", tag + "vb"
    net = f"10.{200 + os.getpid() % 50}.{os.getpid() // 50 % 250}"
    try:
        ip("netns", "add", ns_a)
        ip("netns", "add", ns_b)
        ip("link", "add", dev_a, "type", "veth", "peer", "name", dev_b)
        for ns, dev, host in ((ns_a, dev_a, 1), (ns_b, dev_b, 2)):
            ip("link", "set", dev, "netns", ns)
            ip("-n", ns, "addr", "add", f"{net}.{host}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        agent = tmp_path / "netns_agent.sh"  # mpirun's "ssh": run the command in namespace B
        agent.write_text(f'#!/bin/sh\nshift\nexec ip netns exec {ns_b} /bin/sh -c "$*"\n')
        agent.chmod(0o755)
        before = tx_bytes(ns_a, dev_a)
        out = tmp_path / "out"
        out.mkdir()
        cmd = ["ip", "netns", "exec", ns_a, "mpirun", "-n", "2", "--host",
               f"{net}.1:1,{net}.2:1", "--allow-run-as-root", "--oversubscribe",
               "--mca", "plm_rsh_agent", str(agent), "--mca", "btl", "tcp,self",
               "--mca", "btl_tcp_if_include", f"{net}.0/24",
               "--mca", "oob_tcp_if_include", f"{net}.0/24",
               "-x", "PYTHONPATH", "-x", "GREBE_TEST_NETNS",
               sys.executable, RUN, str(out), "mlp"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=job_env(GREBE_TEST_NETNS="1"))
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        sent = tx_bytes(ns_a, dev_a) - before
    finally:
        ip("netns", "del", ns_a, check=False)  # deleting a namespace deletes its veth end
        ip("netns", "del", ns_b, check=False)
    assert (out / "netns_rank0.txt").read_text() == ns_a
    assert (out / "netns_rank1.txt").read_text() == ns_b
    a0, m0 = load(str(out), "mlp", 0)
    a1, m1 = load(str(out), "mlp", 1)
    assert all(np.array_equal(a0[k], a1[k]) for k in a0) and m0 == m1
    ref = cases.run("mlp")
    for i, w in enumerate(ref["weights"]):
        assert np.abs(a0[f"w{i}"] - w).max() <= TOL * np.abs(w).max()
    # Every step's gradient sum crossed the link: at least one buffer of all gradients each.
    params = sum(w.size for w in ref["weights"])
    assert sent >= ref["opt_iterations"] * params * 4, sent
