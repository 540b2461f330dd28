"""The seed CNN of DESIGN.md section 2 (32x32x3 -> 10 classes) in grebe, for the benches that
time something other than its training (explain.py, export_onnx.py)."""


def grebe_seed_cnn():
    import grebe
    from grebe import layers as L

    return grebe.Sequential([
        L.Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(32, 32, 3)),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax")])
