"""Controls: is each depth trend learned, or does it come with the architecture?

Every depth trend is recomputed for the same architecture with its untrained initial weights
(same seeded init as training), for nets trained on a clean and a hard corpus build over ≥ 2
seeds, and summarised with the verdict rule of :mod:`.verdicts`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import analysis as A
from ..engine import auc_score
from .verdicts import depth_trend

__all__ = ["TRENDS", "depth_trends", "random_like", "run_controls", "seed_spread"]

# name → (increasing?, description)
TRENDS = {"lda_acc": (True, "LDA accuracy rises (Table 2)"),
          "clusters": (True, "node clusters grow (Fig. 2D, raw)"),
          "clusters_per_live": (True, "node clusters per live node grow (Fig. 2D)"),
          "evr_auc": (True, "EVR AUC rises (Fig. 3C)"),
          "within_auc": (False, "within-class AUC falls (Fig. 3C)"),
          "node_slt_auc": (True, "node SLT AUC grows (Fig. 7A)")}


def depth_trends(model, dev, ev, seed: int, node_samples: int = 1000, lda_train: int | None = 20000) -> dict:
    """Per-layer values ``{trend: [L]}`` of the cheap depth trends (hidden layers; LDA rows also
    include the input), plus ``dead`` nodes per layer."""
    lda = A.lda_layers(model, dev, ev, max_train=lda_train, seed=seed)
    nc = A.node_cluster_counts(model, ev)
    within = [A.within_class_spectra(lda.per_layer[l].projected, lda.eval_labels).auc for l in lda.layers]
    hid = [l for l in lda.layers if l != "input"]
    sp = A.slt_spectra(model, ev, [l for l in hid if l > 1], inputs=False, max_samples=node_samples, seed=seed)
    return {"lda_acc": lda.accuracy, "clusters": nc.n_clusters, "clusters_per_live": nc.per_live_node,
            "evr_auc": np.array([auc_score(e) for e in lda.evr]), "within_auc": np.array(within),
            "node_slt_auc": sp.node_auc_mean, "dead": nc.n_dead}


def random_like(model, seed: int):
    """The same architecture with the seeded initial (untrained) weights, or None if ``model`` was
    not built by :func:`slt_widgets.models.mlp`."""
    from ..models import mlp_from_spec, spec_of
    try:
        spec = spec_of(model)
    except (TypeError, ValueError):
        return None
    torch.manual_seed(seed)
    return mlp_from_spec(spec).eval()


def _train_on(corpus_dir: Path, spec_model, seed: int, epochs: int, max_seconds: float, cache: Path | None = None):
    """Train the control net (or reuse ``cache`` when it holds one of the same architecture and
    corpus: a rerun of the report then skips the training, the slow part of the controls)."""
    from ..datasets import FrameDataset
    from ..models import load_checkpoint, mlp_from_spec, save_checkpoint, spec_of, train
    dv, ev = (FrameDataset.load(corpus_dir / f"{s}.npz") for s in ("dev", "eval"))
    spec = spec_of(spec_model)
    if cache is not None and cache.is_file() and not cache.is_symlink():
        from ..models import CheckpointError
        try:
            m, info = load_checkpoint(cache)
        except CheckpointError:          # a damaged cache entry is trained again and overwritten
            info = None
        if info and info["spec"] == spec and info["meta"].get("corpus") == str(Path(corpus_dir).resolve()):
            return m, dv, ev
    tr = FrameDataset.load(corpus_dir / "train.npz")
    torch.manual_seed(seed)
    m = mlp_from_spec(spec)
    hist = train(m, tr, dv, epochs=epochs, seed=seed, max_seconds=max_seconds, progress=False)
    m.eval()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(cache, m, tr.class_names, tr.feature_shape, half=False,
                        meta={"corpus": str(Path(corpus_dir).resolve()), "seed": seed,
                              "epochs_run": hist["epochs_run"], "stopped": hist["stopped"],
                              "best_dev_acc": float(max(hist["dev_acc"]))})
    return m, dv, ev


def run_controls(src, args, doc, fmt_series) -> list:
    """Add the controls section for ``src`` to ``doc``; returns rows of the control table."""
    seed = int(args.seed)
    cols, results = [], []
    trained = depth_trends(src.model, src.dev, src.eval, seed)
    cols.append("trained")
    results.append(trained)
    rnd = random_like(src.model, seed)
    if rnd is not None:
        cols.append("random init")
        results.append(depth_trends(rnd, src.dev, src.eval, seed))
    else:
        doc.p("Random-weights control skipped: the model was not built by slt_widgets.models.mlp.")
    only = getattr(args, "corpus_controls_for", None)
    for label, path in (("clean", args.clean_corpus), ("hard", args.hard_corpus)):
        if path and only and src.name not in only:
            doc.p(f"The {label}-corpus control was run for {', '.join(only)} only (--corpus-controls-for).")
            continue
        if not path:
            doc.p(f"The {label}-corpus control was not run (give --{label}-corpus DIR with train/dev/eval.npz).")
            continue
        for s in range(seed, seed + max(2, int(args.control_seeds))):
            cache_dir = getattr(args, "control_cache", None)
            cache = Path(cache_dir) / f"{src.name}_{label}_seed{s}.pt" if cache_dir else None
            m, dv, ev = _train_on(Path(path), src.model, s, int(args.control_epochs), float(args.control_seconds),
                                  cache)
            dv = _limit(dv, args.max_frames, s)
            ev = _limit(ev, args.max_frames, s + 1)
            cols.append(f"{label} seed {s}")
            results.append(depth_trends(m, dv, ev, s))
    rows = []
    for key, (inc, desc) in TRENDS.items():
        verdicts = [depth_trend(r[key], inc)[1] for r in results]
        hold = [v.startswith("holds") for v in verdicts]
        if not hold[0]:
            summary = "no trend in the trained net"
        elif len(hold) > 1 and hold[1] and cols[1] == "random init":
            summary = "comes with the architecture (random weights show it too)"
        else:
            summary = "learned (absent with random weights)" if len(hold) > 1 and cols[1] == "random init" else "—"
        extra = [v for c, v in zip(cols, verdicts) if c.startswith(("clean", "hard"))]
        if extra:
            summary += f"; corpus builds: {sum(e.startswith('holds') for e in extra)}/{len(extra)} runs hold"
        rows.append([desc] + [v.split(" (")[0] for v in verdicts] + [summary])
    doc.h(f"Controls ({src.name})", 3)
    doc.p("Each cell is the verdict of the depth trend for that network (rule above).")
    doc.table(["trend"] + cols + ["learned or architectural?"], rows)
    doc.table(["network", "dead nodes per hidden layer"], [[c, ", ".join(str(int(d)) for d in r["dead"])]
                                                          for c, r in zip(cols, results)])
    spread = seed_spread(cols, results)
    if spread:
        doc.p("Spread over the training seeds of each corpus build: per layer, the lowest and highest "
              "value of the seeds (LDA rows start with the input features).")
        doc.table(["trend", "corpus", "per layer: min–max over seeds"], spread)
    return rows


def seed_spread(cols: list, results: list) -> list:
    """Rows ``[trend, corpus, "a–b, …"]``: per layer the min and max of each trend over the seeds of
    each corpus build (columns named ``"<corpus> seed <s>"``; corpora with one seed are skipped)."""
    rows = []
    groups: dict = {}
    for c, r in zip(cols, results):
        if " seed " in c:
            groups.setdefault(c.split(" seed ")[0], []).append(r)
    for key, (_, desc) in TRENDS.items():
        for label, runs in groups.items():
            if len(runs) < 2:
                continue
            vals = np.array([np.asarray(r[key], dtype=float) for r in runs])      # [seeds, layers]
            lo, hi = np.nanmin(vals, 0), np.nanmax(vals, 0)
            rows.append([desc, label, ", ".join(f"{a:.3g}–{b:.3g}" for a, b in zip(lo, hi))])
    return rows


def _limit(ds, max_frames, seed):
    from .sources import limit_frames
    return limit_frames(ds, max_frames, seed)
