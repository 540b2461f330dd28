"""The README's code runs as written: the custom-loop block, and the Keras block on small data."""
import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_custom_loop_trains():
    block = next(b for b in _blocks() if "loss.backward()" in b)
    scope = {}
    exec(compile(block, "README custom loop", "exec"), scope)
    # The loop fits 32 random samples; after 100 SGD steps the loss is far below ln(10) = 2.30.
    assert float(scope["loss"]) < 1.5


def test_readme_keras_block_runs_on_small_data():
    block = next(b for b in _blocks() if "model.fit" in b)
    rng = np.random.default_rng(0)
    scope = {"x": rng.random((64, 32, 32, 3), dtype=np.float32),
             "y": rng.integers(0, 10, 64)}
    block = block.replace("epochs=10", "epochs=1, verbose=0")
    exec(compile(block, "README Keras block", "exec"), scope)
    assert len(scope["history"].history["loss"]) == 1
    assert np.isfinite(scope["history"].history["loss"][0])
