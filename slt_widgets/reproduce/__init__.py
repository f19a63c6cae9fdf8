"""The reproduction report (issue 4): every analysis of the paper on the demo nets, each paper
claim next to what was measured.

``python -m slt_widgets.reproduce --out DIR`` (or ``python -m slt_widgets reproduce`` once the
CLI wires :func:`add_arguments`/:func:`run_cli`) writes one PNG per figure, CSV/Markdown tables,
``report.md`` and ``report.html``.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from .sources import Source, resolve_sources, train_toy_mlp
from .stages import STAGES, Budget, Context
from .verdicts import RULE

__all__ = ["add_arguments", "run_cli", "build_report", "main", "train_toy_mlp", "Budget", "Source"]

BUDGETS = {"small": Budget(), "wide": Budget(node_samples=1000, pop_per_class=40, inc_cor=600, slt_cluster=300)}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``reproduce`` options to ``parser`` (returned)."""
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--model", nargs="+", default=["small", "wide"], help="demo nets to analyse")
    parser.add_argument("--controls", action="store_true", help="random-weights and corpus-build controls")
    parser.add_argument("--max-frames", type=int, default=None, help="subsample dev/eval to N frames (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads of numpy/scipy/scikit-learn pools (BLAS, OpenMP); 1 stays fast on a "
                             "shared machine, 0 = library default")
    parser.add_argument("--checkpoint", help="a slt_widgets checkpoint instead of the demo nets")
    parser.add_argument("--dev", help="dev split .npz (with --checkpoint)")
    parser.add_argument("--eval", help="eval split .npz (with --checkpoint)")
    parser.add_argument("--xeng", help="cross-engine split .npz (optional, with --checkpoint)")
    parser.add_argument("--digits", action="store_true", help="run on scikit-learn digits with a small MLP")
    parser.add_argument("--clean-corpus", help="folder with train/dev/eval.npz of the clean corpus build")
    parser.add_argument("--hard-corpus", help="folder with train/dev/eval.npz of the hard corpus build")
    parser.add_argument("--control-seeds", type=int, default=2, help="training seeds per corpus control (≥ 2)")
    parser.add_argument("--control-epochs", type=int, default=10)
    parser.add_argument("--control-seconds", type=float, default=300.0, help="training time cap per control net")
    parser.add_argument("--corpus-controls-for", nargs="+", default=None, metavar="NAME",
                        help="train the clean/hard corpus controls for these networks only (default: all)")
    parser.add_argument("--control-cache", default=None,
                        help="folder for the trained control nets: a rerun reuses them instead of training again")
    return parser


def build_report(sources: list[Source], out, *, seed: int = 0, controls_args=None) -> dict:
    """Run every stage on every source; write figures, tables and the report. Returns
    ``{"claims": rows, "times": {stage: seconds}, "report": path}``."""
    from tqdm.auto import tqdm
    from ..analysis import AnalysisError
    from .document import Document
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = Document("Reproduction of Nagamine & Mesgarani (ICML 2017) with slt_widgets")
    doc.p("Each claim of the paper is listed next to what this run measured, with a plain verdict. " + RULE)
    claims_at = len(doc.blocks)
    claims, times = [], {}
    for src in sources:
        budget = src.budget or (BUDGETS["wide"] if "wide" in src.name else BUDGETS["small"])
        doc.h(f"Network {src.name}", 2)
        for n in src.notes:
            doc.p(n)
        doc.p(f"Sample caps (seeded with {seed}): LDA training ≤ {budget.lda_train} dev frames, node/input spectra "
              f"≤ {budget.node_samples} eval frames, population spectra ≤ {budget.pop_per_class} per class, "
              f"Σ_INC/Σ_COR ≤ {budget.inc_cor} per group, SLT clusters ≤ {budget.slt_cluster} per class.")
        from .figures import set_origin
        set_origin(src.eval)
        ctx = Context(src, out, seed, budget, doc, {})
        for name, fn, _ in tqdm(STAGES, desc=f"report {src.name}", unit="stage"):
            t0 = time.perf_counter()
            try:
                for row in fn(ctx):
                    claims.append((src.name,) + tuple(_cell(c) for c in row))
            except AnalysisError as e:
                doc.p(f"{name} could not run on {src.name}: {e}")
                claims.append((src.name, name, "(stage)", "—", float("nan"), f"not measured ({e})"))
            times[f"{src.name}: {name}"] = time.perf_counter() - t0
            print(f"  {src.name:>12s} | {name:<24s} {times[f'{src.name}: {name}']:7.1f} s", flush=True)
        if controls_args is not None:
            from .controls import run_controls
            t0 = time.perf_counter()
            run_controls(src, controls_args, doc, None)
            times[f"{src.name}: controls"] = time.perf_counter() - t0
            print(f"  {src.name:>12s} | {'controls':<24s} {times[f'{src.name}: controls']:7.1f} s", flush=True)
    header = ["network", "figure", "paper claim", "measured", "ρ / r", "verdict"]
    # the claims table goes first, right under the introduction
    from .document import Document as _D
    tmp = _D("")
    tmp.h("Claims", 2)
    tmp.table(header, claims)
    doc.blocks[claims_at:claims_at] = tmp.blocks
    doc.h("Time per stage", 2)
    doc.table(["stage", "seconds"], [[k, round(v, 1)] for k, v in times.items()])
    with open(out / "claims.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header] + [[str(c) for c in r] for r in claims])
    (out / "claims.md").write_text("\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                                             ["| " + " | ".join(str(c) for c in r) + " |" for r in claims]) + "\n")
    md, _ = doc.write(out)
    return {"claims": claims, "times": times, "report": md}


def _cell(c):
    if isinstance(c, float):
        return "—" if c != c else f"{c:.2f}"
    return c


def run_cli(args) -> int:
    """Entry point for ``python -m slt_widgets reproduce`` (``args`` from :func:`add_arguments`)."""
    from contextlib import nullcontext
    from threadpoolctl import threadpool_limits
    t0 = time.perf_counter()
    n = int(getattr(args, "blas_threads", 1) or 0)
    # oversubscribed BLAS/OpenMP pools slowed SVDs and k-means ~10-20× on a loaded 2-core machine
    with threadpool_limits(n) if n > 0 else nullcontext():
        sources = resolve_sources(args)
        res = build_report(sources, args.out, seed=int(args.seed), controls_args=args if args.controls else None)
    print(f"report written to {res['report']} ({time.perf_counter() - t0:.0f} s in all)")
    return 0


def main(argv=None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m slt_widgets.reproduce", description=__doc__))
    return run_cli(parser.parse_args(argv))
