"""Conv2DTranspose and DepthwiseConv2D forward and forward+backward: grebe vs PyTorch
(channels_last, i.e. NHWC memory, oneDNN) in one process, same data, same threads.

    PYTHONPATH=python python bench/conv_transpose.py [--batch 32] [--threads 2] [--quick]
                                                     [--cpu-time] [--only depthwise]

Shapes: a DCGAN generator layer (Keras's DCGAN example: 8x8x128 -> 16x16x128, kernel 4,
stride 2, 'same') and a U-Net decoder layer (32x32x64 -> 64x64x32, kernel 3, stride 2,
'same'); MobileNetV2's depthwise 3x3 layers (112x112x32 stride 1, 112x112x96 stride 2,
56x56x144, 14x14x384, 7x7x960), batch 32 by default. Each row: the median time of the
forward, and of forward + backward (input and weight gradients, through each library's
autograd), and the ratio torch/grebe (> 1: grebe faster). grebe's conv transpose runs on the
native conv kernels (forward = conv backward-data, input gradient = conv forward, kernel
gradient = conv backward-weights); its depthwise conv on the depthwise kernels (AVX-512 when
the CPU has it, AVX2 under GREBE_ISA=avx2). torch's transposed conv gets (padding,
output_padding) giving the same output size (as Keras's torch backend computes them).
Libraries alternate within each repeat and every timed batch starts after a short idle pause
(--settle), so a noisy neighbour hits both alike.
"""
from __future__ import annotations

import argparse
import time

from _timing import median_times  # bench/_timing.py

TRANSPOSE = [  # name, H, W, C, F, k, stride
    ("DCGAN 8x8x128->16x16x128 k4s2", 8, 8, 128, 128, 4, 2),
    ("U-Net 32x32x64->64x64x32 k3s2", 32, 32, 64, 32, 3, 2),
]
DEPTHWISE = [  # name, H, W, C, stride (3x3, 'same', depth_multiplier 1)
    ("MobileNetV2 112x112x32 s1", 112, 112, 32, 1),
    ("MobileNetV2 112x112x96 s2", 112, 112, 96, 2),
    ("MobileNetV2 56x56x144 s1", 56, 56, 144, 1),
    ("MobileNetV2 14x14x384 s1", 14, 14, 384, 1),
    ("MobileNetV2 7x7x960 s1", 7, 7, 960, 1),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: cores)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--settle", type=float, default=0.05, help="idle seconds before each batch")
    p.add_argument("--cpu-time", action="store_true",
                   help="time process CPU seconds (for 1 thread on a shared machine)")
    p.add_argument("--only", choices=("transpose", "depthwise"), default=None,
                   help="run one family of rows")
    return p.parse_args()


def transpose_cases(B, rng, np, torch, grebe, ops):
    from grebe.ops.conv_transpose import conv_transpose_padding

    for name, H, W, C, F, k, s in TRANSPOSE:
        x = rng.standard_normal((B, H, W, C)).astype(np.float32)
        w = (rng.standard_normal((k, k, F, C)) * 0.05).astype(np.float32)
        b = rng.standard_normal(F).astype(np.float32)
        L, _ = conv_transpose_padding(H, k, s, 1, "same", None)
        # torch's (padding, output_padding) for the same output size (Keras's torch backend
        # rule for 'same'); torch crops symmetrically, so the window may start a pixel later.
        op_keras = s - k % 2
        pad = max(-((k % 2 - k + op_keras) // 2), 0)
        out_pad = 2 * pad + k % 2 - k + op_keras
        dy = rng.standard_normal((B, L, L, F)).astype(np.float32)
        xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
        xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous(
            memory_format=torch.channels_last).requires_grad_()
        wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous().requires_grad_()
        bt = torch.tensor(b, requires_grad=True)
        dyt = torch.tensor(dy).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

        def g_fwd(xg=xg, wg=wg, bg=bg, s=s):
            with grebe.no_grad():
                ops.conv2d_transpose(xg, wg, bg, s, "same")

        def g_fb(xg=xg, wg=wg, bg=bg, s=s, dy=dy):
            ops.conv2d_transpose(xg, wg, bg, s, "same").backward(dy)

        def t_fwd(xt=xt, wt=wt, bt=bt, s=s, pad=pad, op=out_pad):
            with torch.no_grad():
                torch.nn.functional.conv_transpose2d(xt, wt, bt, s, pad, op)

        def t_fb(xt=xt, wt=wt, bt=bt, s=s, pad=pad, op=out_pad, dyt=dyt):
            torch.nn.functional.conv_transpose2d(xt, wt, bt, s, pad, op).backward(dyt)

        yield f"Conv2DTranspose {name}", g_fwd, g_fb, t_fwd, t_fb


def depthwise_cases(B, rng, np, torch, grebe, ops):
    for name, H, W, C, s in DEPTHWISE:
        x = rng.standard_normal((B, H, W, C)).astype(np.float32)
        w = (rng.standard_normal((3, 3, C, 1)) * 0.2).astype(np.float32)
        b = rng.standard_normal(C).astype(np.float32)
        P = -(-H // s)
        dy = rng.standard_normal((B, P, P, C)).astype(np.float32)
        xg, wg, bg = (grebe.tensor(a, requires_grad=True) for a in (x, w, b))
        pt = max((P - 1) * s + 3 - H, 0) // 2  # TF 'same'; the extra pixel goes bottom/right
        pb = max((P - 1) * s + 3 - H, 0) - pt
        xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous(
            memory_format=torch.channels_last).requires_grad_()
        wt = torch.tensor(w).permute(2, 3, 0, 1).contiguous().requires_grad_()
        bt = torch.tensor(b, requires_grad=True)
        dyt = torch.tensor(dy).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

        def t_conv(xt, wt, bt, s=s, pt=pt, pb=pb, C=C):
            if pt == pb:
                return torch.nn.functional.conv2d(xt, wt, bt, s, pt, groups=C)
            xp = torch.nn.functional.pad(xt, (pt, pb, pt, pb))
            return torch.nn.functional.conv2d(xp, wt, bt, s, 0, groups=C)

        def g_fwd(xg=xg, wg=wg, bg=bg, s=s):
            with grebe.no_grad():
                ops.depthwise_conv2d(xg, wg, bg, s, "same")

        def g_fb(xg=xg, wg=wg, bg=bg, s=s, dy=dy):
            ops.depthwise_conv2d(xg, wg, bg, s, "same").backward(dy)

        def t_fwd(xt=xt, wt=wt, bt=bt, t_conv=t_conv):
            with torch.no_grad():
                t_conv(xt, wt, bt)

        def t_fb(xt=xt, wt=wt, bt=bt, t_conv=t_conv, dyt=dyt):
            t_conv(xt, wt, bt).backward(dyt)

        yield f"DepthwiseConv2D {name}", g_fwd, g_fb, t_fwd, t_fb


def main():
    args = parse_args()
    import numpy as np
    import torch

    import grebe
    from grebe import _C, ops

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    torch.set_num_threads(threads)
    repeats = args.repeats or (3 if args.quick else 7)
    budget = 0.1 if args.quick else 0.3
    B = args.batch
    rng = np.random.default_rng(0)
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"batch {B}, {threads} thread(s), grebe isa={_C.active_isa()}, torch "
          f"{torch.__version__} channels_last, median of {repeats} "
          f"({'CPU' if args.cpu_time else 'wall'} time); ratio = torch / grebe")
    print(f"{'layer':52} {'pass':5} {'grebe ms':>9} {'torch ms':>9} {'ratio':>6}")
    families = {"transpose": transpose_cases, "depthwise": depthwise_cases}
    for cases in [f for k, f in families.items() if args.only in (None, k)]:
        for name, g_fwd, g_fb, t_fwd, t_fb in cases(B, rng, np, torch, grebe, ops):
            times = median_times({"gf": g_fwd, "tf": t_fwd, "gb": g_fb, "tb": t_fb}, repeats,
                                 budget, args.settle, clock)
            for pas, g, t in (("fwd", "gf", "tf"), ("f+b", "gb", "tb")):
                print(f"{name:52} {pas:5} {1e3 * times[g]:9.3f} {1e3 * times[t]:9.3f} "
                      f"{times[t] / times[g]:6.2f}", flush=True)


if __name__ == "__main__":
    main()
