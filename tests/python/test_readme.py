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


def test_readme_explain_block_runs(tmp_path, monkeypatch):
    import grebe
    from grebe import layers

    block = next(b for b in _blocks() if "explain.saliency" in b)
    rng = np.random.default_rng(0)
    model = grebe.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.build((None, 16, 16, 1))
    text_model = grebe.Sequential([grebe.Input((6,), dtype="int32"),
                                   layers.Embedding(20, 4, name="embedding"), layers.GRU(3),
                                   layers.Dense(2, activation="softmax")])
    scope = {"model": model, "x": rng.random((2, 16, 16, 1), dtype=np.float32),
             "y": np.array([0, 2]), "text_model": text_model,
             "token_ids": rng.integers(0, 20, (2, 6))}
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README explain block", "exec"), scope)
    assert scope["ig"].shape == (2, 16, 16, 1) and scope["tok"].shape == (2, 6, 4)
    assert (tmp_path / "why.png").exists()


def test_readme_interop_block_runs(tmp_path, monkeypatch):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import torch

    block = next(b for b in _blocks() if "from_dlpack" in b)
    monkeypatch.chdir(tmp_path)
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    km.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    km.save("trained_by_keras.keras")
    rng = np.random.default_rng(0)
    scope = {"x": rng.random((16, 4), dtype=np.float32), "y": rng.integers(0, 3, 16),
             "torch_tensor": torch.ones(3), "grebe": __import__("grebe")}
    exec(compile(block.replace("model.fit(x, y)", "model.fit(x, y, verbose=0)"),
                 "README interop block", "exec"), scope)
    assert (tmp_path / "tuned.keras").exists() and (tmp_path / "tuned.onnx").exists()
    back = keras.saving.load_model("tuned.keras")
    np.testing.assert_allclose(np.asarray(back.predict(scope["x"], verbose=0)),
                               scope["model"].predict(scope["x"], verbose=0), atol=1e-6)
