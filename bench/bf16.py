"""bfloat16 mixed precision: grebe 'mixed_bfloat16' vs grebe 'float32' vs PyTorch autocast, one process.

    PYTHONPATH=python python bench/bf16.py [--threads 1] [--clock cpu] [--repeats 5]
                                           [--models cnn resnet lstm] [--storage] [--accuracy]

Training steps (forward + loss + backward + update), medians of alternating repeats:
- cnn: the seed CNN of DESIGN.md (32x32x3, batch 64, Adam; grebe fuses conv+relu+pool);
- resnet: ResNet-20 (bench/resnet.py's graph, batch 64, SGD momentum; PyTorch channels_last);
- lstm: LSTM(128) over 50 steps of 32 features + Dense(10), batch 64, Adam (bench/rnn.py's).
grebe runs each model built under each policy; PyTorch runs fp32 and under
`torch.autocast("cpu", dtype=torch.bfloat16)` around forward + loss (backward outside, as its
documentation says). Ratios: grebe bf16 / grebe fp32 speed-up, grebe bf16 vs PyTorch autocast.
Kernels: sgemm_bf16 and the seed CNN's bf16 training step as fractions of the measured bf16
peak (_C.bf16_peak_gflops: a register-only vdpbf16ps loop) and fp32 as fractions of the FP32
FMA peak. --clock cpu (the default) times process CPU seconds, right for 1 thread on a shared
machine; use --clock wall on a quiet one.

--storage measures the activation-storage design on the seed CNN: grebe keeps activations
float32 in memory and rounds in the kernels; the alternative stores each layer's output (and
each gradient) as an ml_dtypes bfloat16 array, which grebe's kernels (float32 pointers) must
convert back on every read. --accuracy runs examples/mixed_precision.py over 3 seeds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from _timing import median_times  # bench/_timing.py

CNN_TRAIN_MFLOP = 23.6  # per image (PERF_NOTES.md)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget", type=float, default=0.5, help="seconds per timing")
    p.add_argument("--models", nargs="*", default=["cnn", "resnet", "lstm"])
    p.add_argument("--storage", action="store_true")
    p.add_argument("--accuracy", action="store_true")
    return p.parse_args()


# ---- grebe --------------------------------------------------------------------------------------

def _under(policy, build):
    import grebe
    grebe.mixed_precision.set_global_policy(policy)
    try:
        grebe.utils.set_random_seed(0)
        return build()
    finally:
        grebe.mixed_precision.set_global_policy("float32")


def grebe_cnn():
    import cnn
    fns, _ = cnn.grebe_model(64)
    return fns["train_on_batch"][0]


def grebe_resnet():
    import resnet
    return resnet.grebe_model(64)[0]


def grebe_lstm():
    import numpy as np
    import rnn
    import grebe
    _, step = rnn.grebe_model("lstm")
    rng = np.random.default_rng(0)
    x = grebe.tensor(rng.standard_normal((64, rnn.T, rnn.F)).astype(np.float32))
    y = rng.integers(0, rnn.CLASSES, 64)
    return lambda: step(x, y)


# ---- PyTorch ------------------------------------------------------------------------------------

def torch_step(torch, net, x, labels, opt, amp: bool):
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(net(x), labels)
        loss.backward()
        opt.step()
    return step


def torch_cnn(torch, amp):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(2304, 128), nn.ReLU(), nn.Linear(128, 10))
    x, labels = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    return torch_step(torch, net, x, labels, torch.optim.Adam(net.parameters(), 1e-3), amp)


def torch_resnet(torch, amp):
    import resnet
    net = resnet.torch_net(torch)
    x = torch.randn(64, 3, 32, 32).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    return torch_step(torch, net, x, labels, opt, amp)


def torch_lstm(torch, amp):
    import rnn

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(rnn.F, rnn.U, batch_first=True)
            self.dense = torch.nn.Linear(rnn.U, rnn.CLASSES)

        def forward(self, x):
            return self.dense(self.rnn(x)[0][:, -1])
    torch.manual_seed(0)
    net = Net()
    x, labels = torch.randn(64, rnn.T, rnn.F), torch.randint(0, rnn.CLASSES, (64,))
    return torch_step(torch, net, x, labels, torch.optim.Adam(net.parameters(), 1e-3), amp)


MODELS = {"cnn": (grebe_cnn, torch_cnn), "resnet": (grebe_resnet, torch_resnet),
          "lstm": (grebe_lstm, torch_lstm)}


def bench_model(name, args, clock, torch):
    build_grebe, build_torch = MODELS[name]
    fns = {"grebe fp32": _under("float32", build_grebe),
           "grebe bf16": _under("mixed_bfloat16", build_grebe),
           "torch fp32": build_torch(torch, False),
           "torch autocast bf16": build_torch(torch, True)}
    t = median_times(fns, args.repeats, args.budget, 0.0, clock)
    print(f"\n{name}: training step, batch 64 (median ms)")
    for k, v in t.items():
        print(f"  {k:22s} {1e3 * v:9.2f} ms")
    print(f"  grebe bf16 speed-up over grebe fp32:     {t['grebe fp32'] / t['grebe bf16']:.2f}x")
    print(f"  grebe bf16 vs torch autocast bf16:       "
          f"{t['torch autocast bf16'] / t['grebe bf16']:.2f}x")
    print(f"  grebe bf16 vs torch fp32:                {t['torch fp32'] / t['grebe bf16']:.2f}x")
    print(f"  torch autocast speed-up over torch fp32: "
          f"{t['torch fp32'] / t['torch autocast bf16']:.2f}x")
    return t


def kernel_fractions(args, clock, cnn_times):
    import numpy as np
    from grebe import _C

    bf_peak = args.threads * max(_C.bf16_peak_gflops(1, 0.1) for _ in range(3))
    fp_peak = args.threads * max(_C.fma_peak_gflops(1, 0.1) for _ in range(3))
    print(f"\npeaks ({args.threads} thread(s)): bf16 {bf_peak:.0f} GFLOP/s (vdpbf16ps), "
          f"fp32 {fp_peak:.0f} GFLOP/s (FMA); has_bf16={_C.has_bf16()}")
    rng = np.random.default_rng(0)
    for n in (256, 512, 1024):
        a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
        t = median_times({"bf16": lambda: _C.sgemm_bf16(a, b, False, False, 1.0, 0.0, None,
                                                         None, False),
                          "fp32": lambda: _C.sgemm(a, b, False, False, 1.0, 0.0, None, None,
                                                   False)}, args.repeats, args.budget / 2, 0.0,
                         clock)
        gb, gf = 2 * n ** 3 / t["bf16"] / 1e9, 2 * n ** 3 / t["fp32"] / 1e9
        print(f"  GEMM {n}^3: sgemm_bf16 {gb:6.1f} GFLOP/s = {gb / bf_peak:4.0%} of bf16 peak; "
              f"sgemm {gf:6.1f} = {gf / fp_peak:4.0%} of fp32 peak; {gb / gf:.2f}x")
    if cnn_times:
        for k, peak in (("grebe bf16", bf_peak), ("grebe fp32", fp_peak)):
            g = 64 * CNN_TRAIN_MFLOP / 1e3 / cnn_times[k]
            print(f"  seed CNN training {k}: {g:6.1f} GFLOP/s = {g / peak:4.0%} of its peak")


def main():
    args = parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch

    import grebe
    grebe.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"grebe {grebe.__version__} ({grebe._C.active_isa()}), torch {torch.__version__}; "
          f"{args.threads} thread(s), {args.clock} time, {args.repeats} repeats")
    times = {m: bench_model(m, args, clock, torch) for m in args.models}
    kernel_fractions(args, clock, times.get("cnn"))
    if args.storage:
        import _bf16_storage
        _bf16_storage.main(args, clock)
    if args.accuracy:
        import importlib.util
        path = os.path.join(os.path.dirname(__file__), "..", "examples", "mixed_precision.py")
        spec = importlib.util.spec_from_file_location("mixed_precision_example", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print()
        mod.main(["--seeds", "0", "1", "2", "--threads", str(args.threads)])


if __name__ == "__main__":
    main()
