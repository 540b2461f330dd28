# Adapted from keras-io guides/serialization_and_saving.py ("Save, serialize, and export models",
# Neel Kovelamudi, Francois Chollet). Copyright the Keras authors; licensed under the Apache
# License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes: the import lines
# (KERAS_IMPL picks grebe or Keras 3), files in a temporary folder, the Lambda/safe_mode and
# custom save_own_variables sections left out.
import os
import tempfile

import numpy as np

if os.environ.get("KERAS_IMPL") == "keras":
    import keras
    from keras import ops
else:
    import grebe as keras
    from grebe import ops

keras.utils.set_random_seed(1)
workdir = tempfile.mkdtemp()
path = lambda name: os.path.join(workdir, name)  # noqa: E731


def get_model():
    # Create a simple model.
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


model = get_model()
# Train the model.
test_input = np.random.random((128, 32))
test_target = np.random.random((128, 1))
history = model.fit(test_input, test_target, verbose=2, epochs=3)
final_loss = history.history["loss"][-1]
# Calling `save('my_model.keras')` creates a zip archive `my_model.keras`.
model.save(path("my_model.keras"))
# It can be used to reconstruct the model identically.
reconstructed_model = keras.models.load_model(path("my_model.keras"))
# Let's check:
np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))


# Custom objects: registration
@keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


@keras.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {"factor": self.factor}


# Create the model.
def get_model():
    inputs = keras.Input(shape=(4,))
    mid = CustomLayer(0.5)(inputs)
    outputs = keras.layers.Dense(1, activation=custom_fn)(mid)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    return model


# Train the model.
def train_model(model):
    input = np.random.random((4, 4))
    target = np.random.random((4, 1))
    model.fit(input, target, verbose=0)
    return model


test_input = np.random.random((4, 4))
test_target = np.random.random((4, 1))
model = get_model()
model = train_model(model)
model.save(path("custom_model.keras"))
# Now, we can simply load without worrying about our custom objects.
reconstructed_model = keras.models.load_model(path("custom_model.keras"))
# Let's check:
np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))

# Passing custom objects to load_model()
model = get_model()
model.save(path("custom_model.keras"))
# Upon loading, pass a dict containing the custom objects used in the `custom_objects` argument
reconstructed_model = keras.models.load_model(
    path("custom_model.keras"),
    custom_objects={"CustomLayer": CustomLayer, "custom_fn": custom_fn},
)
np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))

# Using a custom object scope
model = get_model()
model.save(path("custom_model.keras"))
# Put all custom objects in a dictionary and use it as the scope
custom_objects = {"CustomLayer": CustomLayer, "custom_fn": custom_fn}
with keras.saving.custom_object_scope(custom_objects):
    reconstructed_model = keras.models.load_model(path("custom_model.keras"))
np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))

# Registered objects are listed by get_custom_objects()
print([k for k in keras.saving.get_custom_objects() if "my_package" in k or "MyLayers" in k])
assert "my_package>custom_fn" in keras.saving.get_custom_objects()
assert "MyLayers>CustomLayer" in keras.saving.get_custom_objects()

# Saving the architecture: get_config / from_config
layer = keras.layers.Dense(3, activation="relu")
layer_config = layer.get_config()
print(layer_config)
new_layer = keras.layers.Dense.from_config(layer_config)

model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
config = model.get_config()
new_model = keras.Sequential.from_config(config)

inputs = keras.Input((32,))
outputs = keras.layers.Dense(1)(inputs)
model = keras.Model(inputs, outputs)
config = model.get_config()
new_model = keras.Model.from_config(config)

# to_json() and keras.models.model_from_json()
model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
json_config = model.to_json()
new_model = keras.models.model_from_json(json_config)

# Arbitrary object serialization and deserialization
my_reg = keras.regularizers.L1(0.01)
config = keras.saving.serialize_keras_object(my_reg)
print(config)
new_reg = keras.saving.deserialize_keras_object(config)
assert type(new_reg).__name__ == "L1"
config = keras.saving.serialize_keras_object(custom_fn)
assert keras.saving.deserialize_keras_object(config) is custom_fn


# Model weights saving: transfer weights from one layer to another, in memory
def create_layer():
    layer = keras.layers.Dense(64, activation="relu", name="dense_2")
    layer.build((None, 784))
    return layer


layer_1 = create_layer()
layer_2 = create_layer()
# Copy weights from layer 1 to layer 2
layer_2.set_weights(layer_1.get_weights())


# Transfer weights from one model to another model with a compatible architecture
def create_simple_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


model = create_simple_model()


class SubclassedModel(keras.Model):
    def __init__(self, output_dim, name=None):
        super().__init__(name=name)
        self.output_dim = output_dim
        self.dense_1 = keras.layers.Dense(64, activation="relu", name="dense_1")
        self.dense_2 = keras.layers.Dense(64, activation="relu", name="dense_2")
        self.dense_3 = keras.layers.Dense(output_dim, name="predictions")

    def call(self, inputs):
        x = self.dense_1(inputs)
        x = self.dense_2(x)
        x = self.dense_3(x)
        return x

    def get_config(self):
        return {"output_dim": self.output_dim, "name": self.name}


subclassed_model = SubclassedModel(10)
# Call the subclassed model once to create the weights.
subclassed_model(np.ones((1, 784)))
# Copy weights from functional_model to subclassed_model.
subclassed_model.set_weights(model.get_weights())
for a, b in zip(model.get_weights(), subclassed_model.get_weights()):
    np.testing.assert_allclose(a, b)

# Saving weights to disk and loading them back
model = create_simple_model()
model.save_weights(path("my_model.weights.h5"))
model2 = create_simple_model()
model2.load_weights(path("my_model.weights.h5"))
for a, b in zip(model.get_weights(), model2.get_weights()):
    np.testing.assert_array_equal(a, b)

# clone_model: the same architecture, fresh weights
clone = keras.models.clone_model(model)
assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
print(f"FINAL_LOSS {final_loss:.6f}")
