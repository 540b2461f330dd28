# Adapted from keras-io examples/vision/mnist_convnet.py ("Simple MNIST convnet", fchollet).
# Copyright the Keras authors; licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks grebe
# or Keras 3), offline stand-in data of MNIST's shapes, fewer samples and epochs.
import os

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
    from keras import layers
else:
    import grebe as keras
    from grebe import layers
from _standin import images

keras.utils.set_random_seed(1)

# Model / data parameters
num_classes = 10
input_shape = (28, 28, 1)

# Load the data and split it between train and test sets (stand-in for mnist.load_data())
x_train, y_train = images(1024, (28, 28), num_classes, seed=0)
x_test, y_test = images(256, (28, 28), num_classes, seed=1)

# Scale images to the [0, 1] range (already are); make sure images have shape (28, 28, 1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()

batch_size = 128
epochs = 3
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
                    verbose=2)

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
assert score[1] > 0.3, score  # chance is 0.1
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
