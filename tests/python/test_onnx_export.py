"""ONNX export: every exported model runs in ONNX Runtime and matches grebe's predict to 1e-5,
for batch sizes 1 and 4 (the batch dimension is dynamic), over a matrix of layers; a layer
without a mapping raises an error naming it."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import grebe
from grebe import layers as L

ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "softplus",
               "softsign", "swish", "silu", "gelu", "relu6", "leaky_relu", "hard_sigmoid",
               "log_softmax", "exponential", "mish"]


def _randomize_bn(model, rng):
    for la in model._flat_layers():
        if isinstance(la, L.BatchNormalization):
            w = la.get_weights()
            la.set_weights([rng.uniform(0.5, 1.5, a.shape).astype(np.float32) if i != 2 else
                            rng.normal(0, 0.3, a.shape).astype(np.float32)
                            for i, a in enumerate(w)])


def check(model, x_fn, tmp_path, atol=1e-5):
    rng = np.random.default_rng(0)
    _randomize_bn(model, rng)
    path = model.export(str(tmp_path / "m.onnx"), format="onnx")
    proto = onnx.load(path)
    assert proto.opset_import[0].version >= 17
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        xs = x_fn(rng, batch)
        xs = xs if isinstance(xs, list) else [xs]
        feed = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
        got = sess.run(None, feed)[0]
        want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)


def img(shape):
    return lambda rng, n: rng.normal(size=(n,) + shape).astype(np.float32)


def tokens(t, vocab):
    return lambda rng, n: rng.integers(0, vocab, (n, t)).astype(np.int32)


def seq(*layers_, inp):
    grebe.utils.set_random_seed(1)
    return grebe.Sequential([grebe.Input(inp[0], dtype=inp[1] if len(inp) > 1 else
                                         "float32")] + list(layers_))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_activations(activation, tmp_path):
    check(seq(L.Dense(6, activation=activation), inp=((5,),)), img((5,)), tmp_path)


CASES = {
    "conv2d_valid_relu": (lambda: seq(L.Conv2D(4, 3, activation="relu"), inp=((9, 9, 3),)),
                          img((9, 9, 3))),
    "conv2d_same_strided": (lambda: seq(L.Conv2D(5, 3, strides=2, padding="same"),
                                        inp=((9, 8, 2),)), img((9, 8, 2))),
    "conv2d_dilated_groups": (lambda: seq(L.Conv2D(4, 3, dilation_rate=2, groups=2),
                                          inp=((10, 10, 4),)), img((10, 10, 4))),
    "conv1d_same_causal": (lambda: seq(L.Conv1D(4, 3, padding="same"),
                                       L.Conv1D(3, 2, padding="causal", dilation_rate=2),
                                       inp=((11, 3),)), img((11, 3))),
    "pool2d_max_avg": (lambda: seq(L.MaxPooling2D(2), L.AveragePooling2D(2, padding="same"),
                                   inp=((9, 9, 3),)), img((9, 9, 3))),
    "pool1d_max_avg": (lambda: seq(L.MaxPooling1D(3, strides=2), L.AveragePooling1D(2),
                                   inp=((13, 2),)), img((13, 2))),
    "global_pools": (lambda: seq(L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Reshape((2, 2)),
                                 L.GlobalMaxPooling1D(), inp=((7, 7, 2),)), img((7, 7, 2))),
    "batchnorm_dropout": (lambda: seq(L.Conv2D(4, 3), L.BatchNormalization(), L.Dropout(0.5),
                                      L.Activation("relu"), L.Flatten(), L.Dense(3),
                                      inp=((6, 6, 2),)), img((6, 6, 2))),
    "reshape_padding_rescaling": (lambda: seq(L.Rescaling(0.5, offset=0.1),
                                              L.ZeroPadding2D(((1, 2), (0, 1))),
                                              L.Flatten(), L.Reshape((-1, 3)),
                                              inp=((4, 4, 3),)), img((4, 4, 3))),
    "embedding_lstm": (lambda: seq(L.Embedding(20, 6), L.LSTM(5, return_sequences=True),
                                   L.LSTM(4), inp=((7,), "int32")), tokens(7, 20)),
    "gru_reset_after_both": (lambda: seq(L.GRU(5, return_sequences=True),
                                         L.GRU(4, reset_after=False), inp=((6, 3),)),
                             img((6, 3))),
    "simple_rnn": (lambda: seq(L.SimpleRNN(5, return_sequences=True), L.SimpleRNN(3),
                               inp=((6, 3),)), img((6, 3))),
    "bidirectional_concat_sum": (lambda: seq(L.Bidirectional(L.LSTM(4, return_sequences=True)),
                                             L.Bidirectional(L.GRU(3), merge_mode="sum"),
                                             inp=((5, 3),)), img((5, 3))),
    "bidirectional_ave_mul": (lambda: seq(L.Bidirectional(L.SimpleRNN(4, return_sequences=True),
                                                          merge_mode="ave"),
                                          L.Bidirectional(L.LSTM(3), merge_mode="mul"),
                                          inp=((5, 3),)), img((5, 3))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matrix(case, tmp_path):
    build, x_fn = CASES[case]
    check(build(), x_fn, tmp_path)


def test_functional_merges_and_nested_model(tmp_path):
    grebe.utils.set_random_seed(2)
    inner_in = grebe.Input((4,))
    inner = grebe.Model(inner_in, L.Dense(4, activation="tanh")(inner_in), name="inner")
    a, b = grebe.Input((4,)), grebe.Input((4,))
    da, db = L.Dense(4)(a), inner(b)
    merged = [L.Add()([da, db]), L.Subtract()([da, db]), L.Multiply()([da, db]),
              L.Average()([da, db]), L.Maximum()([da, db]), L.Minimum()([da, db])]
    out = L.Dense(2, activation="softmax")(L.Concatenate()(merged))
    model = grebe.Model([a, b], out)
    check(model, lambda rng, n: [rng.normal(size=(n, 4)).astype(np.float32) for _ in "ab"],
          tmp_path)


def test_unsupported_layers_are_named(tmp_path):
    class Doubler(L.Layer):
        def call(self, x):
            return x * 2.0

    m = grebe.Sequential([grebe.Input((3,)), L.Dense(2), Doubler(name="doubler")])
    with pytest.raises(ValueError, match="layer 'doubler' \\(Doubler\\) has no ONNX mapping"):
        m.export(str(tmp_path / "m.onnx"), format="onnx")
    masked = grebe.Sequential([grebe.Input((4,), dtype="int32"),
                               L.Embedding(5, 2, mask_zero=True, name="emb"), L.LSTM(2)])
    with pytest.raises(ValueError, match="emb: mask_zero=True"):
        masked.export(str(tmp_path / "m.onnx"), format="onnx")
    with pytest.raises(ValueError, match="format='onnx'"):
        m.export(str(tmp_path / "m"))
    assert not (tmp_path / "m.onnx").exists()  # nothing half-written
