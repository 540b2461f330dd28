"""Runs the keras-io programs under grebe and/or real Keras 3 (torch backend) and prints a table:
status, the first error line of a failure, the final training loss and the wall time.

    PYTHONPATH=python python tests/keras_io/run_programs.py            # both
    PYTHONPATH=python python tests/keras_io/run_programs.py grebe      # one implementation
    PYTHONPATH=python python tests/keras_io/run_programs.py keras mnist_convnet

The only difference between the two runs is KERAS_IMPL, which each program's import lines read.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")


def program_names() -> list:
    return sorted(f[:-3] for f in os.listdir(PROGRAMS)
                  if f.endswith(".py") and not f.startswith("_"))


def run_program(name: str, impl: str, timeout: float = 300.0) -> dict:
    """Runs one program in a fresh process and working folder; returns status, error line,
    final loss (the program's `FINAL_LOSS x` line), seconds and the output."""
    env = dict(os.environ, KERAS_IMPL=impl, KERAS_BACKEND="torch", PYTHONHASHSEED="0",
               MPLBACKEND="Agg")
    if impl == "grebe":
        import grebe

        root = os.path.dirname(os.path.dirname(os.path.abspath(grebe.__file__)))
        env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:
        try:
            proc = subprocess.run([sys.executable, os.path.join(PROGRAMS, name + ".py")],
                                  cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            out, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = f"{e.stdout or ''}{e.stderr or ''}\nTIMEOUT after {timeout:.0f} s", -1
    seconds = time.perf_counter() - start
    m = re.search(r"^FINAL_LOSS (\S+)$", out, re.M)
    error = ""
    if rc != 0:
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        error = next((ln for ln in reversed(lines) if re.match(r"^\w*(Error|Exception)\b", ln)),
                     lines[-1] if lines else "")
    return {"name": name, "impl": impl, "ok": rc == 0 and m is not None, "error": error,
            "loss": float(m.group(1)) if m else None, "seconds": seconds, "output": out}


def main(argv) -> None:
    timeout = 300.0
    if "--timeout" in argv:
        i = argv.index("--timeout")
        timeout = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    impls = [a for a in argv if a in ("grebe", "keras")] or ["grebe", "keras"]
    names = [a for a in argv if a not in ("grebe", "keras")] or program_names()
    results = {}
    for name in names:
        for impl in impls:
            r = run_program(name, impl, timeout)
            results[name, impl] = r
            status = "ok  " if r["ok"] else "FAIL"
            loss = "" if r["loss"] is None else f"loss {r['loss']:.4f}"
            print(f"{name:45s} {impl:6s} {status} {r['seconds']:6.1f} s {loss:12s} "
                  f"{r['error'][:150]}", flush=True)
    for impl in impls:
        n_ok = sum(results[n, impl]["ok"] for n in names)
        print(f"{impl}: {n_ok} of {len(names)} programs ran to the end")


if __name__ == "__main__":
    main(sys.argv[1:])
