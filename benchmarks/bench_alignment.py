"""Forced alignment (`load_recordings`) against the built-in corpus's exact phone timing.

The shipped dev/eval splits carry each utterance's audio (16 kHz), its text and frame labels
made from eSpeak NG's own phoneme events. Each utterance is aligned from its audio and text
only, three ways:

* ``cmudict``  – the default: CMUdict pronunciations, eSpeak NG for missing words;
* ``espeak``   – eSpeak NG's pronunciation of each word on its own, for every word;
* ``oracle``   – the utterance's true phone sequence (from its labels, cut into "words" at
  pauses): timing alone, with no pronunciation difference at all.

``cmudict`` − ``oracle`` is the part of the error that pronunciation causes; ``oracle`` is what
the acoustic model's boundary placement gives. Each condition also takes ``+timing`` (boundaries
moved by eSpeak NG's per-transition offsets, ``Aligner(timing="espeak")``, fitted on ``dev`` by
``fit_espeak_timing.py``: measure it on ``eval`` and ``xeng``) and, but for ``oracle``, ``+variants``
(eSpeak NG's pronunciation offered to the decoder as an alternative of each dictionary word).
``--decoder topn=32,tmatfloor=0.05`` overrides pocketsphinx settings for every condition (``frate``
changes the frame shift the times are read with too); write those runs to their own ``--out``.

Reported per condition: utterances aligned / left out, frame-label agreement (all frames, and
within ±1 frame), boundary error in ms (median, 90th percentile) over the boundaries of phones
matched in order between the two label sequences, per-class agreement, and the SIGNED boundary
error (hypothesis − truth, ms: mean, median, share early / exact / late) overall, at sharp edges
(vowel <-> fricative/stop, vowel -> nasal), at the other ("soft") edges and per phone-class
transition (``signed_by_transition``, e.g. ``"approx>vowel"``): a framing offset between the two
systems would shift every transition alike.

    OMP_NUM_THREADS=1 python benchmarks/bench_alignment.py --out /tmp/align.jsonl   # resumable
    python benchmarks/bench_alignment.py --limit 8 --splits eval                    # quick look
    python benchmarks/bench_alignment.py --splits eval,xeng --conditions cmudict,cmudict+timing --by-split

Results go to ``--out`` as one JSON line per (split, utterance, condition); a rerun skips the
lines already there and prints the summary of all of them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slt_widgets.datasets import FrameDataset, load_recordings  # noqa: E402
from slt_widgets.datasets.speech.align import Aligner, AlignmentError  # noqa: E402
from slt_widgets.datasets.speech.boundaries import SHARP, label_runs, matched_boundaries  # noqa: E402
from slt_widgets.datasets.speech.phonemes import PHONEME_CLASSES, frame_labels  # noqa: E402

DATA = ROOT / "slt_widgets" / "data"
SIL = PHONEME_CLASSES.index("SIL")
CONDITIONS = ("cmudict", "espeak", "oracle")
"""The default set; any of them takes ``+variants`` (eSpeak NG variants offered to the decoder, not for
``oracle``) and ``+timing`` (boundaries moved to eSpeak NG's conventions), e.g. ``cmudict+timing``."""
runs = label_runs


def compare(hyp: np.ndarray, truth: np.ndarray) -> dict:
    """Agreement and boundary errors of hypothesis frame labels ``[T]`` against the truth ``[T]``."""
    agree = hyp == truth
    near = agree.copy()
    near[1:] |= hyp[1:] == truth[:-1]
    near[:-1] |= hyp[:-1] == truth[1:]
    err, kinds, hyp_kinds = matched_boundaries(hyp, truth)
    signed = (10 * err).tolist()                 # ms, > 0: the aligner puts the boundary late
    per_class = {PHONEME_CLASSES[c]: [int(agree[truth == c].sum()), int((truth == c).sum())]
                 for c in np.unique(truth)}
    return {"agree": float(agree.mean()), "agree_1": float(near.mean()), "frames": int(len(truth)),
            "boundary_ms": [abs(d) for d in signed], "boundary_signed_ms": signed, "boundary_kind": kinds,
            "boundary_hyp_kind": hyp_kinds, "n_true_boundaries": len(runs(truth)) - 1, "per_class": per_class}


def oracle_words(truth: np.ndarray) -> list[tuple[str, list[str]]]:
    words, cur = [], []
    for lab, _, _ in runs(truth):
        if lab == SIL:
            if cur:
                words.append(cur)
                cur = []
        else:
            cur.append(PHONEME_CLASSES[lab])
    if cur:
        words.append(cur)
    return [(f"w{i}", w) for i, w in enumerate(words)]


def utterance(ds: FrameDataset, u: int) -> tuple[np.ndarray, np.ndarray, str]:
    a0 = int(ds._audio_offsets[u])
    a1 = int(ds._audio_offsets[u + 1]) if u + 1 < len(ds._audio_offsets) else len(ds._audio)
    lo, hi = ds.utt_bounds[u]
    return ds._audio[a0:a1], ds.labels[lo:hi], ds.utt_text[u]


def options(cond: str) -> tuple[str, dict]:
    """``"cmudict+variants+timing"`` → ``("cmudict", {"variants": True, "timing": "espeak"})``."""
    base, *flags = cond.split("+")
    bad = [f for f in flags if f not in ("variants", "timing")] + ([base] if base not in CONDITIONS else [])
    if bad or (base == "oracle" and "variants" in flags):
        raise ValueError(f"unknown condition {cond!r}: one of {', '.join(CONDITIONS)}, each optionally with "
                         "+variants (not oracle) and/or +timing")
    return base, {"timing": "espeak" if "timing" in flags else "sphinx", "variants": "variants" in flags}


_ORACLE_ALIGNERS: dict[str, Aligner] = {}


def override_decoder(settings: dict[str, str]) -> None:
    """Build every later decoder with these pocketsphinx settings on top of ``align.DECODER_SETTINGS``
    (values parsed as numbers or booleans when they are); ``frate`` also sets the frame shift."""
    from slt_widgets.datasets.speech import align as A

    def value(v):
        try:
            return float(v) if any(c in v for c in ".e") else int(v)
        except ValueError:
            return {"true": True, "false": False}.get(v.lower(), v)
    extra = {k: value(v) for k, v in settings.items()}
    if "frate" in extra:
        A._FRAME_S = 1.0 / extra.pop("frate")
    A.DECODER_SETTINGS.update(extra)


def run_one(cond: str, wave, truth, text, aligner: Aligner | None = None) -> dict:
    """One utterance under one condition; ``aligner`` (default timing, no variants) serves ``oracle``."""
    t0 = time.perf_counter()
    base, kw = options(cond)
    try:
        if base == "oracle":
            if kw["timing"] != "sphinx" or aligner is None:
                aligner = _ORACLE_ALIGNERS.setdefault(kw["timing"], Aligner(timing=kw["timing"]))
            al = aligner.align_pronounced(wave, oracle_words(truth))
            hyp = frame_labels(al.segments, len(truth)).astype(np.int64)
            attempt = al.attempt
        else:
            ds = load_recordings([((wave, 16000), text)], pronunciation=base, progress=False, **kw)
            hyp = ds.labels
            attempt = None
            if len(hyp) != len(truth):
                raise RuntimeError(f"frame count {len(hyp)} != {len(truth)}")
    except AlignmentError as e:
        return {"ok": False, "reason": getattr(e, "reason", "?"), "message": str(e)[:200],
                "seconds": time.perf_counter() - t0}
    out = compare(hyp, truth)
    out.update(ok=True, attempt=attempt, seconds=time.perf_counter() - t0)
    return out


def summarise(rows: list[dict]) -> dict:
    out = {}
    for cond in dict.fromkeys(r["cond"] for r in rows):
        rs = [r for r in rows if r["cond"] == cond]
        ok = [r for r in rs if r["ok"]]
        if not rs:
            continue
        errs = np.concatenate([r["boundary_ms"] for r in ok]) if ok else np.zeros(0)
        frames = sum(r["frames"] for r in ok)
        pc: dict[str, list[int]] = {}
        for r in ok:
            for c, (a, n) in r["per_class"].items():
                pc.setdefault(c, [0, 0])
                pc[c][0] += a
                pc[c][1] += n
        signed = np.concatenate([r["boundary_signed_ms"] for r in ok if "boundary_signed_ms" in r] or [np.zeros(0)])
        kinds = np.concatenate([r["boundary_kind"] for r in ok if "boundary_kind" in r] or [np.zeros(0, str)])
        by_kind = {}
        for kd in sorted(set(kinds.tolist())):
            v = signed[kinds == kd]
            if len(v) >= 20:
                by_kind[kd] = {"n": int(len(v)), "mean_ms": round(float(v.mean()), 1), "median_ms": float(np.median(v))}
        out[cond] = {
            "utterances": len(rs), "aligned": len(ok), "left_out": len(rs) - len(ok),
            "left_out_reasons": sorted({r.get("reason", "") for r in rs if not r["ok"]}),
            "agreement": sum(r["agree"] * r["frames"] for r in ok) / max(frames, 1),
            "agreement_within_1_frame": sum(r["agree_1"] * r["frames"] for r in ok) / max(frames, 1),
            "boundary_median_ms": float(np.median(errs)) if len(errs) else None,
            "boundary_p90_ms": float(np.percentile(errs, 90)) if len(errs) else None,
            "boundaries_matched": int(len(errs)),
            "signed_mean_ms": round(float(signed.mean()), 1) if len(signed) else None,
            "signed_median_ms": float(np.median(signed)) if len(signed) else None,
            "signed_share_early_on_time_late": [round(float(np.mean(signed < 0)), 3), round(float(np.mean(signed == 0)), 3),
                                                round(float(np.mean(signed > 0)), 3)] if len(signed) else None,
            "signed_sharp_mean_ms": round(float(signed[np.isin(kinds, list(SHARP))].mean()), 1)
            if np.isin(kinds, list(SHARP)).any() else None,
            "signed_sharp_median_ms": float(np.median(signed[np.isin(kinds, list(SHARP))]))
            if np.isin(kinds, list(SHARP)).any() else None,
            "signed_soft_mean_ms": round(float(signed[~np.isin(kinds, list(SHARP))].mean()), 1)
            if (~np.isin(kinds, list(SHARP))).any() else None,
            "signed_by_transition": by_kind,
            "boundaries_true": int(sum(r["n_true_boundaries"] for r in ok)),
            "seconds_per_utterance": float(np.mean([r["seconds"] for r in rs])),
            "per_class_agreement": {c: round(a / n, 3) for c, (a, n) in sorted(pc.items()) if n},
        }
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--splits", default="eval,dev", help="comma-separated shipped splits (eval, dev, xeng)")
    ap.add_argument("--limit", type=int, default=None, help="first N utterances of each split")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--out", default=None, help="JSON-lines checkpoint (resumable)")
    ap.add_argument("--decoder", default="", help="pocketsphinx settings for every condition, e.g. topn=32,frate=200")
    ap.add_argument("--by-split", action="store_true", help="also print each split's summary line")
    args = ap.parse_args(argv)
    if args.decoder:
        override_decoder(dict(kv.split("=", 1) for kv in args.decoder.split(",")))
    conds = [c for c in args.conditions.split(",") if c]
    for c in conds:
        options(c)                   # an unknown condition fails before anything runs
    done: dict[tuple, dict] = {}
    out = Path(args.out) if args.out else None
    if out and out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done[(r["split"], r["utt"], r["cond"])] = r
    aligner = Aligner()
    rows = []
    for split in args.splits.split(","):
        ds = FrameDataset.load(DATA / f"{split}.npz")
        n = len(ds.utt_bounds) if args.limit is None else min(args.limit, len(ds.utt_bounds))
        for u in range(n):
            wave, truth, text = utterance(ds, u)
            for cond in conds:
                key = (split, u, cond)
                if key not in done:
                    r = run_one(cond, wave, truth, text, aligner)
                    r.update(split=split, utt=u, cond=cond, voice=ds.utt_voice[u])
                    done[key] = r
                    if out:
                        with open(out, "a") as f:
                            f.write(json.dumps(r) + "\n")
                rows.append(done[key])
            if (u + 1) % 10 == 0:
                print(f"{split}: {u + 1}/{n}", flush=True)
    summary = summarise(rows)
    parts = [("all", summary)]
    if args.by_split:
        parts += [(sp, summarise([r for r in rows if r["split"] == sp])) for sp in args.splits.split(",")]
    for part, summ in parts:
        for cond, s in summ.items():
            print(f"[{part}] ", end="")
            print(f"{cond:8s} aligned {s['aligned']}/{s['utterances']}  agreement {s['agreement']:.3f} "
                  f"(±1 frame {s['agreement_within_1_frame']:.3f})  boundary median {s['boundary_median_ms']} ms, "
                  f"p90 {s['boundary_p90_ms']} ms, signed mean {s['signed_mean_ms']} median {s['signed_median_ms']} ms (sharp edges {s['signed_sharp_mean_ms']} / {s['signed_sharp_median_ms']}, soft {s['signed_soft_mean_ms']})  ({s['boundaries_matched']}/{s['boundaries_true']} matched)  "
                  f"{s['seconds_per_utterance']:.2f} s/utt  left out: {s['left_out_reasons']}")
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
