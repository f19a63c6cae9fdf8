"""Build ``slt_widgets/datasets/speech/espeak_offsets.json``: eSpeak NG's boundary conventions.

Aligns every utterance of the shipped ``dev`` split with the default aligner (CMUdict, pocketsphinx's
own boundaries) from its audio and text only, matches its phones to the split's true labels
(eSpeak NG's phoneme events) and takes, per kind of transition on the aligner's side (``"stop>fric"``:
a fricative after a stop), the median signed boundary error in 10 ms frames. The table holds minus
that median for every kind seen at least ``--min-count`` times whose median is not zero.
``Aligner(timing="espeak")`` moves each boundary by it.

Deterministic: the aligner's padding noise is seeded and the medians are of whole frames. Only the
``dev`` split is used, so ``eval`` (other sentences, other voices) and ``xeng`` (another synthesiser)
stay held out for ``bench_alignment.py``.

    OMP_NUM_THREADS=1 python benchmarks/fit_espeak_timing.py            # ~2 min on one thread
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_alignment as bench  # noqa: E402
from slt_widgets.datasets import FrameDataset  # noqa: E402
from slt_widgets.datasets.speech.align import DECODER_SETTINGS  # noqa: E402
from slt_widgets.datasets.speech.boundaries import OFFSETS_FILE  # noqa: E402


def fit(rows: list[dict], min_count: int) -> tuple[dict[str, int], dict[str, int]]:
    """``({kind: shift in frames}, {kind: n})`` from bench rows (``boundary_signed_ms``, ``boundary_hyp_kind``)."""
    by: dict[str, list[int]] = {}
    for r in rows:
        if r["ok"]:
            for d, k in zip(r["boundary_signed_ms"], r["boundary_hyp_kind"]):
                by.setdefault(k, []).append(d // 10)
    counts = {k: len(v) for k, v in sorted(by.items())}
    # np.median of whole frames can end in .5: round half away from zero keeps it deterministic
    med = {k: float(np.median(v)) for k, v in by.items() if len(v) >= min_count}
    shifts = {k: -int(np.sign(m) * np.floor(abs(m) + 0.5)) for k, m in sorted(med.items())}
    return {k: v for k, v in shifts.items() if v}, counts


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="dev")
    ap.add_argument("--min-count", type=int, default=30)
    ap.add_argument("--out", default=str(OFFSETS_FILE))
    ap.add_argument("--limit", type=int, default=None, help="first N utterances (a quick look; not for the table)")
    args = ap.parse_args(argv)
    ds = FrameDataset.load(bench.DATA / f"{args.split}.npz")
    n = len(ds.utt_bounds) if args.limit is None else min(args.limit, len(ds.utt_bounds))
    rows = []
    for u in range(n):
        wave, truth, text = bench.utterance(ds, u)
        rows.append(bench.run_one("cmudict", wave, truth, text))
        if (u + 1) % 20 == 0:
            print(f"{args.split}: {u + 1}/{n}", flush=True)
    shifts, counts = fit(rows, args.min_count)
    table = {"about": "Per-transition boundary shifts (10 ms frames, > 0 later) that move pocketsphinx's phone "
                      "boundaries to eSpeak NG's labelling conventions; built by benchmarks/fit_espeak_timing.py.",
             "fitted_on": {"split": args.split, "utterances": n, "aligned": sum(r["ok"] for r in rows),
                           "aligner": "cmudict, timing='sphinx'", "decoder_settings": dict(DECODER_SETTINGS),
                           "min_count": args.min_count},
             "offsets_frames": shifts, "boundaries_per_kind": counts}
    out = Path(args.out)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}: {shifts}")
    return table


if __name__ == "__main__":
    main()
