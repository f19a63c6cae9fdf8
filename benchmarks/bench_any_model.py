"""Any-model benchmark (issue 8), one process, one thread:

1. Sequential 253-256×5-40 vs the same net as a custom-forward module (fx → fast chain
   path): SLT samples/s of the output layer and their ratio (target: within 10 %).
2. A conv net on 8×8 inputs: the general path (slt) vs plain ``vmap(jacrev)``.

Run: ``cd /work/main && python benchmarks/bench_any_model.py [--n 2000]``
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jacrev, vmap

import slt_widgets as sw


class CustomMLP(nn.Module):
    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.fcs = nn.ModuleList([m for m in seq if isinstance(m, nn.Linear)])

    def forward(self, x):
        x = torch.flatten(x, 1)
        for fc in self.fcs[:-1]:
            x = F.relu(fc(x))
        return self.fcs[-1](x)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(16 * 2 * 2, 32), nn.Linear(32, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.c1(x)), 2)
        h = F.max_pool2d(F.relu(self.c2(h)), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


def best_of(fn, reps: int) -> float:
    fn()                                   # warm-up (tracing, allocations)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    widths = [253] + [256] * 5
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    seq = nn.Sequential(*layers, nn.Linear(256, 40)).eval()
    custom = CustomMLP(seq).eval()
    x = torch.randn(args.n, 253)
    assert torch.allclose(sw.slt(seq, x[:50]).weight, sw.slt(custom, x[:50]).weight, atol=1e-5)
    assert sw.engine.to_chain(custom).traced
    # interleave the two so machine load affects both alike
    t_seq, t_cus = [], []
    for _ in range(args.reps):
        t_seq.append(best_of(lambda: sw.slt(seq, x), 1))
        t_cus.append(best_of(lambda: sw.slt(custom, x), 1))
    s_seq, s_cus = args.n / min(t_seq), args.n / min(t_cus)
    print(f"fast path, output layer, n={args.n}, 1 thread")
    print(f"  {'nn.Sequential 253-256x5-40':<38} {s_seq:>10.0f} samples/s")
    print(f"  {'custom forward (torch.fx chain)':<38} {s_cus:>10.0f} samples/s")
    print(f"  ratio custom/Sequential                {s_cus / s_seq:>10.3f}")

    conv = ConvNet().eval()
    xc = torch.randn(512, 1, 8, 8)
    ref = lambda: vmap(jacrev(lambda v: conv(v[None])[0]))(xc)       # noqa: E731
    gen = lambda: sw.slt(conv, xc)                                     # noqa: E731
    assert torch.allclose(ref(), gen().weight, atol=1e-6)
    t_ref, t_gen = best_of(ref, args.reps), best_of(gen, args.reps)
    print(f"conv net (2 conv + max-pool, 8x8 input, 10 outputs), n={len(xc)}, 1 thread")
    print(f"  {'vmap(jacrev) reference':<38} {len(xc) / t_ref:>10.0f} samples/s")
    print(f"  {'slt general path (weight+bias+checks)':<38} {len(xc) / t_gen:>10.0f} samples/s")
    print(f"  ratio general/vmap(jacrev)             {t_ref / t_gen:>10.3f}")


if __name__ == "__main__":
    main()
