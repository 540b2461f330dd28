# Adapted from keras-io examples/timeseries/timeseries_weather_forecasting.py ("Timeseries
# forecasting for weather prediction", Prabhanshu Attri, Yashika Sharma, Kristi Takach, Falak
# Shah). Copyright the Keras authors; licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks grebe
# or Keras 3); an offline stand-in for the Jena climate table (7 smooth noisy features); windows
# cut with numpy instead of timeseries_dataset_from_array (a tf.data helper); fewer samples and
# epochs; plots left out.
import os
import tempfile

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
else:
    import grebe as keras

keras.utils.set_random_seed(1)
workdir = tempfile.mkdtemp()

# Stand-in for the selected Jena climate features (pressure, temperature, ...), hourly
rng = np.random.default_rng(0)
n_rows = 3000
t = np.arange(n_rows)[:, None]
features = np.sin(2 * np.pi * t / (24 * np.array([1, 1.3, 2.1, 0.7, 3.0, 1.7, 5.0]))) + \
    0.1 * rng.standard_normal((n_rows, 7))


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


split_fraction = 0.715
train_split = int(split_fraction * n_rows)
step = 6
past = 720
future = 72
batch_size = 64
epochs = 3
features = normalize(features, train_split)


def windows(data, targets, start, stop, sequence_length=past // step):
    """(samples, 120, 7) windows sampled every `step` rows, and the temperature `future` rows
    after each window's end."""
    xs, ys = [], []
    for i in range(start, stop - past - future, 8):
        xs.append(data[i:i + past:step])
        ys.append(targets[i + past + future])
    return np.asarray(xs, "float32"), np.asarray(ys, "float32")[:, None]


x_train, y_train = windows(features, features[:, 1], 0, train_split)
x_val, y_val = windows(features, features[:, 1], train_split, n_rows)
print("Input shape:", x_train.shape)
print("Target shape:", y_train.shape)

inputs = keras.layers.Input(shape=(x_train.shape[1], x_train.shape[2]))
lstm_out = keras.layers.LSTM(32)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
model.summary()

path_checkpoint = os.path.join(workdir, "model_checkpoint.weights.h5")
es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
modelckpt_callback = keras.callbacks.ModelCheckpoint(
    monitor="val_loss",
    filepath=path_checkpoint,
    verbose=1,
    save_weights_only=True,
    save_best_only=True,
)
history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                    validation_data=(x_val, y_val),
                    callbacks=[es_callback, modelckpt_callback], verbose=2)
model.load_weights(path_checkpoint)
prediction = model.predict(x_val[:5])
print(prediction.ravel(), y_val[:5].ravel())
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
