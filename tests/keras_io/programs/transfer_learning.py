# Adapted from keras-io guides/transfer_learning.py ("Transfer learning & fine-tuning",
# fchollet). Copyright the Keras authors; licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines (KERAS_IMPL picks grebe
# or Keras 3); offline stand-in data (cats-vs-dogs shapes, smaller images); the ImageNet Xception
# base replaced by a small convolutional base pre-trained here on a stand-in source task.
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

layer = keras.layers.Dense(3)
layer.build((None, 4))  # Create the weights
print("weights:", len(layer.weights))
print("trainable_weights:", len(layer.trainable_weights))
print("non_trainable_weights:", len(layer.non_trainable_weights))

layer = keras.layers.BatchNormalization()
layer.build((None, 4))  # Create the weights
print("weights:", len(layer.weights))
print("trainable_weights:", len(layer.trainable_weights))
print("non_trainable_weights:", len(layer.non_trainable_weights))
assert (len(layer.weights), len(layer.trainable_weights)) == (4, 2)

layer = keras.layers.Dense(3)
layer.build((None, 4))  # Create the weights
layer.trainable = False  # Freeze the layer
assert len(layer.trainable_weights) == 0 and len(layer.non_trainable_weights) == 2

# Make a model with 2 layers
layer1 = keras.layers.Dense(3, activation="relu")
layer2 = keras.layers.Dense(3, activation="sigmoid")
model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])
# Freeze the first layer
layer1.trainable = False
# Keep a copy of the weights of layer1 for later reference
initial_layer1_weights_values = layer1.get_weights()
# Train the model
model.compile(optimizer="adam", loss="mse")
model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)
# Check that the weights of layer1 have not changed during training
final_layer1_weights_values = layer1.get_weights()
np.testing.assert_allclose(initial_layer1_weights_values[0], final_layer1_weights_values[0])
np.testing.assert_allclose(initial_layer1_weights_values[1], final_layer1_weights_values[1])

# Recursive setting of the trainable attribute
inner_model = keras.Sequential([
    keras.Input(shape=(3,)),
    keras.layers.Dense(3, activation="relu"),
    keras.layers.Dense(3, activation="relu"),
])
model = keras.Sequential([keras.Input(shape=(3,)), inner_model, keras.layers.Dense(3, activation="sigmoid")])
model.trainable = False  # Freeze the outer model
assert inner_model.trainable == False  # noqa: E712  All layers in `model` are now frozen
assert inner_model.layers[0].trainable == False  # noqa: E712  `trainable` is propagated

# (stand-in for keras.applications.Xception(weights="imagenet")): a small conv base trained on a
# 10-class source task
source_x, source_y = images(512, (64, 64, 3), 10, seed=5)
base_model = keras.Sequential([
    keras.Input(shape=(64, 64, 3)),
    layers.Conv2D(16, 3, strides=2, activation="relu"),
    layers.BatchNormalization(),
    layers.Conv2D(32, 3, strides=2, activation="relu"),
], name="base")
pretrain = keras.Sequential([base_model, layers.GlobalAveragePooling2D(), layers.Dense(10)])
pretrain.compile(optimizer="adam",
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
pretrain.fit(source_x, source_y, batch_size=64, epochs=2, verbose=0)

# The typical transfer-learning workflow, on a cats-vs-dogs-shaped stand-in
train_x, train_y = images(512, (64, 64, 3), 2, seed=6)
train_x = train_x * 255.0
validation = images(128, (64, 64, 3), 2, seed=7)
validation = (validation[0] * 255.0, validation[1])

data_augmentation_layers = [
    layers.RandomFlip("horizontal"),
    layers.RandomRotation(0.1),
]


def data_augmentation(x):
    for layer in data_augmentation_layers:
        x = layer(x)
    return x


# Freeze the base_model
base_model.trainable = False
# Create new model on top
inputs = keras.Input(shape=(64, 64, 3))
x = data_augmentation(inputs)  # Apply random data augmentation
# Pre-trained weights require that input be scaled from (0, 255) to a range of (-1., +1.)
scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
x = scale_layer(x)
# The base model contains batchnorm layers. We want to keep them in inference mode when we
# unfreeze the base model for fine-tuning, so we make sure that the base_model is running in
# inference mode here.
x = base_model(x, training=False)
x = keras.layers.GlobalAveragePooling2D()(x)
x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
outputs = keras.layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model.summary(show_trainable=True)

model.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.BinaryCrossentropy(from_logits=True),
    metrics=[keras.metrics.BinaryAccuracy()],
)
epochs = 2
print("Fitting the top layer of the model")
frozen = [w.copy() for w in base_model.get_weights()]
model.fit(train_x, train_y, epochs=epochs, batch_size=64, validation_data=validation, verbose=2)
for a, b in zip(frozen, base_model.get_weights()):
    np.testing.assert_array_equal(a, b)

# Do a round of fine-tuning of the entire model
base_model.trainable = True
model.summary(show_trainable=True)
model.compile(
    optimizer=keras.optimizers.Adam(1e-5),  # Low learning rate
    loss=keras.losses.BinaryCrossentropy(from_logits=True),
    metrics=[keras.metrics.BinaryAccuracy()],
)
epochs = 1
print("Fitting the end-to-end model")
history = model.fit(train_x, train_y, epochs=epochs, batch_size=64, validation_data=validation,
                    verbose=2)
# The batch-norm statistics stay frozen (the base runs with training=False)
np.testing.assert_array_equal(frozen[4], base_model.layers[1].get_weights()[2])
print("Test dataset evaluation")
model.evaluate(*validation, verbose=2)
print(f"FINAL_LOSS {history.history['loss'][-1]:.6f}")
