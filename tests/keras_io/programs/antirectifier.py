# Adapted from keras-io examples/keras_recipes/antirectifier.py ("Simple custom layer example:
# Antirectifier", fchollet). Copyright the Keras authors; licensed under the Apache License,
# Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines
# (KERAS_IMPL picks grebe or Keras 3), offline stand-in data of MNIST's shapes, fewer samples
# and epochs.
import os

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
    from keras import layers, ops
else:
    import grebe as keras
    from grebe import layers, ops
from _standin import images

keras.utils.set_random_seed(1)


class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(output_dim * 2, output_dim),
            initializer=self.initializer,
            name="kernel",
            trainable=True,
        )

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        pos = ops.relu(inputs)
        neg = ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        mixed = ops.matmul(concatenated, self.kernel)
        return mixed

    def get_config(self):
        # Implement get_config to enable serialization. This is optional.
        base_config = super().get_config()
        config = {"initializer": keras.initializers.serialize(self.initializer)}
        return dict(list(base_config.items()) + list(config.items()))


# Training parameters
batch_size = 128
num_classes = 10
epochs = 3

# The data, split between train and test sets (stand-in for mnist.load_data())
(x_train, y_train) = images(2048, (28, 28), num_classes, seed=0)
(x_test, y_test) = images(256, (28, 28), num_classes, seed=1)
x_train = x_train.reshape(-1, 784)
x_test = x_test.reshape(-1, 784)
x_train = x_train.astype("float32")
x_test = x_test.astype("float32")
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# Build the model
model = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        layers.Dense(256),
        Antirectifier(),
        layers.Dense(256),
        Antirectifier(),
        layers.Dropout(0.5),
        layers.Dense(10),
    ]
)
# Compile the model
model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer=keras.optimizers.RMSprop(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
# Train the model
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15,
                    verbose=2)
# Test the model
score = model.evaluate(x_test, y_test)
assert score[1] > 0.5, score
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
