# Adapted from keras-io examples/nlp/bidirectional_lstm_imdb.py ("Bidirectional LSTM on IMDB",
# fchollet). Copyright the Keras authors; licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks
# grebe or Keras 3), offline stand-in data of the IMDB shapes (shorter reviews), fewer samples
# and epochs.
import os

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
    from keras import layers
else:
    import grebe as keras
    from grebe import layers
from _standin import tokens

keras.utils.set_random_seed(1)

max_features = 20000  # Only consider the top 20k words
maxlen = 50  # Only consider the first 50 words of each movie review (200 in the original)

# Input for variable-length sequences of integers
inputs = keras.Input(shape=(None,), dtype="int32")
# Embed each integer in a 128-dimensional vector
x = layers.Embedding(max_features, 128)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(64))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

# Stand-in for keras.datasets.imdb.load_data(num_words=max_features)
x_train, y_train = tokens(512, 80, max_features, 2, seed=0, pad=False)
x_val, y_val = tokens(128, 80, max_features, 2, seed=1, pad=False)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
# Use pad_sequence to standardize sequence length: this will truncate sequences longer than
# maxlen and pad shorter ones with zeros.
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val),
                    verbose=2)
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
