"""A short, bounded run of each fuzz harness (tests/fuzz, atheris): a fixed seed and a fixed
number of inputs, in a subprocess (libFuzzer exits the process when done). Any finding (an
exception the target must not raise, a crash, a hang) makes the harness exit non-zero. The long
runs are described in tests/fuzz/README.md."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

_FUZZ = os.path.join(os.path.dirname(__file__), "..", "fuzz")


@pytest.mark.parametrize("harness,runs", [("fuzz_bindings.py", 600), ("fuzz_files.py", 150)])
def test_short_fuzz_run_finds_nothing(harness, runs):
    with tempfile.TemporaryDirectory() as artifacts:
        env = dict(os.environ)
        env.pop("GREBE_FUZZ_LOG", None)
        proc = subprocess.run(
            [sys.executable, os.path.join(_FUZZ, harness), f"-runs={runs}", "-seed=1",
             "-timeout=60", f"-artifact_prefix={artifacts}/"],
            capture_output=True, text=True, timeout=600, env=env)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert f"Done {runs} runs" in tail, tail
