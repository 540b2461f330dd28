"""ResNet-20 (CIFAR size) end to end: grebe vs PyTorch vs TensorFlow, one process.

    python bench/resnet.py [--batch 64] [--threads 2] [--repeats 7] [--quick]

Model (He et al. 2016, CIFAR variant): Conv2D(16, 3x3, 'same') + BatchNormalization + ReLU on
32x32x3; three stages of 3 basic blocks (Conv-BN-ReLU-Conv-BN, Add, ReLU) with 16, 32, 64
filters, the first block of stages 2 and 3 strided (2) with a 1x1 strided Conv2D + BN shortcut;
GlobalAveragePooling2D, Dense(10, softmax); categorical cross-entropy, SGD(momentum 0.9).
grebe runs it with the functional API (grebe.Input / grebe.Model), PyTorch with
channels_last tensors (its fast CPU conv layout) and TensorFlow as Keras 3. Prints the median
training throughput (forward + loss + backward + update) and inference throughput, the ratios
grebe / peer, and the fraction of the machine's measured FP32 FMA peak (41.0 M multiply-adds =
82 MFLOP per image forward, about 3x that per training image).
"""
from __future__ import annotations

import argparse
import sys

from _timing import machine_peak, median_times  # bench/_timing.py

FILTERS = (16, 32, 64)
BLOCKS = 3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="threads (default: cores)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--settle", type=float, default=0.05, help="idle seconds before each batch")
    p.add_argument("--cpu-time", action="store_true",
                   help="time by process CPU seconds (a shared machine; use with --threads 1)")
    p.add_argument("--profile", action="store_true", help="also print grebe's time per op")
    return p.parse_args()


def forward_mflop() -> float:
    """Forward MFLOP per image (2 per multiply-add) of the convs and the dense layer."""
    macs, h, c = 32 * 32 * 3 * 9 * 16, 32, 16
    for stage, f in enumerate(FILTERS):
        for b in range(BLOCKS):
            stride = 2 if stage > 0 and b == 0 else 1
            h_out = h // stride
            macs += h_out * h_out * 9 * c * f + h_out * h_out * 9 * f * f
            if stride == 2:
                macs += h_out * h_out * c * f  # 1x1 shortcut
            h, c = h_out, f
    return 2 * (macs + 64 * 10) / 1e6


def data(batch):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 32, 32, 3)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return x, y


def keras_like_resnet(keras_layers, inp):
    """The ResNet-20 graph on `inp` with a Keras-style layers module (grebe's or Keras's)."""
    L = keras_layers

    def conv_bn(t, f, k, stride, relu):
        t = L.Conv2D(f, k, strides=stride, padding="same", use_bias=False)(t)
        t = L.BatchNormalization()(t)
        return L.Activation("relu")(t) if relu else t

    t = conv_bn(inp, FILTERS[0], 3, 1, True)
    for stage, f in enumerate(FILTERS):
        for b in range(BLOCKS):
            stride = 2 if stage > 0 and b == 0 else 1
            y = conv_bn(t, f, 3, stride, True)
            y = conv_bn(y, f, 3, 1, False)
            short = conv_bn(t, f, 1, stride, False) if stride == 2 else t
            t = L.Activation("relu")(L.Add()([y, short]))
    t = L.GlobalAveragePooling2D()(t)
    return L.Dense(10, activation="softmax")(t)


def grebe_model(batch):
    import grebe
    from grebe import layers as L

    grebe.utils.set_random_seed(0)
    inp = grebe.Input((32, 32, 3))
    model = grebe.Model(inp, keras_like_resnet(L, inp))
    model.compile(optimizer=grebe.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  loss="categorical_crossentropy")
    x, y = data(batch)
    model.train_on_batch(x, y)
    return (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))


def tensorflow_model(tf, batch):
    k = tf.keras
    inp = k.Input((32, 32, 3))
    model = k.Model(inp, keras_like_resnet(k.layers, inp))
    model.compile(optimizer=k.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  loss="categorical_crossentropy")
    x, y = data(batch)
    model.train_on_batch(x, y)
    return (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))


def torch_net(torch):
    """ResNet-20 as a torch.nn.Module in channels_last memory format (bench/bf16.py uses it)."""
    nn = torch.nn

    def conv_bn(cin, f, k, stride):
        return [nn.Conv2d(cin, f, k, stride=stride, padding=k // 2, bias=False),
                nn.BatchNorm2d(f, eps=1e-3, momentum=0.01)]

    class Block(nn.Module):
        def __init__(self, cin, f, stride):
            super().__init__()
            self.a = nn.Sequential(*conv_bn(cin, f, 3, stride), nn.ReLU(),
                                   *conv_bn(f, f, 3, 1))
            self.short = nn.Sequential(*conv_bn(cin, f, 1, stride)) if stride == 2 else None

        def forward(self, t):
            s = self.short(t) if self.short is not None else t
            return torch.relu(self.a(t) + s)

    torch.manual_seed(0)
    mods, cin = [*conv_bn(3, FILTERS[0], 3, 1), nn.ReLU()], FILTERS[0]
    for stage, f in enumerate(FILTERS):
        for b in range(BLOCKS):
            mods.append(Block(cin, f, 2 if stage > 0 and b == 0 else 1))
            cin = f
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*mods).to(memory_format=torch.channels_last)


def torch_model(torch, batch):
    nn = torch.nn
    net = torch_net(torch)
    x = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def train_step():
        net.train()
        opt.zero_grad()
        loss_fn(net(x), labels).backward()
        opt.step()

    def infer():
        net.eval()
        with torch.no_grad():
            return torch.softmax(net(x), dim=1)
    train_step()
    return train_step, infer


def profile_grebe(batch):
    """grebe's training step under cProfile: the share of time per native op."""
    import cProfile
    import pstats
    tr, _ = grebe_model(batch)
    tr()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(5):
        tr()
    pr.disable()
    st = pstats.Stats(pr)
    rows = [(v[2], f"{k[2]}") for k, v in st.stats.items() if "built-in" in k[0] or k[0] == "~"]
    total = sum(t for t, _ in rows) or 1.0
    print("\ngrebe training step, time in native calls (5 steps):")
    for t, name in sorted(rows, reverse=True)[:12]:
        print(f"  {name:60} {1e3 * t / 5:8.2f} ms/step {100 * t / total:5.1f}%")


def main():
    args = parse_args()
    import grebe

    threads = args.threads or grebe.get_num_threads()
    grebe.set_num_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    try:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except ImportError:
        tf = None
    peak = machine_peak(threads)
    fwd = forward_mflop()
    train_mflop = 3 * fwd
    print(f"ResNet-20, batch {args.batch}, {threads} thread(s), isa={grebe._C.active_isa()}; "
          f"measured FMA peak {peak:.0f} GFLOP/s; {fwd:.1f} MFLOP/image forward, "
          f"~{train_mflop:.0f} per training image" +
          ("; timed in process CPU seconds" if args.cpu_time else ""))
    if torch is None:
        print("PyTorch: not installed")
    if tf is None:
        print("TensorFlow: not installed")
    fns = {}
    fns[("grebe", "train")], fns[("grebe", "infer")] = grebe_model(args.batch)
    if torch is not None:
        fns[("torch", "train")], fns[("torch", "infer")] = torch_model(torch, args.batch)
    if tf is not None:
        fns[("tensorflow", "train")], fns[("tensorflow", "infer")] = \
            tensorflow_model(tf, args.batch)
    repeats = args.repeats or (3 if args.quick else 7)
    import time
    clock = time.process_time if args.cpu_time else time.perf_counter
    times = median_times(fns, repeats, 0.3 if args.quick else 1.0, args.settle, clock)
    ips = {k: args.batch / v for k, v in times.items()}
    print(f"  {'':12} {'train img/s':>12} {'ms/step':>8} {'%peak':>6} {'infer img/s':>12} "
          f"{'ms/batch':>9} {'%peak':>6}")
    for who in ("grebe", "torch", "tensorflow"):
        if (who, "train") not in ips:
            continue
        tr, inf = ips[(who, "train")], ips[(who, "infer")]
        print(f"  {who:12} {tr:12.0f} {1e3 * times[(who, 'train')]:8.2f} "
              f"{100 * tr * train_mflop / 1e3 / peak:5.0f}% {inf:12.0f} "
              f"{1e3 * times[(who, 'infer')]:9.2f} {100 * inf * fwd / 1e3 / peak:5.0f}%")
    for peer, target in (("torch", 2.0), ("tensorflow", 1.5)):
        if (peer, "train") in ips:
            r_tr = ips[("grebe", "train")] / ips[(peer, "train")]
            r_inf = ips[("grebe", "infer")] / ips[(peer, "infer")]
            print(f"  grebe / {peer}: train {r_tr:.2f}x, inference {r_inf:.2f}x "
                  f"(target >= {target}x)")
    if args.profile:
        profile_grebe(args.batch)


if __name__ == "__main__":
    sys.exit(main())
