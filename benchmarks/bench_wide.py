"""Section 4 on the wide net, streamed: Figures 7A–7D over the demo eval set (run by hand).

    python benchmarks/bench_wide.py                      # demo wide net, whole eval split
    python benchmarks/bench_wide.py --max-samples 2000   # a seeded subset of the eval split
    python benchmarks/bench_wide.py --random --width 2048 --max-samples 500   # no demo data needed
    python benchmarks/bench_wide.py --checkpoint paper_wide/paper_wide.pt --per-class 100 --eval-per-class 100 \
        --skip-inputs                                    # the 5 x 2048 net of train_demo --paper-wide

Stages, each timed (peak RSS of the whole process reported at the end):

1. COR / INC (METHODS §3.3): an LDA on the input features fitted from streamed dev statistics
   (``analysis.streamed_lda``) marks the eval samples it classifies correctly (COR) or not (INC); only
   samples the network classifies correctly are kept.
2. Fig. 7A Σ_NODES: per-node SLT spectra of layers 2..L and the output over every eval sample.
3. Fig. 7A Σ_INPUTS: per-input spectra of the same layers.
4. Fig. 7B: per class, one SVD of the ``[N_k × (F·M)]`` SLT matrix (``analysis.population_spectra``,
   ``--per-class`` samples per class, block Grams within ``--budget``).
5. Fig. 7C/D: Σ_INC − Σ_COR per node over every INC frame and as many COR frames
   (``analysis.inc_cor_difference``, one streamed pass per group).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slt_widgets.analysis import inc_cor_difference, population_spectra, streamed_lda  # noqa: E402
from slt_widgets.analysis.slt_spectra import normalized_spectra, subsample  # noqa: E402
from slt_widgets.datasets import FrameDataset  # noqa: E402
from slt_widgets.engine import iter_inputs, activations  # noqa: E402
from slt_widgets.engine.stats import streaming_activation_stats, streaming_slt_spectra  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CPU_AT: dict = {}


def stage(name: str, times: dict, what: str) -> None:
    """One progress line per finished stage on stderr (a long run killed midway still says how far it
    got), with the CPU seconds the stage used: on a shared machine they, not the wall time, say what it costs."""
    cpu = time.process_time()
    CPU_AT[name] = cpu - CPU_AT.get("_last", 0.0)
    CPU_AT["_last"] = cpu
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {times[name]:.1f} s wall, {CPU_AT[name]:.0f} CPU s ({what}), "
          f"peak RSS {peak_mb():.0f} MB", file=sys.stderr, flush=True)


def random_setup(width: int, n_eval: int, n_dev: int, seed: int = 0):
    """A random 5 × width ReLU net (batch norm, dropout) and random data of the demo's shapes."""
    from slt_widgets.models import mlp
    torch.manual_seed(seed)
    model = mlp(253, (width,) * 5, 40, batch_norm=True, dropout=0.2)
    model.train()
    with torch.no_grad():                      # settle the batch-norm statistics on random inputs
        for _ in range(3):
            model(torch.randn(512, 253))
    model.eval()
    rng = np.random.default_rng(seed)
    names = [f"c{k}" for k in range(40)]
    mk = lambda n: FrameDataset.from_arrays(rng.standard_normal((n, 253), dtype=np.float32),  # noqa: E731
                                            np.arange(n) % 40, names, (23, 11))
    return model, mk(n_eval), mk(n_dev)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-samples", type=int, default=None, help="seeded subset of the eval split (default all)")
    p.add_argument("--random", action="store_true", help="random net and data instead of the demo")
    p.add_argument("--width", type=int, default=2048, help="hidden width with --random")
    p.add_argument("--per-class", type=int, default=100, help="samples per class for Fig. 7B (the report's cap)")
    p.add_argument("--budget", default="3GB", help="memory budget of the Gram accumulators")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--skip-inputs", action="store_true", help="skip Σ_INPUTS (the costliest Grams)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None,
                   help="a net written by save_checkpoint (e.g. train_demo --paper-wide) on the demo splits")
    p.add_argument("--eval-per-class", type=int, default=None,
                   help="a seeded subset of the eval split with at most this many frames per class")
    a = p.parse_args()
    times = {}
    t0 = time.perf_counter()
    if a.random:
        n = a.max_samples or 55577
        model, ev, dev = random_setup(a.width, n, min(n, 34117), a.seed)
        source = f"random 5 x {a.width} net, random data"
    else:
        from slt_widgets import load_demo
        model, ev = load_demo("wide", "eval")
        _, dev = load_demo("wide", "dev")
        source = "demo wide net (load_demo('wide'))"
        if a.checkpoint:
            from slt_widgets.models import load_checkpoint
            model, _ = load_checkpoint(a.checkpoint)
            source = f"checkpoint {a.checkpoint}"
        if a.eval_per_class is not None:
            rng = np.random.default_rng(a.seed)
            keep = [rng.permutation(np.flatnonzero(ev.labels == k))[:a.eval_per_class] for k in range(ev.n_classes)]
            ev = ev.subset(np.sort(np.concatenate(keep)))
            source += f", eval ≤ {a.eval_per_class} frames per class (seeded)"
        if a.max_samples is not None and a.max_samples < len(ev):
            ev = ev.subset(subsample(np.arange(len(ev)), a.max_samples, a.seed))
    widths = [m.out_features for m in model if isinstance(m, torch.nn.Linear)][:-1]
    L = len(widths)
    layers = list(range(2, L + 1)) + ["output"]
    times["load"] = time.perf_counter() - t0
    stage("load", times, source)

    # 1. COR / INC from a streamed input-feature LDA (dev) and the network's predictions (eval)
    t = time.perf_counter()
    lda = streamed_lda(streaming_activation_stats(model, dev, layers=["input"], batch_size=4096)["input"])
    y = ev.labels
    sep, net_ok = np.zeros(len(ev), bool), np.zeros(len(ev), bool)
    start = 0
    for xb in iter_inputs(ev, 4096):
        s = slice(start, start + len(xb))
        sep[s] = lda.predict(xb.numpy()) == y[s]
        net_ok[s] = activations(model, xb)["output"].argmax(1).numpy() == y[s]
        start += len(xb)
    cor, inc = np.flatnonzero(net_ok & sep), np.flatnonzero(net_ok & ~sep)
    times["cor_inc_split"] = time.perf_counter() - t
    stage("cor_inc_split", times, f"{len(cor)} COR, {len(inc)} INC of {len(ev)} eval frames")

    # 2. / 3. Fig. 7A
    t = time.perf_counter()
    nodes = streaming_slt_spectra(model, ev, layers, memory_budget=a.budget, batch_size=a.batch_size, progress=False)
    times["fig7a_nodes"] = time.perf_counter() - t
    stage("fig7a_nodes", times, f"{len(ev)} frames")
    inputs = None
    if not a.skip_inputs:
        t = time.perf_counter()
        inputs = streaming_slt_spectra(model, ev, layers, per="input", memory_budget=a.budget,
                                       batch_size=a.batch_size)
        times["fig7a_inputs"] = time.perf_counter() - t
        stage("fig7a_inputs", times, f"{len(ev)} frames")

    # 4. Fig. 7B
    t = time.perf_counter()
    # within --budget all five layers of a class come from one forward chain (slt_layers); below it,
    # one backward chain per layer from a 2048 x 2048 identity (~20x the multiplies on the 5 x 2048
    # net): a class of 100 frames needs 1.45 GB for the former
    pop = population_spectra(model, ev, list(range(1, L + 1)), max_per_class=a.per_class, seed=a.seed,
                             memory_budget=a.budget)
    times["fig7b_population"] = time.perf_counter() - t
    stage("fig7b_population", times, f"{int(pop.n_per_class.sum())} frames in {len(pop.classes)} classes")

    # 5. Fig. 7C/D: every INC frame and as many COR frames, one streamed pass per group
    t = time.perf_counter()
    diff, inc_cor = None, {}
    if min(len(cor), len(inc)) >= 2:
        diff = inc_cor_difference(model, ev, cor, inc, layers, max_samples=None, seed=a.seed)
        inc_cor = {l: float(v) for l, v in zip(diff.layers, diff.auc_mean)}
    times["fig7cd_inc_cor"] = time.perf_counter() - t
    stage("fig7cd_inc_cor", times, f"{diff.n_per_group} frames per group" if diff else
          f"skipped: {len(cor)} COR and {len(inc)} INC frames, each group needs ≥ 2 (a random net on random data)")
    times["total"] = time.perf_counter() - t0

    def node_mean_auc(res):
        return {str(l): float(np.nanmean(res[l].auc)) for l in layers}

    report = {
        "source": source, "widths": widths, "n_eval": len(ev), "n_dev": len(dev), "n_cor": len(cor),
        "n_inc": len(inc), "fig7cd_per_group": diff and diff.n_per_group, "threads": torch.get_num_threads(), "machine": platform.machine(),
        "seconds": {k: round(v, 1) for k, v in times.items()}, "peak_rss_mb": round(peak_mb(), 1),
        "cpu_seconds": {k: round(v, 1) for k, v in CPU_AT.items() if k != "_last"},
        "fig7a_node_auc_mean": node_mean_auc(nodes),
        "fig7a_input_auc_mean": None if inputs is None else node_mean_auc(inputs),
        "fig7a_dead_nodes": {str(l): int(nodes[l].dead.sum()) for l in layers},
        "fig7b_population_auc_mean": dict(zip(map(str, pop.layers), np.round(pop.auc_mean, 3).tolist())),
        "fig7b_D": pop.D,
        "fig7cd_inc_minus_cor_auc_mean": {str(k): round(v, 4) for k, v in inc_cor.items()},
        "fig7a_node_mean_spectrum_head": {str(l): np.round(np.nanmean(normalized_spectra(nodes[l].sigmas)[0], 0)[:5],
                                                           3).tolist() for l in layers},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
