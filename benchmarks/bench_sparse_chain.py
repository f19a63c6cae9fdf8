"""Prototype (issue 13, item 4): a backward chain that groups frames and multiplies only the union of
their active units, raced against the dense chain on the demo nets' own eval frames (run by hand).

    python benchmarks/bench_sparse_chain.py            # small and wide demo nets, 2,048 / 1,024 frames
    python benchmarks/bench_sparse_chain.py --quick    # fewer frames, one repeat

A ReLU zeroes the slope of every inactive unit, so for a group of frames the output SLT
``W_out diag(s_L) W_L … diag(s_1) W_1`` only needs the rows and columns of the units active in at
least one frame of the group: each step multiplies ``[g·r, |U_k|] @ [|U_k|, |U_{k-1}|]`` instead of
``[g·r, d_k] @ [d_k, d_{k-1}]``, after gathering the group's weight blocks. Frames are grouped by
their true class, by the class the net predicts, or at random (the control). Every contestant runs
in this process, interleaved (median of the repeats), so load on the machine hits all alike: read the
ratios, not the rates. The sparse maps are compared with the dense engine's (max difference relative
to max |W|) — exactness must not change.

The result decides whether the engine gets a sparse chain: only at ≥ 1.3× the dense chain.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import slt_widgets as sw  # noqa: E402
from slt_widgets.engine import read_model  # noqa: E402


def dense_output_slt(reading, xt: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """The dense backward chain without verification or buffer reuse, in the prototype's own loop:
    ``[n, d_out, d_in]`` (so the sparse version's gain is not the engine's other work)."""
    W = reading.weights(xt.dtype, xt.device)
    L = len(W) - 1
    out = torch.empty(xt.shape[0], W[L][0].shape[0], xt.shape[1])
    for s in range(0, len(xt), chunk):
        rec = reading.record(xt[s:s + chunk], biases=False)
        M = W[L][0].unsqueeze(0) * rec.slopes[L - 1].unsqueeze(1)                 # [c, r, d_L]
        for k in range(L - 1, 0, -1):
            M = torch.matmul(M, W[k][0]).mul_(rec.slopes[k - 1].unsqueeze(1))       # [c, r, d_k]
        out[s:s + chunk] = torch.matmul(M, W[0][0])
    return out


def sparse_output_slt(reading, xt: torch.Tensor, groups: list, stats: list | None = None) -> torch.Tensor:
    """The backward chain per group of frames on the union ``U_k`` of their active units:
    ``[n, d_out, d_in]`` in the frames' original order. stats: appends ``|U_k| / d_k`` per group."""
    W = reading.weights(xt.dtype, xt.device)
    L = len(W) - 1
    rec = reading.record(xt, biases=False)
    out = torch.empty(xt.shape[0], W[L][0].shape[0], xt.shape[1])
    for idx in groups:
        it = torch.as_tensor(idx)
        s = [rec.slopes[k][it] for k in range(L)]                                  # [g, d_k]
        u = [(sk != 0).any(0).nonzero().squeeze(1) for sk in s]                    # active unions
        if stats is not None:
            stats.append([len(uk) / sk.shape[1] for uk, sk in zip(u, s)])
        M = W[L][0][:, u[L - 1]].unsqueeze(0) * s[L - 1][:, u[L - 1]].unsqueeze(1)  # [g, r, |U_L|]
        for k in range(L - 1, 0, -1):
            block = W[k][0][u[k]][:, u[k - 1]]                                       # [|U_k+1|, |U_k|]
            M = torch.matmul(M, block).mul_(s[k - 1][:, u[k - 1]].unsqueeze(1))
        out[it] = torch.matmul(M, W[0][0][u[0]])
    return out


def grouped(keys: np.ndarray, size: int) -> list:
    """Index groups of at most ``size`` frames sharing a key (frames of one key in runs of ``size``)."""
    out = []
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        out += [idx[i:i + size] for i in range(0, len(idx), size)]
    return out


def race(contestants: dict, repeats: int) -> dict:
    times = {k: [] for k in contestants}
    for _ in range(repeats):
        for k, fn in contestants.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def run(name: str, n: int, repeats: int, sizes=(16, 64)) -> None:
    model, ds = sw.load_demo(name, "eval")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ds), n, replace=False))
    x = torch.from_numpy(np.ascontiguousarray(ds.features_at(pick), dtype=np.float32))
    y = np.asarray(ds.labels)[pick]
    reading = read_model(model)
    xt = reading.inputs(x)
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    plans = {f"class, {g}/group": grouped(y, g) for g in sizes}
    plans[f"predicted class, {sizes[-1]}/group"] = grouped(pred, sizes[-1])
    plans[f"random, {sizes[-1]}/group"] = grouped(rng.permutation(n) // sizes[-1], sizes[-1])
    dense = sw.slt(model, x).weight
    fractions = {}
    for k, groups in plans.items():
        st: list = []
        got = sparse_output_slt(reading, xt, groups, st)
        err = float((got - dense).abs().max() / dense.abs().max())
        fractions[k] = (np.mean(st, axis=0), err)
    contestants = {"dense engine (sw.slt, verified)": lambda: sw.slt(model, x),
                   "dense prototype loop": lambda: dense_output_slt(reading, xt)}
    contestants.update({f"sparse, {k}": (lambda g=g: sparse_output_slt(reading, xt, g)) for k, g in plans.items()})
    res = race(contestants, repeats)
    base = res["dense engine (sw.slt, verified)"]
    load = " ".join(open("/proc/loadavg").read().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    print(f"\n== {name} demo net, {n} eval frames, output SLT [n, 40, 253], float32, load {load} ==")
    for k, t in res.items():
        extra = ""
        key = k.removeprefix("sparse, ")
        if key in fractions:
            frac, err = fractions[key]
            extra = (f"   active union per layer {' '.join(f'{f:.0%}' for f in frac)}"
                     f"   max |Δ| vs dense {err:.1e} × max|W|")
        print(f"  {k:<40} {n / t:>8,.0f} frames/s   {base / t:5.2f}× the dense engine{extra}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (other jobs may share the machine: "
          "read the ratios)")
    run("small", 512 if a.quick else 2048, 1 if a.quick else a.repeats)
    run("wide", 256 if a.quick else 1024, 1 if a.quick else a.repeats)


if __name__ == "__main__":
    main()
