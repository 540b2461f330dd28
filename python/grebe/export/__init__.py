"""Exporting grebe models to other runtimes: ONNX (`model.export(path, format="onnx")`)."""
