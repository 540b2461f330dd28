# Adapted from keras-io guides/custom_train_step_in_torch.py ("Customizing what happens in `fit()`
# with PyTorch", fchollet). Copyright the Keras authors; licensed under the Apache License,
# Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines
# (KERAS_IMPL picks grebe or Keras 3), fewer epochs; the GAN section left out (it builds
# torch tensors by hand, which only the torch backend can differentiate).
import os

import numpy as np
import torch

if os.environ.get("KERAS_IMPL") == "keras":
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    from keras import layers
else:
    import grebe as keras
    from grebe import layers
from _standin import regression

keras.utils.set_random_seed(1)
x, y = regression(1000, 32, 1)


class CustomModel(keras.Model):
    def train_step(self, data):
        # Unpack the data. Its structure depends on your model and on what you pass to `fit()`.
        x, y = data
        # Call torch.nn.Module.zero_grad() to clear the leftover gradients
        self.zero_grad()
        # Compute loss
        y_pred = self(x, training=True)  # Forward pass
        loss = self.compute_loss(y=y, y_pred=y_pred)
        # Call torch.Tensor.backward() on the loss to compute gradients for the weights.
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        # Update weights
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        # Update metrics (includes the metric that tracks the loss)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        # Return a dict mapping metric names to current value
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
history = model.fit(x, y, epochs=3, verbose=2)
assert "mae" in history.history, history.history.keys()
final_loss = history.history["loss"][-1]


# Going lower-level
class CustomModel(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)  # Forward pass
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        # Compute our own metrics
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {
            "loss": self.loss_tracker.result(),
            "mae": self.mae_metric.result(),
        }

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam")
history = model.fit(x, y, epochs=3, verbose=2)
assert history.history["loss"][-1] < history.history["loss"][0], history.history


# Supporting sample_weight & class_weight
class CustomModel(keras.Model):
    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)  # Forward pass
        loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
sw = np.random.random((1000, 1))
model.fit(x, y, sample_weight=sw, epochs=2, verbose=2)


# Providing your own evaluation step
class CustomModel(keras.Model):
    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(loss="mse", metrics=["mae"])
result = model.evaluate(x, y, return_dict=True)
assert sorted(result) == ["loss", "mae"], result
print(f"FINAL_LOSS {final_loss:.6f}")
