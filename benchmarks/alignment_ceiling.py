"""How far can moving pocketsphinx's boundaries take frame agreement? Ceilings, on cached alignments.

Aligns the shipped splits once (default aligner: ``cmudict``, and ``oracle`` = the true phone
sequence), caches each utterance's phone segments (``--cache``, JSON lines, resumable), then asks,
without aligning again:

* **held-out shifts**: one offset per phone-class transition fitted on ``dev`` (minus the median
  signed error, as ``fit_espeak_timing.py``), measured on ``eval`` (other sentences and voices) and on
  ``xeng`` (Festival, its own ground truth);
* **in-sample ceilings**: the same table fitted on the very split it is measured on, per class pair
  and per phone pair (pairs seen ≥ 10 times, class pair otherwise): no held-out table can beat
  these by much, so they bound what per-transition corrections can give;
* **spectral-change refinement**: each boundary moved to the largest change of the log-Mel features
  (``|f[i] - f[i - 2]|``) within ±1 frame.

    OMP_NUM_THREADS=1 python benchmarks/alignment_ceiling.py --cache /tmp/align_segments.jsonl

Agreement is frame-label agreement with the split's true labels over the aligned utterances.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_alignment as bench  # noqa: E402
from fit_espeak_timing import fit  # noqa: E402
from slt_widgets.datasets import FrameDataset  # noqa: E402
from slt_widgets.datasets.speech.align import Aligner, AlignmentError  # noqa: E402
from slt_widgets.datasets.speech.boundaries import label_runs, matched_boundaries, shift_boundaries, transition  # noqa: E402,E501
from slt_widgets.datasets.speech.phonemes import frame_labels  # noqa: E402

CONDS = ("cmudict", "oracle")


def build_cache(path: Path, splits: list[str]) -> list[dict]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done[(r["split"], r["utt"], r["cond"])] = r
    aligner = Aligner()
    for split in splits:
        ds = FrameDataset.load(bench.DATA / f"{split}.npz")
        for u in range(len(ds.utt_bounds)):
            wave, truth, text = bench.utterance(ds, u)
            for cond in CONDS:
                if (split, u, cond) in done:
                    continue
                try:
                    al = aligner.align_pronounced(wave, bench.oracle_words(truth)) if cond == "oracle" \
                        else aligner.align(wave, text)
                    r = {"ok": True, "segments": al.segments}
                except AlignmentError as e:
                    r = {"ok": False, "reason": e.reason}
                r.update(split=split, utt=u, cond=cond)
                done[(split, u, cond)] = r
                with open(path, "a") as f:
                    f.write(json.dumps(r) + "\n")
            if (u + 1) % 20 == 0:
                print(f"{split}: {u + 1}/{len(ds.utt_bounds)}", flush=True)
    return list(done.values())


class Splits:
    def __init__(self):
        self._ds = {}

    def get(self, split) -> FrameDataset:
        if split not in self._ds:
            self._ds[split] = FrameDataset.load(bench.DATA / f"{split}.npz")
        return self._ds[split]

    def truth(self, split, u) -> np.ndarray:
        lo, hi = self.get(split).utt_bounds[u]
        return self.get(split).labels[lo:hi]

    def feats(self, split, u) -> np.ndarray:
        ds = self.get(split)
        lo, hi = ds.utt_bounds[u]
        return ds._frames[ds._frame_index[lo]:ds._frame_index[lo] + (hi - lo)].astype(np.float32)


def selected(rows, split, cond):
    return [r for r in rows if r["split"] == split and r["cond"] == cond and r["ok"]]


def errors(rows, sp: Splits, split, cond, key):
    """Bench-style rows (signed errors in ms, kinds by ``key(a, b)`` on the aligner's side) for :func:`fit`."""
    out = []
    for r in selected(rows, split, cond):
        t = sp.truth(split, r["utt"])
        h = frame_labels([tuple(s) for s in r["segments"]], len(t))
        err, _, hk = matched_boundaries(h, t, key)
        out.append({"ok": True, "boundary_signed_ms": (10 * err).tolist(), "boundary_hyp_kind": hk})
    return out


def phone_pair(a, b):
    return f"{a}>{b}"


def agreement(rows, sp: Splits, split, cond, adjust=None) -> float:
    agree = total = 0
    for r in selected(rows, split, cond):
        t = sp.truth(split, r["utt"])
        segs = [tuple(s) for s in r["segments"]]
        h = frame_labels(segs, len(t)) if adjust is None else adjust(segs, len(t), split, r["utt"])
        agree += int((h == t).sum())
        total += len(t)
    return agree / max(total, 1)


def shifted(table, key=None):
    def adjust(segs, n, split, u):
        if key is None:
            return frame_labels(shift_boundaries(segs, table)[0], n)
        # phone-pair table: per-boundary lookup with the class pair as fallback
        segs = list(segs)
        offs = {}
        for i in range(len(segs) - 1):
            k = key(segs[i][2], segs[i + 1][2])
            offs[i] = table.get(k, table.get(transition(segs[i][2], segs[i + 1][2]), 0))
        edges = [segs[0][0]] + [s[1] for s in segs[:-1]] + [segs[-1][1]]
        for i in range(len(segs) - 1):
            lo, hi = edges[i] + 0.01, edges[i + 2] - 0.01
            if offs[i] and lo <= hi:
                edges[i + 1] = min(max(edges[i + 1] + 0.01 * offs[i], lo), hi)
        return frame_labels([(edges[i], edges[i + 1], segs[i][2]) for i in range(len(segs))], n)
    return adjust


def refined(sp: Splits, radius=1, lag=2):
    def adjust(segs, n, split, u):
        h = frame_labels(segs, n).copy()
        f = sp.feats(split, u)
        change = np.r_[np.zeros(lag), np.linalg.norm(f[lag:] - f[:-lag], axis=1)]
        rs = label_runs(h)
        start = [s for _, s, _ in rs]
        new = list(start)
        for j in range(1, len(rs)):
            lo = max(new[j - 1] + 1, start[j] - radius)
            hi = min(start[j] + radius, (start[j + 1] - 1) if j + 1 < len(rs) else n - 1)
            if lo <= hi:
                cand = np.arange(lo, hi + 1)
                new[j] = int(cand[np.argmax(change[cand])])
        out = np.empty_like(h)
        for j, (lab, _, _) in enumerate(rs):
            out[new[j]:(new[j + 1] if j + 1 < len(rs) else n)] = lab
        return out
    return adjust


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True, help="JSON-lines cache of the alignments (resumable)")
    args = ap.parse_args(argv)
    rows = build_cache(Path(args.cache), ["dev", "eval", "xeng"])
    sp = Splits()
    res = {}
    for cond in CONDS:
        dev_table, _ = fit(errors(rows, sp, "dev", cond, transition), 30)
        r = {"aligned": {s: len(selected(rows, s, cond)) for s in ("dev", "eval", "xeng")}}
        for split in ("eval", "xeng"):
            r[split] = {"as aligned": agreement(rows, sp, split, cond),
                        "class shifts fitted on dev": agreement(rows, sp, split, cond, shifted(dev_table)),
                        "class shifts fitted on itself": agreement(
                            rows, sp, split, cond, shifted(fit(errors(rows, sp, split, cond, transition), 15)[0])),
                        "spectral refinement ±1 frame": agreement(rows, sp, split, cond, refined(sp))}
        own = fit(errors(rows, sp, "eval", cond, transition), 30)[0]
        pairs = fit(errors(rows, sp, "eval", cond, phone_pair), 10)[0]
        r["eval"]["phone-pair shifts fitted on itself"] = agreement(rows, sp, "eval", cond,
                                                                    shifted({**own, **pairs}, phone_pair))
        r["dev table"] = dev_table
        res[cond] = r
        for split in ("eval", "xeng"):
            for k, v in r[split].items():
                print(f"{cond:8s} {split:5s} {k:38s} {100 * v:5.1f} %")
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
