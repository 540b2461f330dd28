"""Threads: grad mode is per thread (as in PyTorch), two models trained at the same time in two
Python threads end with exactly the weights they get one after the other, and one model used
from two threads at once is refused with a clear error instead of corrupting its state."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import grebe
from grebe import layers


def _run_in_thread(fn):
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test thread
            box["error"] = e
    t = threading.Thread(target=target)
    t.start()
    return t, box


def test_no_grad_in_one_thread_does_not_switch_grad_off_in_another():
    entered, checked = threading.Event(), threading.Event()

    def hold_no_grad():
        with grebe.no_grad():
            entered.set()
            checked.wait(10)
            return grebe.is_grad_enabled()

    t, box = _run_in_thread(hold_no_grad)
    assert entered.wait(10)
    try:
        assert grebe.is_grad_enabled()
        x = grebe.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()  # records a graph although the other thread is in no_grad
        np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    finally:
        checked.set()
        t.join()
    assert box == {"value": False}
    assert grebe.is_grad_enabled()


def _model(seed):
    grebe.utils.set_random_seed(seed)
    model = grebe.Sequential([
        layers.Dense(32, activation="relu", input_shape=(12,)),
        layers.Dropout(0.2, seed=seed),          # a private generator: the same masks anywhere
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=grebe.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data(seed, n=192):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 12)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def _train(model, seed, barrier=None):
    """fit with validation and a callback that predicts between epochs; shuffle=False because
    unseeded shuffling draws from grebe's one global generator (see README, Threads)."""
    x, y = _data(seed)
    seen = []
    cb = grebe.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(model.predict(x[:16], verbose=0)))
    if barrier is not None:
        barrier.wait(10)
    history = model.fit(x[:160], y[:160], epochs=4, batch_size=16, shuffle=False, verbose=0,
                        validation_data=(x[160:], y[160:]), callbacks=[cb])
    return [w.copy() for w in model.get_weights()], history.history, np.stack(seen)


def test_two_models_in_two_threads_train_like_one_after_the_other():
    one_after_other = [_train(_model(s), s) for s in (1, 2)]

    a, b = _model(1), _model(2)
    barrier = threading.Barrier(3)
    stop = threading.Event()
    side = _model(3)
    xs = _data(3)[0]

    def predict_loop():  # a third thread in and out of no_grad the whole time
        barrier.wait(10)
        while not stop.is_set():
            with grebe.no_grad():
                side.predict(xs, verbose=0)

    t_side, box_side = _run_in_thread(predict_loop)
    t_a, box_a = _run_in_thread(lambda: _train(a, 1, barrier))
    t_b, box_b = _run_in_thread(lambda: _train(b, 2, barrier))
    t_a.join()
    stop.set()
    t_b.join()
    t_side.join()
    for box in (box_a, box_b, box_side):
        if "error" in box:
            raise box["error"]
    for (w_ref, h_ref, p_ref), box in zip(one_after_other, (box_a, box_b)):
        w, h, p = box["value"]
        for got, want in zip(w, w_ref):
            np.testing.assert_array_equal(got, want)
        assert h == h_ref
        np.testing.assert_array_equal(p, p_ref)


@pytest.mark.parametrize("call", ["fit", "predict", "evaluate", "train_on_batch",
                                  "predict_on_batch", "test_on_batch"])
def test_one_model_from_two_threads_at_once_is_refused(call):
    model = _model(4)
    x, y = _data(4, 32)
    inside, release = threading.Event(), threading.Event()

    def block(batch, logs):
        inside.set()
        release.wait(10)

    cb = grebe.callbacks.LambdaCallback(on_train_batch_end=block)
    t, box = _run_in_thread(lambda: model.fit(x, y, epochs=1, batch_size=32, verbose=0,
                                              callbacks=[cb]))
    assert inside.wait(10)
    try:
        args = {"fit": (x, y), "evaluate": (x, y), "train_on_batch": (x, y),
                "test_on_batch": (x, y)}.get(call, (x,))
        kwargs = {"verbose": 0} if call in ("fit", "predict", "evaluate") else {}
        with pytest.raises(RuntimeError, match=r"(?s)another thread.*fit"):
            getattr(model, call)(*args, **kwargs)
    finally:
        release.set()
        t.join()
    assert "error" not in box
    # Once the other thread is done, the model is free again, and a callback that predicts
    # inside fit (the same thread) is allowed.
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[grebe.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: model.predict(x, verbose=0))])
