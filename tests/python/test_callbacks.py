"""Callbacks: hook order, History, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
LearningRateScheduler, TerminateOnNaN, CSVLogger, LambdaCallback, progress output."""
from __future__ import annotations

import csv
import os
import sys

import numpy as np
import pytest

import grebe
from grebe import callbacks
from test_models import Lin, data, mse


def make_model(lr=0.05, name=None):
    model = grebe.Sequential([Lin(1, input_shape=(5,))], name=name)
    model.compile(optimizer=grebe.optimizers.SGD(learning_rate=lr), loss=mse)
    return model


class Inject(callbacks.Callback):
    """Overwrites a log value at each epoch end with a scripted sequence (runs before the
    callbacks that follow it), and records the weights at each epoch end."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def record(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)
            return record
        return attr


def test_hook_order_in_fit_evaluate_predict():
    x, y = data(20)
    model = make_model()
    rec = Recorder()
    model.fit(x, y, batch_size=10, epochs=2, validation_data=(x[:5], y[:5]), callbacks=[rec],
              verbose=0)
    expected_epoch = ["on_epoch_begin"] + \
        ["on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end"] * 2 + \
        ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
         "on_epoch_end"]
    assert rec.calls == ["on_train_begin"] + expected_epoch * 2 + ["on_train_end"]
    assert rec.model is model and rec.params == {"verbose": 0, "epochs": 2, "steps": 2}
    rec.calls.clear()
    model.evaluate(x, y, batch_size=20, callbacks=[rec], verbose=0)
    assert rec.calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end",
                         "on_test_end"]
    rec.calls.clear()
    model.predict(x, batch_size=20, callbacks=[rec], verbose=0)
    assert rec.calls == ["on_predict_begin", "on_predict_batch_begin",
                         "on_predict_batch_end", "on_predict_end"]


def test_batch_logs_and_stop_training_mid_epoch():
    x, y = data(40)
    model = make_model()
    seen = []

    class StopAfter(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, sorted(logs)))
            if batch == 1:
                self.model.stop_training = True

    h = model.fit(x, y, batch_size=10, epochs=5, callbacks=[StopAfter()], verbose=0)
    assert seen == [(0, ["loss"]), (1, ["loss"])]
    assert h.epoch == [0]


def test_history_collects_logs_added_by_callbacks():
    x, y = data(20)
    model = make_model()
    sched = callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    h = model.fit(x, y, epochs=3, callbacks=[sched], verbose=0)
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])
    assert model.optimizer.learning_rate == pytest.approx(0.03)


# ---- EarlyStopping --------------------------------------------------------------------------
def test_early_stopping_patience():
    x, y = data(20)
    model = make_model()
    inj = Inject("val_loss", [1.0, 0.8, 0.9, 0.85, 0.81, 0.7, 0.6])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=3)
    h = model.fit(x, y, epochs=7, callbacks=[inj, stop], verbose=0)
    assert h.epoch == [0, 1, 2, 3, 4]  # no improvement on 0.8 for 3 epochs
    assert stop.stopped_epoch == 4 and stop.best == 0.8 and stop.best_epoch == 1


def test_early_stopping_restores_best_even_without_stopping():
    x, y = data(20)
    model = make_model()
    inj = Inject("val_loss", [1.0, 0.5, 0.7, 0.9])
    stop = callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    h = model.fit(x, y, epochs=4, callbacks=[inj, stop], verbose=0)
    assert len(h.epoch) == 4 and stop.stopped_epoch == 0
    for a, b in zip(model.get_weights(), inj.weights[1]):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(inj.weights[3], inj.weights[1]))


def test_early_stopping_mode_min_delta_baseline_start_from_epoch():
    x, y = data(20)
    model = make_model()
    # mode auto on an accuracy maximizes; improvements below min_delta do not count
    inj = Inject("val_accuracy", [0.5, 0.52, 0.53, 0.54, 0.9])
    stop = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=2)
    h = model.fit(x, y, epochs=5, callbacks=[inj, stop], verbose=0)
    assert h.epoch == [0, 1, 2]
    # baseline: epochs that do not beat it count as waiting (Keras: from the first epoch)
    seq = [0.9, 0.95, 0.97, 0.99, 1.0]
    h = model.fit(x, y, epochs=5, verbose=0,
                  callbacks=[Inject("val_loss", seq), callbacks.EarlyStopping(patience=2)])
    assert h.epoch == [0, 1, 2]
    h = model.fit(x, y, epochs=5, verbose=0, callbacks=[
        Inject("val_loss", seq), callbacks.EarlyStopping(baseline=0.5, patience=2)])
    assert h.epoch == [0, 1]
    # start_from_epoch: the first epochs are not monitored
    inj = Inject("val_loss", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    stop = callbacks.EarlyStopping(patience=1, start_from_epoch=3)
    h = model.fit(x, y, epochs=6, callbacks=[inj, stop], verbose=0)
    assert h.epoch == [0, 1, 2, 3, 4]


def test_early_stopping_unknown_direction_and_missing_metric():
    x, y = data(20)
    model = make_model()
    with pytest.raises(ValueError, match="mode='max'"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.EarlyStopping(monitor="strange")])
    with pytest.warns(UserWarning, match="not available"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.EarlyStopping(monitor="val_loss")])


# ---- ModelCheckpoint ----------------------------------------------------------------------------
def test_model_checkpoint_every_epoch_with_formatted_names(tmp_path):
    x, y = data(20)
    model = make_model()
    path = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.3f}.weights")
    model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0,
              callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)])
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 3 and files[0].startswith("ckpt-01-") and files[2].startswith("ckpt-03")
    fresh = make_model()
    fresh.load_weights(str(tmp_path / files[-1]))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_best_only_full_model(tmp_path):
    x, y = data(20)
    model = make_model()
    inj = Inject("val_loss", [0.5, 0.7, 0.4, 0.6])
    path = str(tmp_path / "best-{epoch}.grebe")
    ck = callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    model.fit(x, y, epochs=4, validation_data=(x, y), callbacks=[inj, ck], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["best-1.grebe", "best-3.grebe"]
    assert ck.best == 0.4
    loaded = grebe.load_model(str(tmp_path / "best-3.grebe"), custom_objects={"Lin": Lin},
                              compile=False)
    for a, b in zip(loaded.get_weights(), inj.weights[2]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_unknown_monitor_names_available_keys(tmp_path):
    x, y = data(20)
    model = make_model()
    ck = callbacks.ModelCheckpoint(str(tmp_path / "m.grebe"), monitor="val_acc",
                                   save_best_only=True)
    with pytest.raises(ValueError, match=r"val_acc.*\['loss', 'val_loss'\]"):
        model.fit(x, y, epochs=1, validation_data=(x, y), callbacks=[ck], verbose=0)
    bad = callbacks.ModelCheckpoint(str(tmp_path / "m-{val_acc}.grebe"))
    with pytest.raises(ValueError, match="val_acc"):
        model.fit(x, y, epochs=1, callbacks=[bad], verbose=0)


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    x, y = data(40)
    model = make_model()
    ck = callbacks.ModelCheckpoint(str(tmp_path / "b-{epoch}-{batch}.w"),
                                   save_weights_only=True, save_freq=2)
    model.fit(x, y, batch_size=10, epochs=1, callbacks=[ck], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["b-1-2.w", "b-1-4.w"]


# ---- learning rate ----------------------------------------------------------------------------
def test_reduce_lr_on_plateau():
    x, y = data(20)
    model = make_model(lr=0.1)
    inj = Inject("val_loss", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    red = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    h = model.fit(x, y, epochs=8, callbacks=[inj, red], verbose=0)
    lrs = h.history["learning_rate"]
    # epoch 2: 2 epochs without improvement -> 0.05; cooldown 1; epoch 5 -> 0.025 ...
    assert lrs[:3] == pytest.approx([0.1, 0.1, 0.1])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert min(lrs) >= 0.02 - 1e-9
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_two_argument_form():
    x, y = data(20)
    model = make_model(lr=0.1)
    got = []

    def schedule(epoch, lr):
        got.append((epoch, lr))
        return lr * 0.5

    model.fit(x, y, epochs=3, callbacks=[callbacks.LearningRateScheduler(schedule)],
              verbose=0)
    assert [e for e, _ in got] == [0, 1, 2]
    assert [lr for _, lr in got] == pytest.approx([0.1, 0.05, 0.025])
    with pytest.raises(ValueError, match="float"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda e: "fast")])


# ---- others ---------------------------------------------------------------------------------------
def test_terminate_on_nan(capsys):
    x, y = data(40)
    y = y.copy()
    y[25] = np.nan  # batch 2 of 4 (batch_size 10, no shuffle)
    model = make_model()
    batches = []
    count = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    h = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0,
                  callbacks=[count, callbacks.TerminateOnNaN()])
    assert batches == [0, 1, 2] and h.epoch == [0]
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_csv_logger_and_append(tmp_path):
    x, y = data(20)
    model = make_model()
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0,
              callbacks=[callbacks.CSVLogger(str(path))])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "val_loss"] and [r[0] for r in rows[1:]] == ["0", "1"]
    model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0,
              callbacks=[callbacks.CSVLogger(str(path), append=True)])
    rows = list(csv.reader(open(path)))
    assert len(rows) == 4 and rows[3][0] == "0"
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.CSVLogger(str(path), separator=";")])
    assert open(path).read().splitlines()[0] == "epoch;loss"


def test_csv_logger_makes_room_for_validation_columns(tmp_path):
    x, y = data(20)
    model = make_model()
    path = tmp_path / "freq.csv"
    model.fit(x, y, epochs=2, validation_data=(x, y), validation_freq=2, verbose=0,
              callbacks=[callbacks.CSVLogger(str(path))])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "val_loss"] and rows[1][2] == "NA"


def test_lambda_callback_hooks():
    x, y = data(20)
    model = make_model()
    events = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, "loss" in logs)),
        on_train_end=lambda logs: events.append("end"))
    model.fit(x, y, epochs=2, callbacks=[cb], verbose=0)
    assert events == ["begin", ("epoch", 0, True), ("epoch", 1, True), "end"]
    with pytest.raises(TypeError, match="unknown hook"):
        callbacks.LambdaCallback(on_nothing=print)


def test_callbacks_must_be_callback_instances():
    model = make_model()
    with pytest.raises(TypeError, match="Callback instances"):
        model.fit(*data(4), callbacks=[print], verbose=0)


def test_history_plot(tmp_path, monkeypatch):
    x, y = data(20)
    model = make_model()
    h = model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0)
    try:
        import matplotlib
        matplotlib.use("Agg")
        out = tmp_path / "curves.png"
        h.plot(str(out))
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except ImportError:
        pass
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        h.plot(str(tmp_path / "x.png"))


def test_progbar_logger_output(capsys):
    x, y = data(32)
    model = make_model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch" not in out  # one epoch: no header, as Keras
    assert out.strip().startswith("4/4 ━") and "loss:" in out
    model.predict(x, batch_size=8, verbose=2)
    assert capsys.readouterr().out.startswith("4/4 - ")
