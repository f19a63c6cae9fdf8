"""Rebuild the demo networks and data from scratch: ``python -m slt_widgets.models.train_demo``.

1. Build the speech corpus with the corpus builder (or read ``--corpus DIR``).
2. Train (a) 5 × 256 ReLU, no regularisation, up to 25 epochs, and (b) the wide net with batch
   norm + 20 % dropout (width ``--wide-width``; its epochs and minutes are capped, see ``--help``).
3. Save both checkpoints (float16) and the dev/eval/xeng splits, subsampled by whole utterances
   (audio and splicing stay valid, every class kept) so the package data fits ``--budget-mb``.
4. Print the Table 1 analogue (frame accuracy of both nets on train/dev/eval/xeng) and write it to
   ``table1.json``.

Seeds fix the corpus, the initialisation, the batch order and the subsampling, so a rerun on
the same machine and library versions gives the same files.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..datasets.frames import FrameDataset
from .checkpoint import load_checkpoint, save_checkpoint
from .mlp import mlp
from .train import evaluate, train
from .utterances import eval_sample as _eval_sample, select_utterances

__all__ = ["main", "select_utterances", "utterance_order", "fit_split", "wide_checkpoint_mb", "run"]

SPLITS = ("train", "dev", "eval", "xeng")
SHIPPED = ("dev", "eval", "xeng")
SHARES = {"eval": 0.5, "dev": 0.3, "xeng": 0.2}     # of the data budget left after the checkpoints
FEATURES = {"sample_rate": 16000, "n_mels": 23, "frame_length_ms": 25, "frame_shift_ms": 10, "context": 5,
            "normalisation": "per-utterance mean and variance", "layout": "band-major (23, 11)"}


# ----------------------------------------------------------------------------- data subsetting

def utterance_order(ds: FrameDataset, seed: int = 0) -> np.ndarray:
    """All utterance indices ``[U]`` in the order they are kept when a split is cut down.

    First, in a seeded random order, each utterance that brings a class not yet covered (so a
    prefix covers every class present); then the rest round-robin over voices (so a prefix keeps
    every voice).
    """
    rng = np.random.default_rng(seed)
    n_utt = len(ds.utt_bounds)
    perm = rng.permutation(n_utt)
    classes_of = [set() for _ in range(n_utt)]
    for u, y in zip(ds._utt_of_sample, ds.labels):
        classes_of[u].add(int(y))
    covered, first = set(), []
    for u in perm:
        if classes_of[u] - covered:
            covered |= classes_of[u]
            first.append(int(u))
    taken = set(first)
    voices = ds.utt_voice or ("",) * n_utt
    queues: dict[str, list[int]] = {}
    for u in perm:
        if int(u) not in taken:
            queues.setdefault(voices[u], []).append(int(u))
    rest = []
    while any(queues.values()):
        for v in list(queues):
            if queues[v]:
                rest.append(queues[v].pop(0))
    return np.array(first + rest, dtype=np.int64)


def _saved_size(ds: FrameDataset, tmpdir: Path) -> int:
    p = tmpdir / "probe.npz"
    ds.save(p)
    size = p.stat().st_size
    p.unlink()
    return size


def fit_split(ds: FrameDataset, max_bytes: int, seed: int = 0) -> FrameDataset:
    """The longest prefix of :func:`utterance_order` whose saved ``.npz`` is at most ``max_bytes``."""
    order = utterance_order(ds, seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if _saved_size(ds, tmp) <= max_bytes:
            return select_utterances(ds, order, ds.name)
        lo, hi = 0, len(order)            # invariant: prefix lo fits (0 trivially), prefix hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _saved_size(select_utterances(ds, order[:mid]), tmp) <= max_bytes:
                lo = mid
            else:
                hi = mid
    if lo == 0:
        raise ValueError(f"{ds.name}: not even one utterance fits in {max_bytes / 1e6:.2f} MB; raise --budget-mb")
    return select_utterances(ds, order[:lo], ds.name)


def wide_checkpoint_mb(width: int, d_in: int = 253, d_out: int = 40, layers: int = 5) -> float:
    """Size of a float16 wide-net checkpoint in MB (weights, biases and batch-norm statistics)."""
    params = d_in * width + (layers - 1) * width * width + width * d_out + layers * width + d_out
    return (2 * params + 2 * 4 * layers * width) / 1e6


# ----------------------------------------------------------------------------- pipeline
def _load_corpus(corpus: Path) -> dict[str, FrameDataset]:
    missing = [s for s in SPLITS if not (corpus / f"{s}.npz").is_file() and s != "xeng"]
    if missing:
        raise FileNotFoundError(f"corpus folder {corpus} lacks {', '.join(s + '.npz' for s in missing)}; build it with "
                                "python -m slt_widgets.datasets.speech or omit --corpus to build one now")
    return {s: FrameDataset.load(corpus / f"{s}.npz") for s in SPLITS if (corpus / f"{s}.npz").is_file()}


def _train_subset(ds: FrameDataset, max_utts: int | None, seed: int) -> FrameDataset:
    if max_utts is None or max_utts >= len(ds.utt_bounds):
        return ds
    keep = np.sort(np.random.default_rng(seed).permutation(len(ds.utt_bounds))[:max_utts])
    return select_utterances(ds, keep, ds.name)


def run(args) -> dict:
    """Run the whole rebuild from parsed arguments (see :func:`main`); returns the Table 1 dict."""
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    build_tmp = None
    if args.corpus:
        corpus = Path(args.corpus)
        manifest_path = corpus / "manifest.json"
        corpus_info = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    else:
        from ..datasets.speech import CorpusConfig, build_speech_corpus
        build_tmp = Path(tempfile.mkdtemp(prefix="slt_demo_corpus_"))
        corpus = build_tmp
        cfg = CorpusConfig.preset_config(args.preset)
        n = 300 if args.quick else args.utterances
        print(f"building a {args.preset!r} corpus of {n} utterances (seed {args.seed}) in {corpus}", flush=True)
        corpus_info = build_speech_corpus(corpus, n, seed=args.seed, config=cfg, check_coverage=not args.quick)
    data = _load_corpus(corpus)
    print("corpus:", ", ".join(f"{s} {len(d)} frames / {len(d.utt_bounds)} utts" for s, d in data.items()), flush=True)
    train_ds = _train_subset(data["train"], args.train_utterances, args.seed)
    d_in, k = train_ds.n_features, train_ds.n_classes
    if getattr(args, "paper_wide", False):
        from .train_paper_wide import run_paper_wide
        info = {"seed": corpus_info.get("seed", args.seed), "n_utterances": corpus_info.get("n_utterances"),
                "preset": (corpus_info.get("config") or {}).get("preset"), "frames": {s: len(d) for s, d in data.items()},
                "train_utterances_used": int(len(train_ds.utt_bounds))}
        table = run_paper_wide(args, train_ds, data, info)
        if build_tmp is not None and not args.keep_corpus:
            shutil.rmtree(build_tmp, ignore_errors=True)
        return table

    nets = {}
    plans = {
        "small": dict(hidden=(args.small_width,) * 5, batch_norm=False, dropout=0.0, epochs=args.small_epochs,
                      max_minutes=args.small_max_minutes, max_batches=args.small_max_batches),
        "wide": dict(hidden=(args.wide_width,) * 5, batch_norm=True, dropout=0.2, epochs=args.wide_epochs,
                     max_minutes=args.wide_max_minutes, max_batches=args.wide_max_batches),
    }
    for name, plan in plans.items():
        reuse = getattr(args, f"reuse_{name}", None)
        if reuse:
            model, info = load_checkpoint(reuse)
            spec = info["spec"]
            if (spec["hidden"] != list(plan["hidden"]) or spec["d_in"] != d_in
                    or bool(spec.get("batch_norm")) != plan["batch_norm"]):
                raise ValueError(f"--reuse-{name} {reuse} is a {spec} net, not {plan['hidden']} with "
                                 f"batch_norm={plan['batch_norm']}")
            done = info["meta"]["training"]
            hist = dict(info["meta"]["history"], epochs_run=done["epochs_run"], batches=done["batches"],
                        best_epoch=done["best_epoch"] - 1, stopped=done["stopped"], seconds=done["minutes"] * 60)
            print(f"{name}: reused {reuse} (trained by an earlier run with the same settings)", flush=True)
            plan = dict(plan, epochs=done["epoch_cap"], max_batches=done["batch_cap"], max_minutes=done["minute_cap"])
            nets[name] = (model, plan, hist)
            continue
        torch.manual_seed(args.seed)
        model = mlp(d_in, plan["hidden"], k, batch_norm=plan["batch_norm"], dropout=plan["dropout"])
        print(f"training {name}: {len(plan['hidden'])} x {plan['hidden'][0]}, batch_norm={plan['batch_norm']}, "
              f"dropout={plan['dropout']}, up to {plan['epochs']} epochs / {plan['max_batches']} batches / "
              f"{plan['max_minutes']} min", flush=True)
        hist = train(model, train_ds, data["dev"], epochs=plan["epochs"], lr=args.lr, batch_size=args.batch_size,
                     seed=args.seed, patience=args.patience, max_seconds=plan["max_minutes"] * 60,
                     max_batches=plan["max_batches"], threads=args.threads, progress=not args.no_progress)
        print(f"  {name}: {hist['epochs_run']} epochs in {hist['seconds'] / 60:.1f} min, stopped by "
              f"{hist['stopped']}, best dev acc {max(hist['dev_acc']):.3f} (epoch {hist['best_epoch'] + 1})", flush=True)
        nets[name] = (model, plan, hist)

    # Table 1 analogue
    train_eval, train_note = _eval_sample(train_ds, args.max_train_eval_frames, args.seed)
    rows = {}
    for name, (model, _, _) in nets.items():
        rows[name] = {"train": evaluate(model, train_eval)["accuracy"]}
        for s in ("dev", "eval", "xeng"):
            if s in data:
                rows[name][s] = evaluate(model, data[s])["accuracy"]
    counts = np.bincount(data["eval"].labels, minlength=k)
    table = {"rows": rows, "columns": [s for s in SPLITS if s in data or s == "train"],
             "train_scored_on": train_note,
             "majority_class_eval": float(counts.max() / counts.sum()),
             "architectures": {n: {"hidden": list(p["hidden"]), "batch_norm": p["batch_norm"], "dropout": p["dropout"]}
                               for n, (_, p, _) in nets.items()},
             "training": {n: {"epochs_run": h["epochs_run"], "batches": h["batches"], "best_epoch": h["best_epoch"] + 1,
                              "stopped": h["stopped"], "minutes": round(h["seconds"] / 60, 2), "epoch_cap": p["epochs"],
                              "batch_cap": p["max_batches"], "minute_cap": p["max_minutes"],
                              "batch_size": args.batch_size, "lr": args.lr} for n, (_, p, h) in nets.items()},
             "corpus": {"seed": corpus_info.get("seed", args.seed), "n_utterances": corpus_info.get("n_utterances"),
                        "preset": (corpus_info.get("config") or {}).get("preset"),
                        "frames": {s: len(d) for s, d in data.items()},
                        "train_utterances_used": int(len(train_ds.utt_bounds))},
             "note": "Synthetic speech (eSpeak NG voices; xeng = Festival) is easier than the paper's WSJ; "
                     "dev/eval voices never occur in training."}

    # package data: checkpoints first, then the splits cut to the remaining budget
    from .._files import make_private_dir
    stage = make_private_dir(out, ".staging-")      # unguessable: a planted symlink is never written through
    for name, (model, plan, hist) in nets.items():
        meta = {"name": name, "table1": rows[name], "features": FEATURES, "history": {
            key: hist[key] for key in ("train_loss", "train_acc", "dev_loss", "dev_acc", "lr")},
            "training": table["training"][name], "corpus": table["corpus"], "seed": args.seed}
        save_checkpoint(stage / f"demo_{name}.pt", model, train_ds.class_names, train_ds.feature_shape, meta=meta,
                        half=True)
    ckpt_bytes = sum((stage / f"demo_{n}.pt").stat().st_size for n in nets)
    left = int(args.budget_mb * 1e6) - ckpt_bytes - 20_000
    if left <= 0:
        raise ValueError(f"the checkpoints alone take {ckpt_bytes / 1e6:.1f} MB > --budget-mb {args.budget_mb}; "
                         "lower --wide-width")
    shipped = {}
    for s in SHIPPED:
        if s in data:
            shares = {x: SHARES[x] for x in SHIPPED if x in data}
            cap = int(left * shares[s] / sum(shares.values()))
            shipped[s] = fit_split(data[s], cap, args.seed)
            shipped[s].save(stage / f"{s}.npz")
    # what users get: the float16-stored weights, scored on the shipped subsets
    reloaded = {n: load_checkpoint(stage / f"demo_{n}.pt")[0] for n in nets}
    table["shipped"] = {s: {"frames": len(d), "utterances": int(len(d.utt_bounds)),
                            "voices": sorted(set(d.utt_voice or ())), "audio": d.has_audio,
                            "accuracy": {n: evaluate(m, d)["accuracy"] for n, m in reloaded.items()}}
                        for s, d in shipped.items()}
    table["bytes"] = {f.name: f.stat().st_size for f in sorted(stage.iterdir())}
    table["seconds"] = round(time.perf_counter() - t_start, 1)
    table["versions"] = {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}
    (stage / "table1.json").write_text(json.dumps(table, indent=1))
    for f in sorted(stage.iterdir()):
        f.replace(out / f.name)
    stage.rmdir()
    if build_tmp is not None:
        if args.keep_corpus:
            print(f"corpus kept in {build_tmp}")
        else:
            shutil.rmtree(build_tmp, ignore_errors=True)
    print(format_table(table))
    print(f"wrote {', '.join(table['bytes'])}, table1.json to {out} "
          f"({sum(table['bytes'].values()) / 1e6:.1f} MB) in {table['seconds'] / 60:.1f} min")
    return table


def format_table(table: dict) -> str:
    """Table 1 as text: one row per network, frame accuracy (%) per split."""
    cols = table["columns"]
    lines = ["Table 1 analogue: frame accuracy (%)", f"{'network':<28}" + "".join(f"{c:>8}" for c in cols)]
    for name, row in table["rows"].items():
        a = table["architectures"][name]
        label = f"{name} ({len(a['hidden'])}x{a['hidden'][0]}{', BN+dropout' if a['batch_norm'] else ''})"
        lines.append(f"{label:<28}" + "".join(f"{100 * row[c]:8.1f}" if c in row else f"{'—':>8}" for c in cols))
    lines.append(f"(train scored on {table['train_scored_on']}; majority class on eval "
                 f"{100 * table['majority_class_eval']:.1f} %)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from .._cli import OneLineParser        # a bad option is one line, as in python -m slt_widgets
    p = OneLineParser(prog="python -m slt_widgets.models.train_demo", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", help="folder with train/dev/eval[/xeng].npz (default: build one now)")
    p.add_argument("--out", default=None, help="where to write the demo data (default: slt_widgets/data; "
                                               "with --quick: ./demo_quick)")
    p.add_argument("--quick", action="store_true", help="tiny corpus and nets, minutes: a smoke test")
    p.add_argument("--paper-wide", action="store_true",
                   help="train only the paper's 5 x 2048 net (batch norm, 20 %% dropout), not shipped: written to "
                        "--out (default ./paper_wide) as paper_wide.pt (70 MB) plus a resumable state "
                        "paper_wide_state.pt (~280 MB) saved after every epoch; rerun the same command to resume. "
                        "Caps: --wide-epochs, --wide-max-minutes (an epoch is started only if it fits), "
                        "--train-utterances. ~1 s per batch of 512 on one core")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="med", help="corpus preset when building (clean, med, hard)")
    p.add_argument("--utterances", type=int, default=5000, help="corpus size when building")
    p.add_argument("--train-utterances", type=int, default=None, help="train on this many utterances only")
    p.add_argument("--small-width", type=int, default=256)
    p.add_argument("--reuse-small", default=None,
                   help="take the small net from this checkpoint (written by an earlier run) instead of training it")
    p.add_argument("--reuse-wide", default=None,
                   help="take the wide net from this checkpoint (written by an earlier run, e.g. one that trained "
                        "it in parallel with the small net) instead of training it")
    p.add_argument("--small-epochs", type=int, default=25)
    p.add_argument("--small-max-batches", type=int, default=26_000,
                   help="optimiser-step cap of the small net (deterministic; ~8 epochs of the default corpus)")
    p.add_argument("--small-max-minutes", type=float, default=30.0, help="wall-time safety cap of the small net")
    p.add_argument("--wide-width", type=int, default=512,
                   help="width of the wide net (paper: 2048, which is 35 MB at float16 and far too slow on a "
                        "2-core CPU; 512 trains ~7 epochs in ~40 min on one core, 1024 would get ~2)")
    p.add_argument("--wide-epochs", type=int, default=100, help="epoch cap of the wide net (paper: 100)")
    p.add_argument("--wide-max-batches", type=int, default=24_000,
                   help="optimiser-step cap of the wide net (deterministic; ~7.5 epochs of the default corpus)")
    p.add_argument("--wide-max-minutes", type=float, default=75.0, help="wall-time safety cap of the wide net")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--budget-mb", type=float, default=40.0, help="total size of the package data")
    p.add_argument("--max-train-eval-frames", type=int, default=100_000,
                   help="score the training split on at most this many frames")
    p.add_argument("--max-dev-frames", type=int, default=None,
                   help="--paper-wide: monitor dev on at most this many frames (whole seeded utterances)")
    p.add_argument("--max-score-frames", type=int, default=None,
                   help="--paper-wide: score dev/eval/xeng for Table 1 on at most this many frames each "
                        "(whole seeded utterances; default all)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest on a busy 2-core machine: 2 threads spin-wait on each other)")
    p.add_argument("--keep-corpus", action="store_true", help="keep a corpus built here")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    """Console entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.small_epochs = min(args.small_epochs, 3)
        args.wide_epochs = min(args.wide_epochs, 2)
        args.wide_width = min(args.wide_width, 128)
        args.small_max_minutes = min(args.small_max_minutes, 2.0)
        args.small_max_batches = args.wide_max_batches = None
        args.wide_max_minutes = min(args.wide_max_minutes, 2.0)
    if args.out is None:
        args.out = ("paper_wide" if args.paper_wide else "demo_quick" if args.quick
                    else str(Path(__file__).resolve().parent.parent / "data"))
    if args.paper_wide:
        run(args)
        return 0
    size = wide_checkpoint_mb(args.wide_width) + wide_checkpoint_mb(args.small_width)
    if size >= args.budget_mb:
        raise SystemExit(f"--wide-width {args.wide_width} needs {size:.1f} MB of checkpoints, too much for "
                         f"--budget-mb {args.budget_mb} with data; choose a smaller width")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
