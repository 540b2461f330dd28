"""End to end without fit: an MLP of grebe Dense layers trained with a custom loop (forward,
loss, backward, optimizer step) on scikit-learn's handwritten digits (8x8, shipped offline)
reaches >= 95% test accuracy, deterministically for a fixed seed."""
import numpy as np
import pytest

import grebe
from grebe import layers, losses, metrics, optimizers

datasets = pytest.importorskip("sklearn.datasets")


def digits():
    d = datasets.load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def train(output_activation, loss_fn, optimizer, epochs=25, batch=32, seed=0, use_step=True):
    grebe.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = digits()
    hidden = layers.Dense(64, activation="relu")
    out = layers.Dense(10, activation=output_activation)

    def model(x):
        return out(hidden(x))

    model(grebe.tensor(x_train[:1]))  # builds the weights
    weights = hidden.trainable_weights + out.trainable_weights
    onehot = loss_fn.get_config().get("name") == "categorical_crossentropy"
    rng = np.random.default_rng(seed)
    losses_seen = []
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            target = np.eye(10, dtype=np.float32)[y_train[idx]] if onehot else y_train[idx]
            loss = loss_fn(target, model(grebe.tensor(x_train[idx])))
            loss.backward()
            if use_step:
                optimizer.step(weights)
                optimizer.zero_grad()
            else:
                optimizer.apply([w.grad for w in weights], weights)
                for w in weights:
                    w.grad = None
            losses_seen.append(float(loss))
    acc = metrics.SparseCategoricalAccuracy()
    with grebe.no_grad():
        acc.update_state(y_test, model(grebe.tensor(x_test)))
    return float(acc.result()), losses_seen, [w.data.copy() for w in weights]


def test_mlp_logits_sgd_momentum():
    acc, seen, w1 = train(None, losses.SparseCategoricalCrossentropy(from_logits=True),
                          optimizers.SGD(learning_rate=0.05, momentum=0.9))
    assert np.mean(seen[-40:]) < 0.25 * np.mean(seen[:10])
    assert acc >= 0.95, f"test accuracy {acc:.3f}"
    _, _, w2 = train(None, losses.SparseCategoricalCrossentropy(from_logits=True),
                     optimizers.SGD(learning_rate=0.05, momentum=0.9))
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)  # same seed, same weights


def test_mlp_softmax_output_adam():
    acc, seen, _ = train("softmax", losses.CategoricalCrossentropy(),
                         optimizers.Adam(learning_rate=0.003), epochs=15, use_step=False)
    assert np.mean(seen[-40:]) < 0.25 * np.mean(seen[:10])
    assert acc >= 0.95, f"test accuracy {acc:.3f}"
