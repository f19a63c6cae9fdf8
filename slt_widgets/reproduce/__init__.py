"""The reproduction report (issue 4): every analysis of the paper on the demo nets, each paper
claim next to what was measured.

``python -m slt_widgets.reproduce --out DIR`` (or ``python -m slt_widgets reproduce`` once the
CLI wires :func:`add_arguments`/:func:`run_cli`) writes one PNG per figure, CSV/Markdown tables,
``report.md`` and ``report.html``.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import time
from pathlib import Path

from .._files import atomic_open, atomic_write_text, make_private_dir

from .sources import Source, resolve_sources, train_toy_mlp
from .stages import STAGES, Budget, Context
from .verdicts import RULE

__all__ = ["add_arguments", "run_cli", "build_report", "main", "train_toy_mlp", "Budget", "Source"]

BUDGETS = {"small": Budget(), "wide": Budget(node_samples=1000, pop_per_class=40, inc_cor=600, slt_cluster=300)}


def count_arg(least: int):
    """An argparse ``type``: a whole number ≥ ``least``, refused in one line otherwise."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < least:
            raise argparse.ArgumentTypeError(f"{v} is too small: give a whole number ≥ {least}")
        return v
    parse.__name__ = f"int ≥ {least}"
    return parse


def positive_float_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``reproduce`` options to ``parser`` (returned)."""
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--model", nargs="+", default=["small", "wide"], help="demo nets to analyse")
    parser.add_argument("--controls", action="store_true", help="random-weights and corpus-build controls")
    parser.add_argument("--max-frames", type=count_arg(1), default=None,
                        help="subsample dev/eval to N frames (seeded)")
    parser.add_argument("--seed", type=count_arg(0), default=0)
    parser.add_argument("--blas-threads", type=count_arg(0), default=1,
                        help="threads of numpy/scipy/scikit-learn pools (BLAS, OpenMP); 1 stays fast on a "
                             "shared machine, 0 = library default")
    parser.add_argument("--checkpoint", help="a slt_widgets checkpoint instead of the demo nets")
    parser.add_argument("--dev", help="dev split .npz (with --checkpoint)")
    parser.add_argument("--eval", help="eval split .npz (with --checkpoint)")
    parser.add_argument("--xeng", help="cross-engine split .npz (optional, with --checkpoint)")
    parser.add_argument("--digits", action="store_true", help="run on scikit-learn digits with a small MLP")
    parser.add_argument("--clean-corpus", help="folder with train/dev/eval.npz of the clean corpus build")
    parser.add_argument("--hard-corpus", help="folder with train/dev/eval.npz of the hard corpus build")
    parser.add_argument("--control-seeds", type=count_arg(2), default=2, help="training seeds per corpus control (≥ 2)")
    parser.add_argument("--control-epochs", type=count_arg(1), default=10)
    parser.add_argument("--control-seconds", type=positive_float_arg, default=300.0, help="training time cap per control net")
    parser.add_argument("--corpus-controls-for", nargs="+", default=None, metavar="NAME",
                        help="train the clean/hard corpus controls for these networks only (default: all)")
    parser.add_argument("--control-cache", default=None,
                        help="folder for the trained control nets: a rerun reuses them instead of training again")
    return parser


def build_report(sources: list[Source], out, *, seed: int = 0, controls_args=None) -> dict:
    """Run every stage on every source; write figures, tables and the report into ``out``. Returns
    ``{"claims": rows, "times": {stage: seconds}, "report": path, "failed": ["stage on net: why"]}``.

    A stage that fails (too few frames for an analysis, …) is marked "not measured" with the reason
    and the others still run. Everything is written to a private folder beside ``out`` and renamed
    into place at the end, so an interrupted run leaves no partial report."""
    out = Path(out)
    work = _work_folder(out)          # everything is written here first, then moved into ``out``
    import matplotlib
    try:
        with matplotlib.rc_context({"text.parse_math": False}):     # '$' in a class name is text
            res = _build(sources, work, seed, controls_args)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _move_into_place(work, out)
    res["report"] = out / Path(res["report"]).name
    return res


class ReportError(ValueError):
    """The report cannot be written where asked (``--out`` is a file, not writable, …)."""


def _work_folder(out: Path) -> Path:
    """A new private folder beside ``out`` (same file system, so its files can be renamed into it)."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file; give a folder for the report (it is created if missing)")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return make_private_dir(parent, f".{out.name}.")
    except OSError as e:
        raise ReportError(f"cannot write the report under {parent} ({e.strerror or e}); give --out a folder "
                          "you can write to") from None


def _move_into_place(work: Path, out: Path) -> None:
    """Rename the finished report into ``out``: the whole folder when ``out`` is new, else file by file
    (``os.replace``: a symlink planted at ``out/report.md`` is replaced, never written through)."""
    umask = os.umask(0)
    os.umask(umask)
    if not out.exists() and not out.is_symlink():
        os.chmod(work, 0o777 & ~umask)            # mkdtemp made it 0700
        os.replace(work, out)
        return
    for f in sorted(work.iterdir()):
        os.replace(f, out / f.name)
    work.rmdir()


def _build(sources, work: Path, seed: int, controls_args) -> dict:
    from tqdm.auto import tqdm
    from ..analysis import AnalysisError
    from .document import Document, md_escape
    doc = Document("Reproduction of Nagamine & Mesgarani (ICML 2017) with slt_widgets")
    doc.p("Each claim of the paper is listed next to what this run measured, with a plain verdict. " + RULE)
    claims_at = len(doc.blocks)
    claims, times, failures = [], {}, []
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
        ctx = Context(src, work, seed, budget, doc, {})
        failed_here: list[str] = []
        for name, fn, _ in tqdm(STAGES, desc=f"report {src.name}", unit="stage"):
            t0 = time.perf_counter()
            rows: list = []
            try:
                rows = [(src.name,) + tuple(_cell(c) for c in row) for row in fn(ctx)]
            except Exception as e:  # noqa: BLE001 — one failed stage must not lose the others: it is marked
                why = _stage_failure(e, failed_here, AnalysisError)
                failed_here.append(name)
                failures.append(f"{name} on {src.name}: {why}")
                doc.p(f"{name} could not run on {src.name}: {why}")
                rows = [(src.name, name, "(stage)", "—", "—", f"not measured ({why})")]
            claims.extend(rows)
            times[f"{src.name}: {name}"] = time.perf_counter() - t0
            print(f"  {src.name:>12s} | {name:<24s} {times[f'{src.name}: {name}']:7.1f} s", flush=True)
        if controls_args is not None:
            from .controls import run_controls
            t0 = time.perf_counter()
            try:
                run_controls(src, controls_args, doc, None)
            except Exception as e:  # noqa: BLE001
                why = _stage_failure(e, failed_here, AnalysisError)
                failures.append(f"controls on {src.name}: {why}")
                doc.p(f"The controls could not run on {src.name}: {why}")
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
    with atomic_open(work / "claims.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header] + [[str(c) for c in r] for r in claims])
    atomic_write_text(work / "claims.md", "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                                                   ["| " + " | ".join(md_escape(c).replace("|", "\\|") for c in r) + " |"
                                                    for r in claims]) + "\n")
    md, _ = doc.write(work)
    return {"claims": claims, "times": times, "report": md, "failed": failures}


def _stage_failure(e: BaseException, failed_before: list, analysis_error) -> str:
    """One line saying why a stage failed (a missing earlier result names the stage that failed)."""
    if isinstance(e, KeyError) and failed_before:
        return f"it needs the result of {', '.join(failed_before)}, which failed"
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if isinstance(e, analysis_error) else f"{type(e).__name__}: {msg}"


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
        _work_folder(Path(args.out)).rmdir()          # --out unusable: say so before any work
        sources = resolve_sources(args)
        res = build_report(sources, args.out, seed=int(args.seed), controls_args=args if args.controls else None)
    print(f"report written to {res['report']} ({time.perf_counter() - t0:.0f} s in all)")
    for f in res["failed"]:
        print(f"slt_widgets reproduce: not measured: {f}", file=sys.stderr)
    return 1 if res["failed"] else 0


def main(argv=None) -> int:
    """``python -m slt_widgets.reproduce``: errors as one line on stderr and a non-zero exit status."""
    from .._cli import OneLineParser, run_guarded
    prog = "python -m slt_widgets.reproduce"
    parser = add_arguments(OneLineParser(prog=prog, description=__doc__))
    return run_guarded(run_cli, parser.parse_args(argv), prog)
