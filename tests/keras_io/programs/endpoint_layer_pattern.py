# Adapted from keras-io examples/keras_recipes/endpoint_layer_pattern.py ("Endpoint layer
# pattern", fchollet). Copyright the Keras authors; licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks grebe
# or Keras 3), fewer samples and epochs.
import os

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
    from keras import ops
else:
    import grebe as keras
    from grebe import ops

keras.utils.set_random_seed(1)


class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            # Compute the training-time loss value and add it to the layer using
            # `self.add_loss()`.
            loss = self.loss_fn(targets, logits, sample_weight)
            self.add_loss(loss)
        # Return the inference-time prediction tensor (for `.predict()`).
        return ops.softmax(logits)


inputs = keras.Input((764,), name="inputs")
logits = keras.layers.Dense(1)(inputs)
targets = keras.Input((1,), name="targets")
sample_weight = keras.Input((1,), name="sample_weight")
preds = LogisticEndpoint()(logits, targets, sample_weight)
model = keras.Model([inputs, targets, sample_weight], preds)

rng = np.random.default_rng(0)
data = {
    "inputs": rng.random((1000, 764)),
    "targets": rng.random((1000, 1)),
    "sample_weight": rng.random((1000, 1)),
}
model.compile(keras.optimizers.Adam(1e-3))
history = model.fit(data, epochs=2, verbose=2)
assert history.history["loss"][-1] < history.history["loss"][0], history.history

# Exporting an inference-only model: simply don't include targets
inputs = keras.Input((764,), name="inputs")
logits = keras.layers.Dense(1)(inputs)
preds = LogisticEndpoint()(logits, targets=None, sample_weight=None)
inference_model = keras.Model(inputs, preds)
inference_model.set_weights(model.get_weights()[:2])
print(inference_model.predict(rng.random((1000, 764)))[:3])
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
