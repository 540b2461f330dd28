"""The keras-io program suite on grebe: each program (tests/keras_io/programs, Keras 3 guides and
examples with only the import lines changed, stand-in data and fewer epochs) runs in its own
process and must reach its end (its own assertions included) and print a finite final loss.

KNOWN_GAPS lists the programs that still stop on a missing piece of the Keras API, with the
error they stop on: such a program must still fail with exactly that error (so a new, different
failure is caught), and once it runs, the test fails until it is taken off the list.
Real Keras 3 on the same files: `python tests/keras_io/run_programs.py keras`.
"""
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from run_programs import program_names, run_program  # noqa: E402

KNOWN_GAPS: dict = {
    # program name -> the error it stops on; empty: every program in the suite runs on grebe
}


@pytest.mark.parametrize("name", program_names())
def test_program_runs_on_grebe(name):
    r = run_program(name, "grebe", timeout=240)
    if name in KNOWN_GAPS:
        assert not r["ok"], f"{name} now runs on grebe: take it off KNOWN_GAPS"
        assert KNOWN_GAPS[name] in r["error"], \
            f"{name} fails differently than recorded:\n{r['output'][-3000:]}"
        return
    assert r["ok"], f"{name} failed on grebe:\n{r['output'][-4000:]}"
    assert math.isfinite(r["loss"]), r["loss"]
