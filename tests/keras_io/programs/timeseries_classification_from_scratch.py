# Adapted from keras-io examples/timeseries/timeseries_classification_from_scratch.py
# ("Timeseries classification from scratch", hfawaz). Copyright the Keras authors; licensed under
# the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes: the
# import lines (KERAS_IMPL picks grebe or Keras 3), offline stand-in data (FordA's layout with
# shorter series), fewer samples, filters and epochs; plots left out.
import os
import tempfile

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
else:
    import grebe as keras
from _standin import series

keras.utils.set_random_seed(1)
workdir = tempfile.mkdtemp()

# Stand-in for readucr(FordA_TRAIN.tsv): labels in {-1, 1}
x_train, y_train = series(512, 128, 2, seed=0)
x_test, y_test = series(128, 128, 2, seed=1)
y_train = np.where(y_train == 0, -1, 1)
y_test = np.where(y_test == 0, -1, 1)
x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
num_classes = len(np.unique(y_train))
idx = np.random.permutation(len(x_train))
x_train = x_train[idx]
y_train = y_train[idx]
y_train[y_train == -1] = 0
y_test[y_test == -1] = 0


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)
    conv1 = keras.layers.Conv1D(filters=32, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)
    conv2 = keras.layers.Conv1D(filters=32, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)
    conv3 = keras.layers.Conv1D(filters=32, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)
    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])
epochs = 4
batch_size = 32
callbacks = [
    keras.callbacks.ModelCheckpoint(os.path.join(workdir, "best_model.keras"),
                                    save_best_only=True, monitor="val_loss"),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=20,
                                      min_lr=0.0001),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, verbose=1),
]
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["sparse_categorical_accuracy"])
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, callbacks=callbacks,
                    validation_split=0.2, verbose=2)

model = keras.models.load_model(os.path.join(workdir, "best_model.keras"))
test_loss, test_acc = model.evaluate(x_test, y_test)
print("Test accuracy", test_acc)
print("Test loss", test_loss)
metric = "sparse_categorical_accuracy"
print(history.history[metric][-1], history.history["val_" + metric][-1])
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
