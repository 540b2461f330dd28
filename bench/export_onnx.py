"""Seed CNN inference: grebe vs ONNX Runtime running grebe's own ONNX export, one process.

    pip install onnx onnxruntime && python bench/export_onnx.py [--batch 64 1] [--repeats 7]

The model of DESIGN.md section 2 (random weights) is exported with model.export(format="onnx")
and run by ONNX Runtime's CPU provider (all graph optimizations, intra-op threads = grebe's
threads). Prints median images/s and the ratio grebe/ONNX Runtime (> 1: grebe faster), after
checking that both give the same probabilities.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _seed_cnn import grebe_seed_cnn  # noqa: E402  (bench/_seed_cnn.py)
from _timing import median_times  # noqa: E402  (bench/_timing.py)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[64, 1])
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()

    import onnxruntime as ort

    import grebe

    grebe.utils.set_random_seed(0)
    model = grebe_seed_cnn()
    path = os.path.join(tempfile.mkdtemp(), "seed_cnn.onnx")
    model.export(path, format="onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = grebe.get_num_threads()
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    print(f"seed CNN inference, {grebe.get_num_threads()} threads, grebe isa "
          f"{grebe._C.active_isa()}, onnxruntime {ort.__version__}")
    for batch in args.batch:
        x = np.random.default_rng(0).standard_normal((batch, 32, 32, 3)).astype(np.float32)
        diff = np.abs(sess.run(None, {name: x})[0] - model.predict(x, verbose=0)).max()
        fns = {"grebe": lambda: model.predict_on_batch(x),
               "onnxruntime": lambda: sess.run(None, {name: x})}
        t = median_times(fns, args.repeats, 0.5, 0.05)
        print(f"  batch {batch:4d}: grebe {batch / t['grebe']:9.0f} img/s   onnxruntime "
              f"{batch / t['onnxruntime']:9.0f} img/s   ratio {t['onnxruntime'] / t['grebe']:.2f}x"
              f"   (max |difference| {diff:.1e})")


if __name__ == "__main__":
    main()
