"""Integrated Gradients on the seed CNN: grebe.explain vs Captum (PyTorch), one process.

    pip install captum && python bench/explain.py [--images 64] [--steps 50] [--repeats 5]

Both explain the same model with the same weights (the seed CNN of DESIGN.md section 2, trained
for two epochs on scikit-learn's digits in grebe, copied into an NCHW PyTorch twin): IG with 50
trapezoid steps, baseline zeros, target = the predicted class, 64 images of 32x32x3. Captum runs
all steps as one batch (internal_batch_size = images * steps, its fastest setting here) and
grebe in its default chunks. Prints median seconds, images/s, the ratio grebe/Captum (> 1: grebe
faster) and the relative L2 difference of the two attribution maps. They agree to float
precision except where a 2x2 max-pool window holds equal values (near the zero baseline every
window does), where grebe and PyTorch route the gradient to different elements of the tie.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _seed_cnn import grebe_seed_cnn  # noqa: E402  (bench/_seed_cnn.py)
from _timing import median_times  # noqa: E402  (bench/_timing.py)


def trained_grebe_cnn(x, y):
    import grebe

    grebe.utils.set_random_seed(0)
    model = grebe_seed_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    return model


def torch_twin(model):
    import torch
    from torch import nn

    c1, c2, d1, d2 = [la for la in model.layers if la.get_weights()]
    net = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2304, 128),
                        nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))
    with torch.no_grad():
        for conv, la in ((net[0], c1), (net[3], c2)):
            k, b = la.get_weights()
            conv.weight.copy_(torch.tensor(k).permute(3, 2, 0, 1))
            conv.bias.copy_(torch.tensor(b))
        k, b = d1.get_weights()   # grebe flattens (h, w, c); torch (c, h, w): permute the rows
        k = k.reshape(6, 6, 64, 128).transpose(2, 0, 1, 3).reshape(2304, 128)
        net[7].weight.copy_(torch.tensor(k.T))
        net[7].bias.copy_(torch.tensor(b))
        k, b = d2.get_weights()
        net[9].weight.copy_(torch.tensor(k.T))
        net[9].bias.copy_(torch.tensor(b))
    return net.eval()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    import torch
    from captum.attr import IntegratedGradients

    import grebe
    from grebe import explain
    from grebe.datasets import digits

    if args.threads:
        grebe.set_num_threads(args.threads)
    torch.set_num_threads(grebe.get_num_threads())
    (x, y), (xt, _) = digits.load_data(size=32, channels=3, seed=0)
    model = trained_grebe_cnn(x, y)
    net = torch_twin(model)
    xs = xt[:args.images]
    target = model.predict(xs, verbose=0).argmax(axis=1)
    xs_t = torch.tensor(xs).permute(0, 3, 1, 2).contiguous()
    ig = IntegratedGradients(net)
    n = args.images * args.steps

    def run_grebe():
        return explain.integrated_gradients(model, xs, target, steps=args.steps)

    def run_captum():
        return ig.attribute(xs_t, target=torch.tensor(target), n_steps=args.steps,
                            method="riemann_trapezoid", internal_batch_size=n)

    a = run_grebe()
    b = run_captum().permute(0, 2, 3, 1).detach().numpy()
    diff = float(np.linalg.norm(a - b) / (np.linalg.norm(b) + 1e-12))
    t = median_times({"grebe": run_grebe, "captum": run_captum}, args.repeats, 1.0, 0.05)
    print(f"Integrated Gradients, seed CNN, {args.images} images x {args.steps} steps, "
          f"{grebe.get_num_threads()} threads (isa {grebe._C.active_isa()})")
    for k in ("grebe", "captum"):
        print(f"  {k:7s} {t[k] * 1e3:8.1f} ms   {args.images / t[k]:7.1f} images/s")
    print(f"  ratio grebe/captum: {t['captum'] / t['grebe']:.2f}x (target >= 2x); "
          f"||grebe - captum|| / ||captum|| = {diff:.1e}")


if __name__ == "__main__":
    main()
