"""Fine-tuning the demo net on a few minutes of aligned "own" speech, scored on held-out utterances.

The shipped ``xeng`` split (Festival's ``slt`` voice, never in training) stands in for a user: its
first ``--n-train`` utterances go through ``load_recordings`` (audio + text only, aligned offline)
and fine-tune a copy of the small demo net with :func:`slt_widgets.models.train` (it trains the
model it is given, in place: starting from the demo weights is fine-tuning); the last
``--n-test`` utterances are scored before and after with Festival's *own* labels, never seen by
the aligner. The corpus's eval split is scored too, to see what the net forgets.

    OMP_NUM_THREADS=1 python benchmarks/bench_finetune.py
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slt_widgets import load_demo  # noqa: E402
from slt_widgets.analysis import predict  # noqa: E402
from slt_widgets.datasets import FrameDataset, load_recordings  # noqa: E402
from slt_widgets.models import train  # noqa: E402

DATA = ROOT / "slt_widgets" / "data"


def utterances(ds: FrameDataset, us) -> list:
    out = []
    for u in us:
        a0 = int(ds._audio_offsets[u])
        a1 = int(ds._audio_offsets[u + 1]) if u + 1 < len(ds._audio_offsets) else len(ds._audio)
        out.append(((ds._audio[a0:a1], ds.audio_rate), ds.utt_text[u]))
    return out


def frames_of(ds: FrameDataset, us) -> np.ndarray:
    return np.concatenate([np.arange(*ds.utt_bounds[u]) for u in us])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=30)
    ap.add_argument("--n-test", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=2e-4)
    args = ap.parse_args(argv)
    xeng = FrameDataset.load(DATA / "xeng.npz")
    n = len(xeng.utt_bounds)
    if args.n_train + args.n_test > n:
        raise SystemExit(f"xeng has {n} utterances; --n-train + --n-test must not exceed it")
    t0 = time.perf_counter()
    mine = load_recordings(utterances(xeng, range(args.n_train)), progress=False)
    t_align = time.perf_counter() - t0
    test_idx = frames_of(xeng, range(n - args.n_test, n))
    model, ev = load_demo("small", "eval")
    ev_idx = np.arange(0, len(ev), 4)             # every 4th eval frame: quick and unbiased

    def score(m):
        p = predict(m, xeng, test_idx)
        q = predict(m, ev, ev_idx)
        return float((p == xeng.labels[test_idx]).mean()), float((q == ev.labels[ev_idx]).mean())

    before = score(model)
    k = len(mine.utt_bounds)
    cut = max(1, k // 5)                            # a fifth of the user's utterances as dev
    dev = mine.subset(frames_of(mine, range(k - cut, k)), name="mine-dev")
    tr = mine.subset(frames_of(mine, range(k - cut)), name="mine-train")
    tuned = copy.deepcopy(model)
    t1 = time.perf_counter()
    hist = train(tuned, tr, dev, epochs=args.epochs, lr=args.lr, batch_size=256, patience=2, progress=False)
    t_train = time.perf_counter() - t1
    after = score(tuned)
    out = {"train_utterances_aligned": k, "left_out": len(mine.meta["report"].skipped),
           "train_minutes": round(len(tr) * 0.01 / 60, 2), "train_frames": len(tr), "dev_frames": len(dev),
           "test_utterances": args.n_test, "test_frames": int(len(test_idx)),
           "held_out_xeng_before": round(before[0], 4), "held_out_xeng_after": round(after[0], 4),
           "corpus_eval_before": round(before[1], 4), "corpus_eval_after": round(after[1], 4),
           "epochs_run": hist["epochs_run"], "best_epoch": hist["best_epoch"], "lr": args.lr,
           "align_seconds": round(t_align, 1), "train_seconds": round(t_train, 1)}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
