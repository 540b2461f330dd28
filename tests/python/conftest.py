import os
import sys

import pytest

# Tests that compare with real Keras 3 run it on PyTorch (the tests' reference library), never
# on TensorFlow, whether or not TensorFlow happens to be installed.
os.environ.setdefault("KERAS_BACKEND", "torch")

sys.path.insert(0, os.path.dirname(__file__))  # tests/python/helpers.py
# Tests that compare with Keras 3 use its torch backend (torch is the tests' reference anyway).
os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With GREBE_NO_SKIP=1 (CI and the README's test command), a skipped test is a failure:
    every optional reference (torch, scikit-learn, mnist1d, safetensors) must be installed, so
    nothing passes by not running."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("GREBE_NO_SKIP") == "1" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under GREBE_NO_SKIP=1: {reason}"
