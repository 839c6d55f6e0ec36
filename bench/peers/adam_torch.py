"""PyTorch's side of BenchmarkAdamStep and BenchmarkAdamUpdate (package train).

Reference model A (784-300-100-10, SELU), float32, batch 128, Adam with
PyTorch's defaults, one thread: the time of a training step (zero_grad,
forward, cross-entropy, backward, step) and of optimizer.step() alone, for
the default (per-parameter) implementation and foreach=True. Medians of 5
rounds, in milliseconds.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/adam_torch.py
    GOMAXPROCS=1 go test ./train -run XXX -bench 'Adam(Step|Update)' -count 5   (the f32 rows)

(Run both on the same quiet machine; run.sh does not run this script.)
"""
import statistics
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(0)


def median_ms(f, n):
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            f()
        rounds.append((time.perf_counter() - t) / n)
    return 1e3 * statistics.median(rounds)


for foreach in (False, True):
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 300), torch.nn.SELU(),
        torch.nn.Linear(300, 100), torch.nn.SELU(),
        torch.nn.Linear(100, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=foreach)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(20):
        step()
    name = "foreach" if foreach else "default"
    print(f"adam {name}: step {median_ms(step, 100):.3f} ms, update {median_ms(opt.step, 200):.3f} ms")
