#!/usr/bin/python3
"""PyTorch side of the side-by-side benchmark (bench/peers/run.sh).

The reference configurations of internal/refmodels in PyTorch, step for
step what tapegrad's BenchmarkRef runs:

  A  784-300-100-10, SELU, lecun_normal, softmax cross-entropy
  B  784-300-BN-ELU-100-BN-ELU-10, Linear without bias before BN, he_normal
  C  3072-(20 x 100 ELU, he_normal)-10
  D  inference of B (eval mode, under torch.no_grad())

A training step is zero_grad, forward, CrossEntropyLoss (mean), backward and
SGD(lr=0.01).step(); BatchNorm1d has eps 1e-3 and momentum 0.01 (Keras's
0.99). Float32 throughout.

It also times PyTorch's own GEMM-only floor: the torch.mm sequence autograd
performs for those Linear layers (weights stored out x in):
forward x @ W.t(), backward dY @ W (not for the first layer) and dY.t() @ X.

Output is Go benchmark format, one line per measurement, so that the same
parser reads every peer:

  BenchmarkTorch/A/b32/f32   <iterations>   <ns> ns/op   <share> cpu-share
  BenchmarkTorchFloor/A/b32/f32   <iterations>   <ns> ns/op   <MFLOP/s> MB/s   <share> cpu-share

where cpu-share is the process's CPU time over the loop's wall time over
the threads (1 = it had its cores; less = a shared machine took some).

Each measurement warms up, then times a loop of at least --min-time seconds
and reports the mean per step; --count repeats it (take the median).
"""

import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn

CONFIGS = [
    # name, widths of the dense layers (inputs first), batches, kind
    ("A", [784, 300, 100, 10], [32, 128, 512], "selu"),
    ("B", [784, 300, 100, 10], [32, 128, 512], "bn"),
    ("C", [3072] + [100] * 20 + [10], [128], "elu"),
    ("D", [784, 300, 100, 10], [1, 256], "bn-inference"),
]


def model(widths, kind):
    layers = []
    pairs = list(zip(widths[:-1], widths[1:]))
    for i, (fan_in, units) in enumerate(pairs):
        last = i == len(pairs) - 1
        bn = kind.startswith("bn") and not last
        lin = nn.Linear(fan_in, units, bias=not bn)
        # Keras's lecun_normal / he_normal: truncated normal, std
        # sqrt(scale/fan_in) after truncation at two standard deviations
        scale = 1.0 if kind == "selu" else 2.0
        std = math.sqrt(scale / fan_in) / 0.87962566103423978
        nn.init.trunc_normal_(lin.weight, std=std, a=-2 * std, b=2 * std)
        if lin.bias is not None:
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if last:
            break
        if bn:
            layers.append(nn.BatchNorm1d(units, eps=1e-3, momentum=0.01))
        layers.append(nn.SELU() if kind == "selu" else nn.ELU())
    return nn.Sequential(*layers)


def timed(step, min_time, warmup, threads):
    """Mean seconds per call of step over a loop of at least min_time, the
    loop's count, and the share of its threads' cores the process got
    during the loop (CPU time over wall time over threads: 1 undisturbed)."""
    t0 = time.perf_counter()
    n = 0
    while n < warmup or time.perf_counter() - t0 < min(0.05, min_time):
        step()
        n += 1
    per = (time.perf_counter() - t0) / n
    iters = max(1, int(math.ceil(min_time / max(per, 1e-9))))
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(iters):
        step()
    wall = time.perf_counter() - t0
    return wall / iters, iters, (time.process_time() - c0) / wall / threads


def train_step_fn(name, widths, kind, batch, gen):
    net = model(widths, kind)
    x = torch.randn(batch, widths[0], generator=gen)
    if kind == "bn-inference":
        net.eval()

        def step():
            with torch.no_grad():
                return net(x)

        return step
    net.train()
    y = torch.randint(0, widths[-1], (batch,), generator=gen)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def floor_fn(widths, kind, batch, gen):
    """The torch.mm sequence of one step, operands preallocated."""
    pairs = list(zip(widths[:-1], widths[1:]))
    ops = []  # (a, b, out)
    flops = 0

    def add(a, b):
        nonlocal flops
        ops.append((a, b, torch.empty(a.shape[0], b.shape[1])))
        flops += 2 * a.shape[0] * a.shape[1] * b.shape[1]

    ws = [torch.randn(units, fan_in, generator=gen) / 8 for fan_in, units in pairs]
    xs = [torch.randn(batch, fan_in, generator=gen) / 8 for fan_in, _ in pairs]
    dys = [torch.randn(batch, units, generator=gen) / 8 for _, units in pairs]
    for w, x in zip(ws, xs):
        add(x, w.t())  # forward: x · Wᵀ
    if kind != "bn-inference":
        for i in reversed(range(len(pairs))):
            if i > 0:
                add(dys[i], ws[i])  # dX = dY · W
            add(dys[i].t(), xs[i])  # dW = dYᵀ · X

    def step():
        for a, b, out in ops:
            torch.mm(a, b, out=out)

    return step, flops


def blas_libraries():
    """The BLAS libraries this process has mapped, once torch is loaded."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    seen = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in os.path.basename(path).lower() and path not in seen:
                    seen.append(path)
    except OSError:
        pass
    return ",".join(seen) or "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--count", type=int, default=1, help="repetitions of each measurement")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per timed loop")
    p.add_argument("--warmup", type=int, default=5, help="steps before timing")
    p.add_argument("--configs", default="A,B,C,D")
    p.add_argument("--no-floor", action="store_true")
    p.add_argument("--version", action="store_true", help="print versions and exit")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if args.version:
        print(f"torch {torch.__version__} python {sys.version.split()[0]} blas {blas_libraries()}")
        return

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    want = set(args.configs.split(","))
    for name, widths, batches, kind in CONFIGS:
        if name not in want:
            continue
        for batch in batches:
            label = f"{name}/b{batch}/f32"
            step = train_step_fn(name, widths, kind, batch, gen)
            for _ in range(args.count):
                sec, iters, share = timed(step, args.min_time, args.warmup, args.threads)
                print(f"BenchmarkTorch/{label}\t{iters}\t{sec * 1e9:.0f} ns/op\t{share:.3f} cpu-share", flush=True)
            if args.no_floor:
                continue
            fstep, flops = floor_fn(widths, kind, batch, gen)
            for _ in range(args.count):
                sec, iters, share = timed(fstep, args.min_time, args.warmup, args.threads)
                print(f"BenchmarkTorchFloor/{label}\t{iters}\t{sec * 1e9:.0f} ns/op\t{flops / sec / 1e6:.2f} MB/s\t{share:.3f} cpu-share", flush=True)


if __name__ == "__main__":
    main()
