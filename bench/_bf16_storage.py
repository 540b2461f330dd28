"""bench/bf16.py --storage: where bf16 activations live, measured on the seed CNN (batch 64).

Design A (grebe's): activations and gradients stay float32 arrays between layers; the *_bf16
kernels round the operands of their products as they pack them. Design B: every layer output
and every gradient between layers is stored as an ml_dtypes bfloat16 array (what JAX and
TensorFlow hold), half the bytes. grebe's kernels read float32 pointers, so B pays a
float32 -> bfloat16 -> float32 conversion per stored array (forward and backward); a kernel
reading bfloat16 directly would avoid the read-back, but every elementwise op between the
products (bias, activations, pooling, softmax, the optimizer) would then need bfloat16 forms too,
and numpy's own arithmetic on ml_dtypes arrays is printed below for scale.
"""
from __future__ import annotations

import numpy as np


def _stored_fn():
    import ml_dtypes

    from grebe.autograd import Function

    class Stored(Function):
        """y (float32) -> stored as bfloat16 -> read back as float32; the gradient likewise."""

        @staticmethod
        def forward(ctx, y):
            return y.astype(ml_dtypes.bfloat16).astype(np.float32)

        @staticmethod
        def backward(ctx, dy):
            return (np.asarray(dy).astype(ml_dtypes.bfloat16).astype(np.float32),)
    return Stored


def seed_cnn_step(store: bool):
    """The seed CNN's bf16 training step written with grebe.ops (the fused conv+relu+pool ops
    a Sequential runs), with design B's bfloat16 storage between layers when `store`."""
    import grebe
    from grebe import ops

    Stored = _stored_fn()
    keep = Stored.apply if store else (lambda t: t)
    rng = np.random.default_rng(0)
    x = grebe.tensor(rng.standard_normal((64, 32, 32, 3)).astype(np.float32))
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    shapes = [(3, 3, 3, 32), (32,), (3, 3, 32, 64), (64,), (2304, 128), (128,), (128, 10), (10,)]
    w = [grebe.tensor(rng.standard_normal(s).astype(np.float32) * 0.05, requires_grad=True)
         for s in shapes]
    opt = grebe.optimizers.Adam(1e-3)
    bf = dict(compute_dtype="bfloat16")
    loss_fn = grebe.losses.CategoricalCrossentropy()
    sizes = []

    def step():
        h = keep(ops.conv2d_relu_maxpool(x, w[0], w[1], **bf))
        h = keep(ops.conv2d_relu_maxpool(h, w[2], w[3], **bf))
        h = keep(ops.dense(ops.reshape(h, (64, -1)), w[4], w[5], "relu", **bf))
        p = ops.dense(h, w[6], w[7], "softmax", **bf)
        sizes[:] = [64 * 15 * 15 * 32, 64 * 6 * 6 * 64, 64 * 128]
        loss = loss_fn(y, p)
        for t in w:
            t.grad = None
        loss.backward()
        opt.apply([t.grad for t in w], w)
    step()
    return step, sizes


def main(args, clock):
    import ml_dtypes

    from _timing import median_times

    (a_step, sizes), (b_step, _) = seed_cnn_step(False), seed_cnn_step(True)
    t = median_times({"A": a_step, "B": b_step}, args.repeats, args.budget, 0.0, clock)
    n = sum(sizes)
    print(f"\nactivation storage, seed CNN bf16 training step (batch 64, median ms):")
    print(f"  A float32 in memory, rounding in the kernels: {1e3 * t['A']:7.2f} ms; "
          f"{4 * n / 1e6:.2f} MB of activations between layers")
    print(f"  B ml_dtypes bfloat16 storage (float32 kernels): {1e3 * t['B']:7.2f} ms "
          f"({t['B'] / t['A']:.2f}x A); {2 * n / 1e6:.2f} MB stored")
    rng = np.random.default_rng(1)
    f32 = rng.standard_normal(sizes[0]).astype(np.float32)
    b16 = f32.astype(ml_dtypes.bfloat16)
    ew = median_times({"f32": lambda: np.maximum(f32, 0, out=f32.copy()),
                       "bf16": lambda: np.maximum(b16, b16.dtype.type(0))},
                      args.repeats, args.budget / 4, 0.0, clock)
    print(f"  numpy relu on the first layer's output ({sizes[0]} values): float32 "
          f"{1e6 * ew['f32']:.0f} us, ml_dtypes bfloat16 {1e6 * ew['bf16']:.0f} us "
          f"({ew['bf16'] / ew['f32']:.1f}x)")
