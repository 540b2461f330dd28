# Adapted from keras-io guides/writing_a_custom_training_loop_in_torch.py ("Writing a training
# loop from scratch in PyTorch", fchollet). Copyright the Keras authors; licensed under the Apache
# License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines
# (KERAS_IMPL picks grebe or Keras 3), offline stand-in data of MNIST's shapes, fewer samples and
# epochs; the plain-torch-module section left out.
import os

import numpy as np
import torch

if os.environ.get("KERAS_IMPL") == "keras":
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    from keras import layers, ops
else:
    import grebe as keras
    from grebe import layers, ops
from _standin import images

keras.utils.set_random_seed(1)


def get_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


batch_size = 32
(x_train, y_train) = images(1024, (784,), 10, seed=0)
(x_test, y_test) = images(256, (784,), 10, seed=1)
x_val = x_train[-256:]
y_val = y_train[-256:]
x_train = x_train[:-256]
y_train = y_train[:-256]

# Create TensorDatasets
train_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
val_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val))
# Create DataLoaders for the Datasets
train_dataloader = torch.utils.data.DataLoader(train_dataset, batch_size=batch_size, shuffle=True)
val_dataloader = torch.utils.data.DataLoader(val_dataset, batch_size=batch_size, shuffle=False)

# Instantiate a Keras optimizer and a Keras loss
model = get_model()
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
train_acc_metric = keras.metrics.CategoricalAccuracy()
val_acc_metric = keras.metrics.CategoricalAccuracy()

epochs = 3
for epoch in range(epochs):
    for step, (inputs, targets) in enumerate(train_dataloader):
        # Forward pass
        logits = model(inputs, training=True)
        loss = loss_fn(ops.one_hot(targets, 10), logits)
        # Backward pass
        model.zero_grad()
        trainable_weights = [v for v in model.trainable_weights]
        # Call torch.Tensor.backward() on the loss to compute gradients for the weights.
        loss.backward()
        gradients = [v.value.grad for v in trainable_weights]
        # Update weights
        with torch.no_grad():
            optimizer.apply(gradients, trainable_weights)
        # Update training metric.
        train_acc_metric.update_state(ops.one_hot(targets, 10), logits)
        if step % 10 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss.detach().numpy()):.4f}")
    # Display metrics at the end of each epoch.
    train_acc = train_acc_metric.result()
    print(f"Training acc over epoch: {float(train_acc):.4f}")
    # Reset training metrics at the end of each epoch
    train_acc_metric.reset_state()
    # Run a validation loop at the end of each epoch.
    for x_batch_val, y_batch_val in val_dataloader:
        val_logits = model(x_batch_val, training=False)
        val_acc_metric.update_state(ops.one_hot(y_batch_val, 10), val_logits)
    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(f"Validation acc: {float(val_acc):.4f}")
assert float(val_acc) > 0.5, float(val_acc)


# Low-level handling of losses tracked by the model
class ActivityRegularizationLayer(keras.layers.Layer):
    def call(self, inputs):
        self.add_loss(1e-2 * ops.sum(inputs))
        return inputs


inputs = keras.Input(shape=(784,), name="digits")
x = keras.layers.Dense(64, activation="relu")(inputs)
# Insert activity regularization as a layer
x = ActivityRegularizationLayer()(x)
x = keras.layers.Dense(64, activation="relu")(x)
outputs = keras.layers.Dense(10, name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs)
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
for epoch in range(2):
    total = 0.0
    for step, (inputs, targets) in enumerate(train_dataloader):
        logits = model(inputs, training=True)
        loss = loss_fn(ops.one_hot(targets, 10), logits)
        if model.losses:
            loss = loss + ops.sum(ops.stack(model.losses))
        model.zero_grad()
        loss.backward()
        trainable_weights = [v for v in model.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            optimizer.apply(gradients, trainable_weights)
        total += float(loss.detach().numpy())
    print(f"epoch {epoch}: mean loss {total / (step + 1):.4f}")
print(f"FINAL_LOSS {total / (step + 1):.6f}")
