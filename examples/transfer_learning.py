"""Transfer learning that pays: a CNN trained elsewhere on many printed digits gives its base to a
classifier of real handwritten digits that sees only 5, 10 or 20 labels per class.

1. Source task, large: digits 0-9 printed in the fonts matplotlib ships (DejaVu, STIX, Computer
   Modern: regular, bold, italic, mono, serif), drawn by Pillow with random size, rotation,
   stroke width, shear and position, bent by an elastic distortion (Simard et al. 2003: printed
   strokes start to look written), then reduced to 8x8 and scaled back up exactly as
   grebe.datasets.digits prepares scikit-learn's scans — so the two tasks share an input domain.
2. A base CNN learns them. With real Keras 3 installed (PyTorch backend) Keras trains it and saves
   `base.keras`; grebe loads that file (grebe.load_model reads Keras archives). Without Keras,
   grebe trains it.
3. Target task, scarce: scikit-learn's real handwritten digits with 5 / 10 / 20 labels per
   class. Three ways, each averaged over 3 seeds, tested on all test scans:
   frozen base + new head; the same, then every layer fine-tuned at a small learning rate; the
   same architecture from scratch.
4. The fine-tuned model is exported to ONNX and checked against ONNX Runtime (when installed).

    pip install ".[data]" pillow [keras torch onnx onnxruntime]
    python examples/transfer_learning.py [--labels 5 10 20] [--seeds 3] [--trainer auto]
"""
from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import grebe
from grebe import layers
from grebe.datasets import digits

SIZE = 16  # model input: 16x16x1, digits upsampled from 8x8 like the loader does


# ---- 1. the source data: printed digits ------------------------------------------------------

def font_files() -> list:
    import matplotlib

    folder = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    names = [f for f in sorted(os.listdir(folder)) if f.endswith(".ttf") and
             (f.startswith("DejaVu") and "Display" not in f or f.startswith("STIXGeneral") or
              f in ("cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf"))]
    return [os.path.join(folder, f) for f in names]


def to_digits_domain(img32: np.ndarray) -> np.ndarray:
    """32x32 in [0, 1] -> what grebe.datasets.digits gives: 8x8 block counts (as the UCI scans
    were made), /16 levels, scaled back up to SIZE x SIZE with the loader's bilinear matrix."""
    small = np.round(img32.reshape(8, 4, 8, 4).mean(axis=(1, 3)) * 16) / 16
    r = digits.resize_matrix(8, SIZE)
    return (r @ small @ r.T).astype(np.float32)


def distort(img: np.ndarray, rng) -> np.ndarray:
    """A random shear and an elastic distortion (a smoothed random displacement field)."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    shear = rng.uniform(-0.3, 0.3)
    dx = gaussian_filter(rng.uniform(-1, 1, (32, 32)), 4.0) * 25.0 + shear * (yy - 16)
    dy = gaussian_filter(rng.uniform(-1, 1, (32, 32)), 4.0) * 25.0
    return map_coordinates(img, [yy + dy, xx + dx], order=1, mode="constant").astype(np.float32)


def printed_digits(n_per_class: int, seed: int):
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = font_files()
    xs, ys = [], []
    for label in range(10):
        for _ in range(n_per_class):
            font = ImageFont.truetype(fonts[rng.integers(len(fonts))], int(rng.integers(22, 31)))
            canvas = Image.new("L", (48, 48), 0)
            ImageDraw.Draw(canvas).text((24, 24), str(label), fill=255, font=font, anchor="mm",
                                        stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
            canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR)
            box = np.asarray(canvas, np.float32) / 255.0
            rows, cols = np.flatnonzero(box.max(1) > 0.1), np.flatnonzero(box.max(0) > 0.1)
            crop = box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            # stretch the digit's box to nearly fill 32x32, as the UCI scans were normalized
            h, w = crop.shape
            th = int(rng.integers(27, 33))
            tw = int(min(32, max(6, round(w * th / h * rng.uniform(0.8, 1.3)))))
            img = Image.fromarray((crop * 255).astype(np.uint8)).resize((tw, th), Image.BILINEAR)
            out = np.zeros((32, 32), np.float32)
            a = np.asarray(img, np.float32) / 255.0
            top = int(rng.integers(0, 33 - a.shape[0]))
            left = int(rng.integers(0, 33 - a.shape[1]))
            out[top:top + a.shape[0], left:left + a.shape[1]] = a
            xs.append(to_digits_domain(distort(out, rng)))
            ys.append(label)
    order = rng.permutation(len(xs))
    return np.stack(xs)[order, :, :, None], np.array(ys)[order]


# ---- 2. the base CNN, trained by Keras (saved as .keras) or by grebe -------------------------

def architecture(lib):
    """The same layers in Keras or grebe (`lib` is the keras or grebe module)."""
    L = lib.layers
    return lib.Sequential([
        lib.Input((SIZE, SIZE, 1)),
        L.Conv2D(32, (3, 3), activation="relu", name="conv1"),
        L.MaxPooling2D((2, 2), name="pool1"),
        L.Conv2D(64, (3, 3), activation="relu", name="conv2"),
        L.MaxPooling2D((2, 2), name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(64, activation="relu", name="features"),
        L.Dense(10, activation="softmax", name="printed_head"),
    ])


def train_base(x, y, epochs, trainer, path) -> str:
    """Trains the base on the printed digits and saves it as a Keras archive at `path`."""
    if trainer == "auto":
        try:
            os.environ.setdefault("KERAS_BACKEND", "torch")
            import keras  # noqa: F401
            trainer = "keras"
        except ImportError:
            trainer = "grebe"
    if trainer == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        keras.utils.set_random_seed(0)
        model = architecture(keras)
    else:
        grebe.utils.set_random_seed(0)
        model = architecture(grebe)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    model.save(path)  # a .keras archive either way
    return trainer


# ---- 3. the target task with few labels ------------------------------------------------------

def few_labels(x, y, per_class: int, rng):
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in range(10)])
    return x[idx], y[idx]


def transfer_model(base_path: str):
    """The Keras-trained base (every layer but its head) under a new head, base frozen."""
    base = grebe.load_model(base_path, compile=False)
    model = grebe.Sequential([grebe.Input((SIZE, SIZE, 1))] + base.layers[:-1] +
                             [layers.Dense(10, activation="softmax", name="head")])
    for layer in model.layers[:-2]:   # the convolutional base; features and head train
        layer.trainable = False
    return model


def fit(model, x, y, lr, epochs):
    model.compile(optimizer=grebe.optimizers.Adam(learning_rate=lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)


def run_target(base_path, x, y, xt, yt, per_class, seed, epochs):
    rng = np.random.default_rng(seed)
    xf, yf = few_labels(x, y, per_class, rng)
    grebe.utils.set_random_seed(seed)
    model = transfer_model(base_path)
    fit(model, xf, yf, 1e-3, epochs)
    frozen = model.evaluate(xt, yt, verbose=0)[1]
    for layer in model.layers:
        layer.trainable = True
    fit(model, xf, yf, 1e-4, epochs // 2)
    tuned = model.evaluate(xt, yt, verbose=0)[1]
    grebe.utils.set_random_seed(seed + 100)
    scratch = architecture(grebe)
    fit(scratch, xf, yf, 1e-3, epochs + epochs // 2)  # as many steps as both stages together
    return frozen, tuned, scratch.evaluate(xt, yt, verbose=0)[1], model


def export_check(model, x, path) -> str:
    try:
        import onnxruntime as ort
    except ImportError:
        return "ONNX export: skipped (pip install onnx onnxruntime)"
    model.export(path, format="onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    diff = float(np.abs(got - model.predict(x, verbose=0)).max())
    return f"ONNX export: {os.path.basename(path)}, ONNX Runtime matches grebe to {diff:.1e}"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--source-per-class", type=int, default=1000)
    p.add_argument("--source-epochs", type=int, default=8)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--trainer", choices=["auto", "keras", "grebe"], default="auto")
    p.add_argument("--out-dir", default=None)
    args = p.parse_args(argv)

    out_dir = args.out_dir or tempfile.mkdtemp()
    os.makedirs(out_dir, exist_ok=True)
    xs, ys = printed_digits(args.source_per_class, seed=0)
    base_path = os.path.join(out_dir, "base.keras")
    trainer = train_base(xs, ys, args.source_epochs, args.trainer, base_path)
    (x, y), (xt, yt) = digits.load_data(size=SIZE, channels=1, seed=0)
    src_acc = grebe.load_model(base_path).evaluate(xt, yt, verbose=0)[1]
    print(f"source: {len(xs)} printed digits in {len(font_files())} fonts; base CNN trained by "
          f"{trainer}, saved as {os.path.basename(base_path)}; on the real scans without any "
          f"of their labels it scores {src_acc:.3f}")
    results = {}
    print(f"target: scikit-learn's handwritten digits, test on {len(xt)} scans, mean of "
          f"{args.seeds} seeds")
    print("  labels/class   frozen base + head   + fine-tuned   from scratch")
    last = None
    for per_class in args.labels:
        runs = [run_target(base_path, x, y, xt, yt, per_class, s, args.epochs)
                for s in range(args.seeds)]
        mean = np.mean([r[:3] for r in runs], axis=0)
        results[per_class] = dict(zip(("frozen", "finetuned", "scratch"), map(float, mean)))
        print(f"  {per_class:12d}   {mean[0]:18.3f}   {mean[1]:12.3f}   {mean[2]:12.3f}")
        last = runs[0][3]
    print(export_check(last, xt[:8], os.path.join(out_dir, "finetuned.onnx")))
    return {"trainer": trainer, "source_zero_shot": float(src_acc), "results": results}


if __name__ == "__main__":
    main()
