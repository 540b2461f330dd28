# Adapted from keras-io guides/intro_to_keras_for_engineers.py ("Introduction to Keras for
# engineers", fchollet). Copyright the Keras authors; licensed under the Apache License, Version
# 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks
# grebe or Keras 3), offline stand-in data of MNIST's shapes, fewer samples and epochs.
import os
import tempfile

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
    from keras import layers
else:
    import grebe as keras
    from grebe import layers
from _standin import images

keras.utils.set_random_seed(1)
workdir = tempfile.mkdtemp()

# Load the data and split it between train and test sets
x_train, y_train = images(1024, (28, 28), 10, seed=0)
x_test, y_test = images(256, (28, 28), 10, seed=1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)

# Model parameters
num_classes = 10
input_shape = (28, 28, 1)

model = keras.Sequential(
    [
        keras.layers.Input(shape=input_shape),
        keras.layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()

model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(),
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
    metrics=[
        keras.metrics.SparseCategoricalAccuracy(name="acc"),
    ],
)

batch_size = 128
epochs = 4

callbacks = [
    keras.callbacks.ModelCheckpoint(filepath=os.path.join(workdir, "model_at_epoch_{epoch}.keras")),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=2),
]

history = model.fit(
    x_train,
    y_train,
    batch_size=batch_size,
    epochs=epochs,
    validation_split=0.15,
    callbacks=callbacks,
    verbose=2,
)
score = model.evaluate(x_test, y_test, verbose=0)
print("evaluate:", score)
assert "acc" in history.history and "val_acc" in history.history, history.history.keys()

model.save(os.path.join(workdir, "final_model.keras"))
model = keras.saving.load_model(os.path.join(workdir, "final_model.keras"))
predictions = model.predict(x_test)
assert predictions.shape == (256, 10)


# Writing cross-framework custom components: a layer with add_weight and keras.ops
class MyDense(keras.layers.Layer):
    def __init__(self, units, activation=None, name=None):
        super().__init__(name=name)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.w = self.add_weight(
            shape=(input_dim, self.units),
            initializer=keras.initializers.GlorotNormal(),
            name="kernel",
            trainable=True,
        )
        self.b = self.add_weight(
            shape=(self.units,),
            initializer=keras.initializers.Zeros(),
            name="bias",
            trainable=True,
        )

    def call(self, inputs):
        # Use Keras ops to create backend-agnostic layers/metrics/etc.
        x = keras.ops.matmul(inputs, self.w) + self.b
        return self.activation(x)


class MyDropout(keras.layers.Layer):
    def __init__(self, rate, name=None):
        super().__init__(name=name)
        self.rate = rate
        # Use seed_generator for managing RNG state.
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        # Use `keras.random` for random ops.
        return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)


class MyModel(keras.Model):
    def __init__(self, num_classes):
        super().__init__()
        self.conv_base = keras.Sequential(
            [
                keras.layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
                keras.layers.MaxPooling2D(pool_size=(2, 2)),
                keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
            ]
        )
        self.dp = MyDropout(0.5)
        self.dense = MyDense(num_classes, activation="softmax")

    def call(self, x):
        x = self.conv_base(x)
        x = self.dp(x)
        return self.dense(x)


model = MyModel(num_classes=10)
model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(),
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
)
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=2, validation_split=0.15,
                    verbose=2)
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
