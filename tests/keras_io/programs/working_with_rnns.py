# Adapted from keras-io guides/working_with_rnns.py ("Working with RNNs", Scott Zhu, Francois
# Chollet). Copyright the Keras authors; licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks grebe
# or Keras 3), offline stand-in data of MNIST's shapes, fewer samples; the nested-cell section
# left out.
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

model = keras.Sequential()
# Add an Embedding layer expecting input vocab of size 1000, and output embedding dimension 64.
model.add(layers.Embedding(input_dim=1000, output_dim=64))
# Add a LSTM layer with 128 internal units.
model.add(layers.LSTM(128))
# Add a Dense layer with 10 units.
model.add(layers.Dense(10))
model.build((None, 20))
model.summary()

model = keras.Sequential()
model.add(layers.Embedding(input_dim=1000, output_dim=64))
# The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
model.add(layers.GRU(256, return_sequences=True))
# The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
model.add(layers.SimpleRNN(128))
model.add(layers.Dense(10))
model.build((None, 20))
model.summary()

# Returning states: an encoder-decoder
encoder_vocab = 1000
decoder_vocab = 2000
encoder_input = layers.Input(shape=(None,))
encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
# Return states in addition to output
output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
encoder_state = [state_h, state_c]
decoder_input = layers.Input(shape=(None,))
decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
# Pass the 2 states to a new LSTM layer, as initial state
decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
output = layers.Dense(10)(decoder_output)
model = keras.Model([encoder_input, decoder_input], output)
model.summary()
y = model.predict([np.random.randint(0, 1000, (4, 7)), np.random.randint(0, 2000, (4, 5))])
assert y.shape == (4, 10)

# Bidirectional RNNs
model = keras.Sequential()
model.add(keras.Input(shape=(5, 10)))
model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True)))
model.add(layers.Bidirectional(layers.LSTM(32)))
model.add(layers.Dense(10))
model.summary()

# Performance optimization: MNIST rows as sequences
batch_size = 64
input_dim = 28
units = 64
output_size = 10


def build_model(allow_cudnn_kernel=True):
    if allow_cudnn_kernel:
        lstm_layer = keras.layers.LSTM(units)
    else:
        # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
        lstm_layer = keras.layers.RNN(keras.layers.LSTMCell(units))
    model = keras.models.Sequential([
        keras.Input(shape=(None, input_dim)),
        lstm_layer,
        keras.layers.BatchNormalization(),
        keras.layers.Dense(output_size),
    ])
    return model


(x_train, y_train) = images(1024, (28, 28), 10, seed=0)
(x_test, y_test) = images(256, (28, 28), 10, seed=1)
sample, sample_label = x_train[0], y_train[0]
model = build_model(allow_cudnn_kernel=True)
model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              optimizer="sgd", metrics=["accuracy"])
history = model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size,
                    epochs=2, verbose=2)
final_loss = history.history["loss"][-1]

noncudnn_model = build_model(allow_cudnn_kernel=False)
noncudnn_model.set_weights(model.get_weights())
noncudnn_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       optimizer="sgd", metrics=["accuracy"])
noncudnn_model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size,
                   epochs=1, verbose=2)
result = model.predict(np.expand_dims(sample, 0))
print("Predicted result is: %s, target result is: %s" % (result.argmax(), sample_label))
print(f"FINAL_LOSS {final_loss:.6f}")
