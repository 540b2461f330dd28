"""Model structure: Sequential, the functional API (Input, KerasTensor, shared layers, several
inputs/outputs, merging layers), subclassed models, summary, configs and clear errors.
Training is in test_fit.py, callbacks in test_callbacks.py."""
from __future__ import annotations

import numpy as np
import pytest

import grebe
from grebe import layers
from grebe.layers import Layer


# ---- a tiny layer made only of the Layer base, so these tests do not depend on Dense ---------
class Lin(Layer):
    """x @ kernel + bias (Dense without activation)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.bias = self.add_weight("bias", (self.units,), initializer="zeros")

    def call(self, x):
        return x @ self.kernel + self.bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Scale(Layer):
    """Multiplies by a constant; records the training flag it was called with."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.seen_training = []

    def call(self, x, training=None):
        self.seen_training.append(training)
        return x * self.factor

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def mse(y_true, y_pred):
    d = y_pred - y_true
    return (d * d).sum(axis=-1) * (1.0 / d.shape[-1])


def data(n=64, d=5, k=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal((d, k)) + 0.3).astype(np.float32)
    return x, y


def forward(model, x):
    return np.asarray(model(x, training=False))


# ---- Sequential ----------------------------------------------------------------------------
def test_sequential_with_input_shape_builds_at_once():
    model = grebe.Sequential([Lin(8, input_shape=(5,), name="a"), Lin(2, name="b")])
    assert model.built
    assert [la.name for la in model.layers] == ["a", "b"]
    assert [w.shape for w in model.get_weights()] == [(5, 8), (8,), (8, 2), (2,)]
    assert model.input.shape == (None, 5) and model.output.shape == (None, 2)
    assert model.count_params() == 5 * 8 + 8 + 8 * 2 + 2
    x = np.ones((3, 5), np.float32)
    manual = (x @ model.layers[0].kernel.data + model.layers[0].bias.data) @ \
        model.layers[1].kernel.data + model.layers[1].bias.data
    np.testing.assert_allclose(forward(model, x), manual, rtol=1e-6)


def test_sequential_starting_with_input_and_add_pop():
    model = grebe.Sequential(name="seq")
    model.add(grebe.Input(shape=(4,)))
    assert not model.built and model.layers == []
    model.add(Lin(3, name="h"))
    assert model.built and model.output.shape == (None, 3)
    model.add(Lin(1, name="o"))
    assert model.output.shape == (None, 1)
    popped = model.pop()
    assert popped.name == "o" and model.output.shape == (None, 3)
    assert len(model.layers[0]._inbound_nodes) == 1  # re-tracing does not pile up nodes


def test_sequential_builds_on_first_call_with_batch_none():
    model = grebe.Sequential([Lin(3), Lin(2)])
    assert not model.built and model.weights == []
    y = model(np.zeros((7, 4), np.float32))
    assert y.shape == (7, 2) and model.built
    assert model.input.shape == (None, 4)
    assert model(np.zeros((2, 4), np.float32)).shape == (2, 2)


def test_sequential_build_explicit_and_errors():
    model = grebe.Sequential([Lin(3)])
    with pytest.raises(ValueError, match="input_shape"):
        model.build()
    model.build((None, 6))
    assert model.layers[0].kernel.shape == (6, 3)
    with pytest.raises(ValueError, match="no layers"):
        grebe.Sequential().build((None, 3))


def test_unbuilt_model_errors_are_clear():
    model = grebe.Sequential([Lin(3)], name="later")
    with pytest.raises(AttributeError, match="not built"):
        model.input
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    with pytest.raises(ValueError, match="not built"):
        model.set_weights([])


def test_wrong_input_shape_names_model_and_shapes():
    model = grebe.Sequential([Lin(2, input_shape=(32, 32, 3))], name="cnn")
    with pytest.raises(ValueError) as e:
        model.predict(np.zeros((16, 28, 28, 1), np.float32), verbose=0)
    msg = str(e.value)
    assert "Sequential: expected input shape (None, 32, 32, 3), received (16, 28, 28, 1)" in msg
    assert "cnn" in msg


def test_sequential_add_errors():
    model = grebe.Sequential([Lin(2, name="same")])
    with pytest.raises(ValueError, match="unique names"):
        model.add(Lin(2, name="same"))
    with pytest.raises(TypeError, match="expected a Layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="first layer"):
        model.add(grebe.Input((3,)))


def test_sequential_rejects_multi_output_layer():
    class Two(Layer):
        def call(self, x):
            return [x, x]

        def compute_output_shape(self, s):
            return [tuple(s), tuple(s)]

    with pytest.raises(ValueError, match="one output"):
        grebe.Sequential([grebe.Input((3,)), Two()])


def test_sequential_slicing_and_feature_extractor_share_weights():
    base = grebe.Sequential([Lin(6, input_shape=(5,), name="f1"), Lin(4, name="f2"),
                             Lin(2, name="head")])
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    feat = grebe.Model(base.input, base.layers[-2].output)
    assert [la.name for la in feat.layers][1:] == ["f1", "f2"]
    sliced = grebe.Sequential(base.layers[:-1])
    expected = forward(grebe.Sequential([base.layers[0]]), x) @ base.layers[1].kernel.data + \
        base.layers[1].bias.data
    np.testing.assert_allclose(forward(feat, x), expected, rtol=1e-5)
    np.testing.assert_allclose(forward(sliced, x), expected, rtol=1e-5)
    base.layers[0].kernel.data[...] += 1.0  # shared weights: both models see the change
    np.testing.assert_allclose(forward(feat, x), forward(sliced, x), rtol=1e-5)
    assert feat.layers[1] is base.layers[0]


def test_get_layer():
    model = grebe.Sequential([Lin(3, input_shape=(2,), name="x1"), Lin(1, name="x2")])
    assert model.get_layer("x2") is model.layers[1]
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match="No such layer: 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="out of range"):
        model.get_layer(index=5)
    with pytest.raises(ValueError):
        model.get_layer()


def test_layers_attribute_is_reserved():
    class M(grebe.Model):
        def __init__(self):
            super().__init__()
            self.layers = [Lin(2)]

    with pytest.raises(AttributeError, match="reserved"):
        M()


# ---- functional API --------------------------------------------------------------------------
def test_input_is_symbolic():
    t = grebe.Input(shape=(28, 28, 1), name="img")
    assert t.shape == (None, 28, 28, 1) and t.dtype == "float32" and t.ndim == 4
    assert grebe.Input((3,), batch_size=8).shape == (8, 3)
    assert grebe.Input((3,), dtype="int32").dtype == "int32"
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(t)
    s = t + t  # operators record grebe.ops calls, as Keras's symbolic ops do
    assert s.shape == (None, 28, 28, 1) and s.dtype == "float32"
    with pytest.raises(ValueError, match="shape"):
        grebe.Input()


def test_functional_multi_input_shared_layer_and_order():
    a = grebe.Input((3,), name="a")
    b = grebe.Input((3,), name="b")
    shared = Lin(4, name="shared")
    ha, hb = shared(a), shared(b)
    joined = layers.Concatenate(name="cat")([ha, hb])
    out = Lin(1, name="out")(joined)
    model = grebe.Model([a, b], out, name="two_in")
    # Keras's order: by depth from the outputs, inputs first.
    assert [la.name for la in model.layers] == ["a", "b", "shared", "cat", "out"]
    assert len(model.weights) == 4  # the shared layer counts once
    xa = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    xb = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    k, c = shared.kernel.data, shared.bias.data
    expected = np.concatenate([xa @ k + c, xb @ k + c], axis=1) @ model.layers[-1].kernel.data
    np.testing.assert_allclose(forward(model, [xa, xb]), expected, rtol=1e-5)
    np.testing.assert_allclose(forward(model, {"a": xa, "b": xb}), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="expects 2 input"):
        model(xa)


def test_functional_multi_output_list_and_dict():
    x = grebe.Input((4,))
    h = Lin(5, name="trunk")(x)
    o1, o2 = Lin(1, name="o1")(h), Lin(3, name="o2")(h)
    m_list = grebe.Model(x, [o1, o2])
    y1, y2 = m_list(np.zeros((2, 4), np.float32))
    assert y1.shape == (2, 1) and y2.shape == (2, 3)
    assert m_list.output_names == ["o1", "o2"]
    m_dict = grebe.Model(x, {"score": o1, "probs": o2})
    out = m_dict(np.zeros((2, 4), np.float32))
    assert set(out) == {"score", "probs"} and out["probs"].shape == (2, 3)
    assert m_dict.output_names == ["probs", "score"]


def test_functional_training_flag_reaches_layers():
    x = grebe.Input((2,))
    s = Scale(name="sc")
    model = grebe.Model(x, s(x))
    model(np.ones((1, 2), np.float32), training=True)
    model(np.ones((1, 2), np.float32))
    assert s.seen_training[-2:] == [True, None]


def test_graph_disconnected_is_an_error():
    a, b = grebe.Input((2,), name="in_a"), grebe.Input((2,), name="in_b")
    out = layers.Add()([Lin(2)(a), Lin(2)(b)])
    with pytest.raises(ValueError, match="disconnected"):
        grebe.Model(a, out)


def test_model_inputs_must_be_symbolic():
    with pytest.raises(TypeError, match="symbolic"):
        grebe.Model(np.zeros(3), np.zeros(3))


def test_nested_models_as_layers():
    inner = grebe.Sequential([Lin(3, input_shape=(4,), name="in1")], name="inner")
    x = grebe.Input((4,))
    y = Lin(1, name="top")(inner(x))
    outer = grebe.Model(x, y)
    assert outer.layers[1] is inner and y.shape == (None, 1)
    assert len(outer.weights) == 4
    xs = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(forward(outer, xs), forward(inner, xs) @
                               outer.layers[2].kernel.data, rtol=1e-5)
    # an unbuilt Sequential builds when called on a symbolic input
    lazy = grebe.Sequential([Lin(2)])
    assert lazy(grebe.Input((7,))).shape == (None, 2) and lazy.built


def test_intermediate_layer_output_property():
    x = grebe.Input((3,))
    lin = Lin(2, name="mid")
    y = lin(x)
    assert lin.output is y and lin.input is x
    with pytest.raises(AttributeError, match="never been called"):
        Lin(2).output


# ---- merging layers --------------------------------------------------------------------------
@pytest.mark.parametrize("cls,fn", [
    (layers.Add, lambda a, b: a + b), (layers.Subtract, lambda a, b: a - b),
    (layers.Multiply, lambda a, b: a * b), (layers.Average, lambda a, b: (a + b) / 2),
    (layers.Maximum, np.maximum), (layers.Minimum, np.minimum)])
def test_merging_layers_values_and_gradients(cls, fn):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)).astype(np.float32)
    ta, tb = grebe.tensor(a, requires_grad=True), grebe.tensor(b, requires_grad=True)
    out = cls()([ta, tb])
    np.testing.assert_allclose(out.numpy(), fn(a, b), rtol=1e-6)
    out.sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    assert cls()([grebe.Input((4,)), grebe.Input((4,))]).shape == (None, 4)


def test_concatenate_and_merge_errors():
    a = grebe.tensor(np.ones((2, 3), np.float32))
    b = grebe.tensor(np.zeros((2, 5), np.float32))
    assert layers.Concatenate()([a, b]).shape == (2, 8)
    assert layers.concatenate([grebe.Input((2, 3)), grebe.Input((4, 3))], axis=1).shape == \
        (None, 6, 3)
    with pytest.raises(ValueError, match="match on every axis"):
        layers.Concatenate(axis=0)([grebe.Input((3,)), grebe.Input((5,))])
    with pytest.raises(ValueError, match="cannot be broadcast"):
        layers.Add()([grebe.Input((3,)), grebe.Input((5,))])
    with pytest.raises(ValueError, match="expects 2 inputs"):
        layers.Subtract()([grebe.Input((3,))] * 3)
    with pytest.raises(ValueError, match="list of tensors"):
        layers.Add()(a)


# ---- subclassing -----------------------------------------------------------------------------
class TwoLayer(grebe.Model):
    def __init__(self, hidden=6, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Lin(hidden, name="hid")
        self.scale = Scale(0.5, name="half")
        self.out = Lin(1, name="out")

    def call(self, x, training=None):
        return self.out(self.scale(self.hidden(x), training=training))


def test_subclassed_model_tracks_layers_and_weights():
    model = TwoLayer()
    assert [la.name for la in model.layers] == ["hid", "half", "out"]
    assert model.weights == [] and not model.built
    y = model(np.ones((3, 4), np.float32), training=True)
    assert y.shape == (3, 1) and model.scale.seen_training[-1] is True
    assert [w.shape for w in model.weights] == [(4, 6), (6,), (6, 1), (1,)]
    model.hidden.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_subclassed_build_and_summary(capsys):
    model = TwoLayer()
    model.build((None, 3))
    assert model.hidden.kernel.shape == (3, 6)
    model.summary()
    out = capsys.readouterr().out
    assert "hid (Lin)" in out and "Total params: 31" in out and "?" in out


def test_subclass_calling_functional_init():
    class Wrapped(grebe.Model):
        def __init__(self):
            x = grebe.Input((2,))
            super().__init__(x, Lin(3)(x))

    m = Wrapped()
    assert isinstance(m, grebe.models.Functional) and isinstance(m, Wrapped)
    assert m.output.shape == (None, 3)


# ---- summary -----------------------------------------------------------------------------------
def test_summary_sequential(capsys):
    model = grebe.Sequential([Lin(64, input_shape=(4,), name="d1"), Lin(10, name="d2")],
                             name="mlp")
    model.layers[1].trainable = False
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "mlp"' in out
    assert "Layer (type)" in out and "Output Shape" in out and "Param #" in out
    assert "d1 (Lin)" in out and "(None, 64)" in out and "320" in out
    assert "Total params: 970 (3.79 KB)" in out
    assert "Trainable params: 320 (1.25 KB)" in out
    assert "Non-trainable params: 650 (2.54 KB)" in out
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "mlp"'


def test_summary_unbuilt_and_graph(capsys):
    grebe.Sequential([Lin(3, name="u")]).summary()
    out = capsys.readouterr().out
    assert "0 (unbuilt)" in out and "Total params: 0" in out
    a, b = grebe.Input((2,), name="ga"), grebe.Input((3,), name="gb")
    grebe.Model([a, b], layers.Concatenate(name="gcat")([a, b])).summary()
    out = capsys.readouterr().out
    assert "Connected to" in out and "ga[0][0]" in out and "gb[0][0]" in out


# ---- configs -----------------------------------------------------------------------------------
CUSTOM = {"Lin": Lin, "Scale": Scale}


def test_layer_serialize_roundtrip():
    cfg = layers.serialize(Lin(3, name="ser"))
    assert cfg["class_name"] == "Lin" and cfg["config"]["units"] == 3
    again = layers.deserialize(cfg)
    assert isinstance(again, Lin) and again.name == "ser" and again.units == 3
    with pytest.raises(ValueError, match="Unknown layer class 'Nope'"):
        layers.deserialize({"class_name": "Nope", "config": {}})


def test_sequential_config_roundtrip():
    model = grebe.Sequential([Lin(4, input_shape=(3,), name="c1"), Scale(3.0, name="c2"),
                              Lin(2, name="c3")], name="cfg_seq")
    cfg = model.get_config()
    assert cfg["name"] == "cfg_seq" and cfg["layers"][0]["class_name"] == "InputLayer"
    clone = grebe.Sequential.from_config(cfg, custom_objects=CUSTOM)
    assert clone.built and [la.name for la in clone.layers] == ["c1", "c2", "c3"]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(forward(clone, x), forward(model, x), rtol=1e-6)
    import json
    json.dumps(cfg)  # plain JSON


def test_functional_config_roundtrip_with_shared_layer_and_two_outputs():
    a, b = grebe.Input((3,), name="fa"), grebe.Input((3,), name="fb")
    shared = Lin(2, name="fshared")
    s = layers.Add(name="fadd")([shared(a), shared(b)])
    out1 = Scale(2.0, name="fscale")(s, training=False)
    out2 = layers.Concatenate(name="fcat")([s, a])
    model = grebe.Model([a, b], [out1, out2], name="fgraph")
    cfg = model.get_config()
    import json
    cfg = json.loads(json.dumps(cfg))
    clone = grebe.Model.from_config(cfg, custom_objects=CUSTOM)
    assert [la.name for la in clone.layers] == [la.name for la in model.layers]
    assert clone.get_layer("fscale")  # training=False kept in the node
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((2, 2, 3)).astype(np.float32)
    for got, want in zip(clone([xa, xb]), model([xa, xb])):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    clone([xa, xb], training=True)
    assert clone.get_layer("fscale").seen_training[-1] is False


def test_nested_sequential_config_roundtrip():
    inner = grebe.Sequential([Lin(3, input_shape=(4,), name="n_in")], name="n_inner")
    x = grebe.Input((4,), name="n_x")
    model = grebe.Model(x, Lin(1, name="n_top")(inner(x)), name="n_outer")
    clone = grebe.Model.from_config(model.get_config(), custom_objects=CUSTOM)
    assert isinstance(clone.layers[1], grebe.Sequential)
    clone.set_weights(model.get_weights())
    xs = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(forward(clone, xs), forward(model, xs), rtol=1e-6)


def test_failed_add_leaves_the_model_unchanged():
    class NeedsRank3(Layer):
        def build(self, input_shape):
            if len(input_shape) != 3:
                raise ValueError(f"expected rank 3, received {input_shape}")

        def call(self, x):
            return x

    model = grebe.Sequential([Lin(2, input_shape=(3,), name="keep")])
    with pytest.raises(ValueError, match="rank 3"):
        model.add(NeedsRank3())
    assert [la.name for la in model.layers] == ["keep"] and model.output.shape == (None, 2)


def test_duplicate_layer_names_in_functional_model():
    a = grebe.Input((2,), name="dup")
    b = grebe.Input((2,), name="dup")
    with pytest.raises(ValueError, match="unique"):
        grebe.Model([a, b], layers.Add()([a, b]))


def test_layers_without_compute_output_shape_and_integer_inputs():
    class PairSum(Layer):  # two inputs, no compute_output_shape of its own
        def call(self, inputs):
            a, b = inputs
            return (a + b).sum(axis=-1, keepdims=True)

    class Lookup(grebe.Model):  # integer inputs through a subclassed model
        def __init__(self):
            super().__init__()
            self.table = Lin(3, name="table")

        def call(self, ids):
            assert ids.dtype.kind == "i"
            onehot = np.eye(4, dtype=np.float32)[np.asarray(ids.data)[:, 0]]
            return self.table(onehot)

    a, b = grebe.Input((5,)), grebe.Input((5,))
    assert PairSum()([a, b]).shape == (None, 1)
    ids = grebe.Input((1,), dtype="int32")
    out = Lookup()(ids)
    assert out.shape == (None, 3)
    model = grebe.Model(ids, out)
    assert model(np.array([[0], [3]], np.int64)).shape == (2, 3)


def test_sequential_starting_with_a_built_model_takes_its_input():
    base = grebe.Sequential([Lin(4, input_shape=(6,), name="b1")])
    model = grebe.Sequential([base, Lin(2, name="b2")])
    assert model.built and model.input.shape == (None, 6) and model.output.shape == (None, 2)
    assert len(model.weights) == 4
