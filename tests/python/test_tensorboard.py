"""callbacks.TensorBoard writes event files that TensorBoard's own reader (EventAccumulator)
reads back: per-epoch and per-batch scalars with the values fit reported, the learning rate,
validation runs, weight histograms with the weights' statistics; the record format's CRC-32C
against its published check value."""
from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import grebe
from grebe import layers
from grebe.callbacks import tfevents


def read(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("tb")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    grebe.utils.set_random_seed(0)
    model = grebe.Sequential([grebe.Input((3,)), layers.Dense(4, name="hidden"),
                              layers.Dense(1, name="out")])
    model.compile(optimizer=grebe.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    cb = grebe.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=1, update_freq=2,
                                     write_graph=True)
    lr = grebe.callbacks.LearningRateScheduler(lambda epoch: 0.05 / (epoch + 1))
    history = model.fit(x, y, batch_size=10, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[lr, cb])
    return log_dir, model, history


def test_epoch_scalars_match_the_history(trained):
    log_dir, _, history = trained
    train, val = read(log_dir / "train"), read(log_dir / "validation")
    names = [k for k in history.history if not k.startswith("val_") and k != "learning_rate"]
    assert len(names) == 2  # the loss and the metric
    for name in names:
        got = scalars(train, f"epoch_{name}")
        assert [s for s, _ in got] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in got], history.history[name], rtol=1e-6)
        got_val = scalars(val, f"epoch_{name}")
        np.testing.assert_allclose([v for _, v in got_val], history.history["val_" + name],
                                   rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars(train, "epoch_learning_rate")],
                               [0.05, 0.025, 0.05 / 3], rtol=1e-6)
    evaluations = scalars(val, "evaluation_loss_vs_iterations")
    assert [s for s, _ in evaluations] == [3, 6, 9]  # 30 training samples, batches of 10


def test_batch_scalars_every_update_freq_batches(trained):
    log_dir, _, _ = trained
    steps = [s for s, _ in scalars(read(log_dir / "train"), "batch_loss")]
    assert steps == [2, 4, 6, 8]  # 9 training batches in all, one event every 2


def test_weight_histograms(trained):
    log_dir, model, _ = trained
    acc = read(log_dir / "train")
    tag = "hidden/kernel/histogram"
    assert tag in acc.Tags()["histograms"] and "out/bias/histogram" in acc.Tags()["histograms"]
    events = acc.Histograms(tag)
    assert [e.step for e in events] == [0, 1, 2]
    h = events[-1].histogram_value
    w = model.get_layer("hidden").kernel.numpy().astype(np.float64)
    assert h.num == w.size and sum(h.bucket) == w.size
    np.testing.assert_allclose([h.min, h.max, h.sum, h.sum_squares],
                               [w.min(), w.max(), w.sum(), (w * w).sum()], rtol=1e-6)


def test_record_format_and_arguments(tmp_path):
    assert tfevents.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    w = tfevents.EventFileWriter(str(tmp_path))
    w.add_scalar("nan_stays_nan", float("nan"), 1)
    w.add_histogram("constant", np.full(5, 2.0), 1)
    w.close()
    acc = read(tmp_path)
    assert np.isnan(acc.Scalars("nan_stays_nan")[0].value)
    assert acc.Histograms("constant")[0].histogram_value.num == 5
    with pytest.raises(ValueError, match="update_freq"):
        grebe.callbacks.TensorBoard(update_freq=0)
    with pytest.raises(ValueError, match="histogram_freq"):
        grebe.callbacks.TensorBoard(histogram_freq=-1)
