"""Training cases that tests/python/test_distribution*.py run twice: in one process (in pytest)
and as a data-parallel job (`mpirun -n 2 python run.py CASE OUT`), then compare.

Every case builds its model and data from a fixed seed, so both runs start from the same
weights (rank 0's are broadcast anyway) and see the same shuffles.
"""
from __future__ import annotations

import os

import numpy as np


def _data(n, shape, classes=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape).astype(np.float32)
    if classes is None:
        y = (x.reshape(n, -1)[:, :3].sum(1, keepdims=True) * 0.5).astype(np.float32)
    else:
        y = rng.integers(0, classes, n)
    return x, y


def mlp():
    """Dense layers, Adam, accuracy, validation data; 101 samples in global batches of 32 (the
    last batch, 5 samples, splits 3/2)."""
    import grebe
    from grebe import layers as L

    grebe.utils.set_random_seed(1)
    x, y = _data(101, (12,), classes=3)
    xv, yv = _data(37, (12,), classes=3, seed=1)
    model = grebe.Sequential([L.Input((12,)), L.Dense(16, activation="relu"),
                              L.Dense(3, activation="softmax")])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit = dict(x=x, y=y, batch_size=32, epochs=3, validation_data=(xv, yv),
               validation_batch_size=16, verbose=0)
    return model, fit, (xv, yv)


def cnn():
    """The seed CNN's layers (DESIGN.md section 2) on 16x16x3 images, Adam, batch 16."""
    import grebe
    from grebe import layers as L

    grebe.utils.set_random_seed(2)
    x, y = _data(40, (16, 16, 3), classes=10, seed=2)
    model = grebe.Sequential([
        L.Input((16, 16, 3)),
        L.Conv2D(32, kernel_size=(3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, kernel_size=(3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, dict(x=x, y=y, batch_size=16, epochs=2, verbose=0), (x[:24], y[:24])


def gru():
    """A GRU regression model with Adam, 45 sequences in global batches of 16."""
    import grebe
    from grebe import layers as L

    grebe.utils.set_random_seed(3)
    x, y = _data(45, (7, 5), seed=3)
    model = grebe.Sequential([L.Input((7, 5)), L.GRU(12), L.Dense(1)])
    model.compile(optimizer=grebe.optimizers.Adam(0.005), loss="mse", metrics=["mae"])
    return model, dict(x=x, y=y, batch_size=16, epochs=3, verbose=0), (x, y)


def tiny_last():
    """33 samples in batches of 32: the last global batch has 1 sample, so rank 1's part is
    empty (it only joins the gradient sum)."""
    import grebe
    from grebe import layers as L

    grebe.utils.set_random_seed(4)
    x, y = _data(33, (6,), seed=4)
    model = grebe.Sequential([L.Input((6,)), L.Dense(8, activation="tanh"), L.Dense(1)])
    model.compile(optimizer=grebe.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model, dict(x=x, y=y, batch_size=32, epochs=3, verbose=0), (x[:5], y[:5])


def batchnorm():
    """BatchNormalization: each rank normalizes its own part (as PyTorch DDP without SyncBN),
    so only rank-to-rank identity is checked; the moving statistics are averaged."""
    import grebe
    from grebe import layers as L

    grebe.utils.set_random_seed(5)
    x, y = _data(64, (6,), classes=2, seed=5)
    model = grebe.Sequential([L.Input((6,)), L.Dense(8), L.BatchNormalization(),
                              L.Activation("relu"), L.Dropout(0.3),
                              L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model, dict(x=x, y=y, batch_size=16, epochs=2, verbose=0), (x, y)


def callbacks(out_dir, rank):
    """ModelCheckpoint, CSVLogger, model.save (rank 0 only) and EarlyStopping (on the
    reduced val_loss: the same epoch everywhere); files go to out_dir/r<rank>/ so that a
    write by rank 1 would show."""
    import grebe

    model, fit, _ = mlp()
    folder = os.path.join(out_dir, f"r{rank}")
    os.makedirs(folder, exist_ok=True)
    fit = dict(fit, epochs=12, callbacks=[
        grebe.callbacks.ModelCheckpoint(os.path.join(folder, "ckpt-{epoch}.weights.h5"),
                                        save_weights_only=True),
        grebe.callbacks.CSVLogger(os.path.join(folder, "log.csv")),
        grebe.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.02)])
    return model, fit, None


class Batches:
    """A Keras PyDataset-style dataset (__len__, __getitem__) of (x, y) global batches."""

    def __init__(self, x, y, batch):
        self.x, self.y, self.batch = x, y, batch

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, i):
        s = slice(i * self.batch, (i + 1) * self.batch)
        return self.x[s], self.y[s]


def dataset():
    """The MLP fed by a dataset of batches: every rank reads the same global batches and keeps
    its part of each (50 samples, batches of 16: the last, 2 samples, splits 1/1)."""
    model, fit, _ = mlp()
    x, y = fit["x"][:50], fit["y"][:50]
    fit = dict(x=Batches(x, y, 16), epochs=3, verbose=0)
    return model, fit, (Batches(x[:21], y[:21], 8),)


def custom_step(summed=True):
    """A custom train_step (Keras's pattern) that calls grebe.distribution.backward(model, loss)
    in place of loss.backward(): 64 samples in batches of 16 (even parts); its logs dict is
    averaged over the ranks."""
    import grebe
    from grebe import layers as L

    class CustomStep(grebe.Sequential):
        def train_step(self, data):
            x, y = data
            with grebe.enable_grad():
                loss = self.compute_loss(x, y, self(x, training=True))
            if summed:
                grebe.distribution.backward(self, loss)
            else:
                self.zero_grad()
                loss.backward()
            self.optimizer.apply([w.grad for w in self.trainable_weights],
                                 self.trainable_weights)
            return {"loss": float(loss.data)}

    grebe.utils.set_random_seed(6)
    x, y = _data(64, (5,), seed=6)
    model = CustomStep([L.Input((5,)), L.Dense(8, activation="relu"), L.Dense(1)])
    model.compile(optimizer=grebe.optimizers.Adam(0.01), loss="mse")
    return model, dict(x=x, y=y, batch_size=16, epochs=2, verbose=0), None


CASES = {"mlp": mlp, "dataset": dataset, "custom_step": custom_step, "cnn": cnn, "gru": gru, "tiny_last": tiny_last, "batchnorm": batchnorm}


def run(name, out_dir=None, rank=0):
    """fit, evaluate, predict; returns weights, history, evaluate's logs and predictions."""
    if name == "callbacks":
        model, fit, test = callbacks(out_dir, rank)
    else:
        model, fit, test = CASES[name]()
    history = model.fit(**fit).history
    result = {"weights": model.get_weights(), "history": history,
              "opt_iterations": model.optimizer.iterations}
    if test is not None:
        batch = None if len(test) == 1 else 8
        result["evaluate"] = model.evaluate(*test, batch_size=batch, verbose=0,
                                            return_dict=True)
        result["predict"] = model.predict(test[0], batch_size=batch, verbose=0)
    if name == "callbacks":
        model.save(os.path.join(out_dir, f"r{rank}", "final.grebe"))
    return result
