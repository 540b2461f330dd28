"""Training: compile/fit/evaluate/predict and *_on_batch on Sequential, functional and subclassed
models; data as arrays, lists/dicts, generators and grebe.data loaders; validation_split,
sample/class weights, frozen layers, determinism across thread counts, clear errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import grebe
from grebe import layers
from test_models import Lin, Scale, TwoLayer, data, forward, mse


class MeanAbs:
    """A minimal Keras-protocol metric (update_state/result/reset_state) on numpy arrays."""

    def __init__(self, name="mean_abs"):
        self.name = name
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        assert isinstance(y_pred, np.ndarray)  # metrics run on numpy, outside the graph
        self.total += float(np.abs(y_pred - y_true).sum())
        self.count += y_pred.size

    def result(self):
        return self.total / self.count

    def reset_state(self):
        self.total, self.count = 0.0, 0


def sgd(lr=0.05):
    return grebe.optimizers.SGD(learning_rate=lr)


def linear_model(d=5, k=1, name=None):
    return grebe.Sequential([Lin(k, input_shape=(d,))], name=name)


def per_sample_mse(model, x, y):
    p = forward(model, x).astype(np.float64)
    return ((p - y) ** 2).mean(axis=-1)


# ---- the basics ------------------------------------------------------------------------------
def test_fit_reduces_loss_and_history_contents():
    x, y = data(128)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse, metrics=[MeanAbs()])
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert history is model.history
    assert set(history.history) == {"loss", "mean_abs"}
    assert history.epoch == [0, 1, 2, 3]
    assert history.params == {"verbose": 0, "epochs": 4, "steps": 8}
    losses = history.history["loss"]
    assert all(isinstance(v, float) for v in losses) and len(losses) == 4
    assert losses[-1] < 0.1 * losses[0]


def test_evaluate_return_forms():
    x, y = data(50)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    loss = model.evaluate(x, y, verbose=0, batch_size=7)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, per_sample_mse(model, x, y).mean(), rtol=1e-5)
    model.compile(optimizer=sgd(), loss=mse, metrics=[MeanAbs("mabs")])
    out = model.evaluate(x, y, verbose=0)
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[0], loss, rtol=1e-6)
    np.testing.assert_allclose(out[1], np.abs(forward(model, x) - y).mean(), rtol=1e-5)
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "mabs"] and d["loss"] == out[0]
    assert model.metrics_names == ["loss", "mabs"]


def test_evaluate_sample_weight_is_sum_over_batch_size():
    x, y = data(40)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    w = np.linspace(0, 2, 40).astype(np.float32)
    got = model.evaluate(x, y, sample_weight=w, batch_size=40, verbose=0)
    np.testing.assert_allclose(got, (per_sample_mse(model, x, y) * w).mean(), rtol=1e-5)


def test_predict_is_numpy_without_graph_or_weight_change():
    x, _ = data(70)
    model = linear_model()
    before = model.get_weights()
    out = model.predict(x, batch_size=32, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (70, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, forward(model, x), rtol=1e-6)
    assert all(w.grad is None for w in model.weights)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_predict_from_generator_and_multi_output():
    x, _ = data(20)
    inp = grebe.Input((5,))
    model = grebe.Model(inp, [Lin(1)(inp), Lin(2)(inp)])
    a, b = model.predict(x, verbose=0)
    assert a.shape == (20, 1) and b.shape == (20, 2)
    gen = (x[i:i + 6] for i in range(0, 20, 6))
    a2, b2 = model.predict(gen, verbose=0)
    np.testing.assert_allclose(a2, a, rtol=1e-6)
    np.testing.assert_allclose(b2, b, rtol=1e-6)


def test_on_batch_methods():
    x, y = data(16)
    model = linear_model()
    model.compile(optimizer=sgd(0.1), loss=mse, metrics=[MeanAbs()])
    before = model.evaluate(x, y, verbose=0)[0]
    out = model.train_on_batch(x, y)
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[0], before, rtol=1e-5)  # the loss before the update
    after = model.test_on_batch(x, y, return_dict=True)
    assert set(after) == {"loss", "mean_abs"} and after["loss"] < before
    p = model.predict_on_batch(x)
    assert isinstance(p, np.ndarray) and p.shape == (16, 1)


def test_compile_by_names_with_grebe_optimizers():
    x, y = data(32)
    model = linear_model()
    model.compile(optimizer="sgd", loss=mse)
    assert isinstance(model.optimizer, grebe.optimizers.SGD)
    model.compile(optimizer="adam", loss=mse, run_eagerly=True, jit_compile=False)
    assert isinstance(model.optimizer, grebe.optimizers.Adam)
    model.fit(x, y, epochs=1, verbose=0)
    cfg = model.get_compile_config()
    assert cfg["loss"] is mse and cfg["optimizer"] is model.optimizer


# ---- validation ------------------------------------------------------------------------------
def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y = data(100)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    seen = []

    def capture(y_true, y_pred):
        seen.append(np.array(y_true, copy=True))
        return mse(y_true, y_pred)

    model.compile(optimizer=sgd(), loss=capture)
    history = model.fit(x, y, epochs=1, batch_size=10, validation_split=0.2, verbose=0)
    train_rows = np.concatenate(seen[:8])
    val_rows = np.concatenate(seen[8:])
    assert len(train_rows) == 80 and len(val_rows) == 20
    np.testing.assert_array_equal(val_rows, y[80:])  # the last 20%, in order
    assert sorted(train_rows[:, 0].tolist()) == sorted(y[:80, 0].tolist())  # shuffled
    model.compile(optimizer=sgd(), loss=mse)
    np.testing.assert_allclose(history.history["val_loss"][0],
                               model.evaluate(x[80:], y[80:], verbose=0), rtol=1e-5)


def test_validation_split_warns_on_classes_missing_from_training():
    x = np.random.default_rng(0).standard_normal((100, 5)).astype(np.float32)
    y = np.repeat(np.arange(5), 20)  # sorted by class: the last 20% is class 4 only

    def loss(y_true, y_pred):
        return (y_pred * 0.0).sum(axis=-1)

    model = linear_model()
    model.compile(optimizer=sgd(), loss=loss)
    with pytest.warns(UserWarning, match=r"classes \[4\]"):
        model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    perm = np.random.default_rng(1).permutation(100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x[perm], y[perm], epochs=1, validation_split=0.2, verbose=0)


def test_validation_data_freq_and_batch_size():
    x, y = data(60)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse, metrics=[MeanAbs()])
    h = model.fit(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=4, verbose=0,
                  validation_freq=2, validation_batch_size=3)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2
    assert "val_mean_abs" in h.history
    h = model.fit(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=3, verbose=0,
                  validation_freq=[1, 3])
    assert len(h.history["val_loss"]) == 2


def test_validation_split_errors():
    x, y = data(10)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="arrays only"):
        model.fit(iter([(x, y)]), validation_split=0.5, verbose=0)


# ---- data sources ----------------------------------------------------------------------------
def test_fit_on_generator_and_sample_weight_tuples():
    x, y = data(64)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    w0 = model.get_weights()

    def gen():
        for i in range(0, 64, 16):
            yield x[i:i + 16], y[i:i + 16]

    h = model.fit(gen(), epochs=1, verbose=0)
    assert h.params["steps"] is None and len(h.history["loss"]) == 1

    # (x, y, sample_weight) batches; equal to arrays with shuffle=False
    model_b = linear_model()
    model_b.set_weights(w0)
    model_b.compile(optimizer=sgd(), loss=mse)
    sw = np.ones(64, np.float32)
    model_b.fit(((x[i:i + 16], y[i:i + 16], sw[i:i + 16]) for i in range(0, 64, 16)),
                verbose=0)
    for a, b in zip(model.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    model_c = linear_model()
    model_c.set_weights(w0)
    model_c.compile(optimizer=sgd(), loss=mse)
    model_c.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    for a, c in zip(model.get_weights(), model_c.get_weights()):
        np.testing.assert_array_equal(a, c)


def test_generator_with_steps_per_epoch_runs_across_epochs():
    x, y = data(64)
    batches = []

    def gen():
        i = 0
        while True:
            batches.append(i)
            yield x[i % 64:i % 64 + 8], y[i % 64:i % 64 + 8]
            i += 8

    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    h = model.fit(gen(), steps_per_epoch=3, epochs=4, verbose=0)
    assert len(h.history["loss"]) == 4 and len(batches) == 12
    assert h.params["steps"] == 3


def test_generator_running_dry_warns_and_stops():
    x, y = data(32)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    gen = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))  # 4 batches in all
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(gen, steps_per_epoch=3, epochs=5, verbose=0)
    assert len(h.history["loss"]) == 2


def test_fit_on_grebe_data_loader_and_pydataset():
    x, y = data(50)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    loader = grebe.data.DataLoader(x, y, batch_size=8, shuffle=True)
    h = model.fit(loader, epochs=3, verbose=0, validation_data=grebe.data.DataLoader(x, y))
    assert h.params["steps"] == 7 and len(h.history["val_loss"]) == 3

    class Seq:  # Keras PyDataset protocol: __len__, __getitem__, on_epoch_end
        def __init__(self):
            self.ends = 0

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

        def on_epoch_end(self):
            self.ends += 1

    s = Seq()
    h = model.fit(s, epochs=2, verbose=0)
    assert h.params["steps"] == 5 and s.ends == 2
    assert model.evaluate(s, verbose=0) > 0


def test_y_with_generator_is_an_error():
    x, y = data(8)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    with pytest.raises(ValueError, match="y must not be given"):
        model.fit(iter([(x, y)]), y, verbose=0)


# ---- several inputs and outputs ----------------------------------------------------------------
def test_functional_multi_input_fit_with_list_and_dict():
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((64, 3)).astype(np.float32)
    xb = rng.standard_normal((64, 2)).astype(np.float32)
    y = (xa.sum(1, keepdims=True) - xb[:, :1]).astype(np.float32)
    a, b = grebe.Input((3,), name="xa"), grebe.Input((2,), name="xb")
    out = Lin(1)(layers.Concatenate()([Lin(4)(a), Lin(4)(b)]))
    model = grebe.Model([a, b], out)
    model.compile(optimizer=sgd(0.05), loss=mse)
    h = model.fit([xa, xb], y, epochs=10, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    by_list = model.evaluate([xa, xb], y, verbose=0)
    by_dict = model.evaluate({"xa": xa, "xb": xb}, y, verbose=0)
    np.testing.assert_allclose(by_list, by_dict, rtol=1e-6)
    assert model.predict({"xa": xa, "xb": xb}, verbose=0).shape == (64, 1)


def test_multi_output_losses_weights_and_log_names():
    x, y = data(48, k=2)
    inp = grebe.Input((5,))
    h = Lin(4, name="trunk")(inp)
    model = grebe.Model(inp, [Lin(2, name="reg")(h), Lin(2, name="aux")(h)])
    model.compile(optimizer=sgd(0.02), loss=[mse, mse], loss_weights=[1.0, 0.5],
                  metrics=[MeanAbs()])
    hist = model.fit(x, [y, -y], epochs=2, batch_size=16, verbose=0)
    assert set(hist.history) == {"loss", "reg_loss", "aux_loss", "reg_mean_abs",
                                 "aux_mean_abs"}
    d = model.evaluate(x, [y, -y], verbose=0, return_dict=True)
    np.testing.assert_allclose(d["loss"], d["reg_loss"] + 0.5 * d["aux_loss"], rtol=1e-5)
    pa, pb = model.predict(x, verbose=0)
    np.testing.assert_allclose(d["aux_loss"], ((pb + y) ** 2).mean(), rtol=1e-4)
    lst = model.evaluate(x, [y, -y], verbose=0)  # Keras's order: losses, then metrics
    assert lst == [d[k] for k in ("loss", "reg_loss", "aux_loss", "reg_mean_abs",
                                  "aux_mean_abs")]
    # losses by output name; an output without a loss is ignored
    model.compile(optimizer=sgd(0.02), loss={"reg": mse})
    only = model.evaluate(x, {"reg": y}, verbose=0)
    np.testing.assert_allclose(only, ((pa - y) ** 2).mean(), rtol=1e-4)
    with pytest.raises(ValueError, match="not output names"):
        model.compile(optimizer="sgd", loss={"nope": mse})
        model.evaluate(x, [y, y], verbose=0)


def test_subclassed_model_fit():
    x, y = data(64, d=4)
    model = TwoLayer()
    model.compile(optimizer=sgd(0.05), loss=mse)
    h = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.scale.seen_training[-1] is True
    model.predict(x, verbose=0)
    assert model.scale.seen_training[-1] is False
    assert True in model.scale.seen_training


# ---- what gets updated -----------------------------------------------------------------------
def test_frozen_layers_do_not_change():
    x, y = data(64)
    model = grebe.Sequential([Lin(6, input_shape=(5,), name="frozen"), Lin(1, name="free")])
    model.layers[0].trainable = False
    frozen_before = model.layers[0].get_weights()
    free_before = model.layers[1].get_weights()
    model.compile(optimizer=sgd(), loss=mse)
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen_before, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b)
               for a, b in zip(free_before, model.layers[1].get_weights()))
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_whole_model_frozen_gives_no_update():
    x, y = data(16)
    model = linear_model()
    model.trainable = False
    before = model.get_weights()
    model.compile(optimizer=sgd(), loss=mse)
    model.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_regularization_losses_join_the_loss():
    x, y = data(32)

    class RegLin(Lin):
        def build(self, input_shape):
            self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                          regularizer=grebe.regularizers.L2(0.1))
            self.bias = self.add_weight("bias", (self.units,), initializer="zeros")

    model = grebe.Sequential([RegLin(1, input_shape=(5,))])
    model.compile(optimizer=sgd(), loss=mse)
    plain = per_sample_mse(model, x, y).mean()
    penalty = 0.1 * float((model.layers[0].kernel.data.astype(np.float64) ** 2).sum())
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=32, verbose=0),
                               plain + penalty, rtol=1e-5)


def test_class_weight_equals_sample_weight():
    x, _ = data(40)
    labels = (np.arange(40) % 3).astype(np.int64)
    y = np.eye(3, dtype=np.float32)[labels]
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    w0 = None
    results = []
    for kw in ({"class_weight": cw},
               {"sample_weight": np.array([cw[c] for c in labels], np.float32)}):
        model = grebe.Sequential([Lin(3, input_shape=(5,))])
        if w0 is None:
            w0 = model.get_weights()
        model.set_weights(w0)
        model.compile(optimizer=sgd(), loss=mse)
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0, **kw)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    model.compile(optimizer=sgd(), loss=mse)
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, class_weight=cw, sample_weight=np.ones(40), verbose=0)


def _train_once(threads):
    grebe.set_num_threads(threads)
    grebe.random.seed(123)
    x, y = data(512, d=96, k=2, seed=3)
    # Big enough for the GEMMs to use both threads.
    model = grebe.Sequential([Lin(256, input_shape=(96,)), Scale(0.7), Lin(2)])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss=mse)
    model.fit(x, y, epochs=2, batch_size=128, validation_split=0.25, verbose=0)
    return model.get_weights()


def test_same_seed_gives_bitwise_equal_weights_for_1_and_2_threads():
    previous = grebe.get_num_threads()
    try:
        one = _train_once(1)
        two = _train_once(2)
        again = _train_once(2)
    finally:
        grebe.set_num_threads(previous)
    for a, b, c in zip(one, two, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)


def test_shuffle_uses_grebe_random():
    x, y = data(64)
    order = []

    def capture(y_true, y_pred):
        order.append(np.array(y_true[:, 0], copy=True))
        return mse(y_true, y_pred)

    runs = []
    for _ in range(2):
        order.clear()
        grebe.random.seed(7)
        model = linear_model()
        model.compile(optimizer=sgd(), loss=capture)
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        runs.append([o.copy() for o in order])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert not np.array_equal(runs[0][0], runs[0][1])  # a new order each epoch


def test_initial_epoch_and_epochs_as_final_epoch():
    x, y = data(16)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    h = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4]


# ---- errors -------------------------------------------------------------------------------------
def test_length_mismatch_message():
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    x, y = data(100)
    with pytest.raises(ValueError, match="fit: x has 100 samples but y has 90"):
        model.fit(x, y[:90], verbose=0)
    with pytest.raises(ValueError, match="evaluate: x has 100 samples but sample_weight has 3"):
        model.evaluate(x, y, sample_weight=np.ones(3), verbose=0)


def test_fit_before_compile():
    model = linear_model(name="raw")
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(*data(4), verbose=0)


def test_bad_batch_size_and_verbose():
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(*data(4), batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(*data(4), verbose=3)


# ---- progress output ----------------------------------------------------------------------------
def test_verbose_modes(capsys):
    x, y = data(32)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse, metrics=[MeanAbs()])
    model.fit(x, y, epochs=2, batch_size=16, verbose=1, validation_split=0.5)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "1/1" in out and "/step" in out and "loss:" in out and "val_loss:" in out
    model.fit(x, y, epochs=1, batch_size=16, verbose=2)
    out = capsys.readouterr().out
    assert out.startswith("2/2 - ") and "/step - " in out and "mean_abs:" in out
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(x, y)  # verbose='auto' shows a bar, as Keras does
    assert "loss:" in capsys.readouterr().out


def test_fit_on_grebe_dataset_and_torch_dataloader():
    x, y = data(48)
    model = linear_model()
    model.compile(optimizer=sgd(), loss=mse)
    ds = grebe.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=0).batch(16)
    h = model.fit(ds, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x, dtype=torch.float64),
                                       torch.tensor(y)), batch_size=16)
    h = model.fit(loader, epochs=2, verbose=0)  # lists of float64 torch tensors
    assert h.params["steps"] == 3
    assert model.predict(loader, verbose=0).shape == (48, 1)
