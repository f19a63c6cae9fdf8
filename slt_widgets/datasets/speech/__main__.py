"""Command line: ``python -m slt_widgets.datasets.speech --out DIR --n-utterances N --seed S --preset med``."""
from __future__ import annotations

import argparse
import json
import sys

from .build import CoverageError, build_speech_corpus
from .config import PRESETS, CorpusConfig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m slt_widgets.datasets.speech",
                                description="Build the licence-free synthetic phoneme corpus "
                                            "(train/dev/eval/xeng FrameDataset .npz files + manifest.json).")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--n-utterances", type=int, default=5000, help="utterances over all splits (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    p.add_argument("--preset", choices=sorted(PRESETS), default="med", help="variability recipe (default med)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 2; output does not depend on it)")
    p.add_argument("--shard-size", type=int, default=None, help="utterances per fresh worker process (part of the recipe: "
                   "changing it changes the output)")
    p.add_argument("--audio-rate", type=int, choices=(8000, 16000), default=None, help="stored audio rate")
    p.add_argument("--no-audio", action="store_true", help="store no waveforms in any split")
    p.add_argument("--no-coverage-check", action="store_true", help="allow splits that lack some phoneme classes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    over = {}
    if a.workers is not None:
        over["n_workers"] = a.workers
    if a.shard_size is not None:
        over["shard_size"] = a.shard_size
    if a.audio_rate is not None:
        over["audio_rate"] = a.audio_rate
    if a.no_audio:
        over["keep_audio"] = ()
    try:
        cfg = CorpusConfig.preset_config(a.preset, **over)
        m = build_speech_corpus(a.out, n_utterances=a.n_utterances, seed=a.seed, config=cfg,
                                progress=not a.quiet, check_coverage=not a.no_coverage_check)
    except (ValueError, TypeError, RuntimeError, CoverageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = {s: {k: v[k] for k in ("utterances", "frames", "hours", "audio")} for s, v in m["splits"].items()}
    print(json.dumps({"out": str(a.out), "seconds": m["build_seconds"], "bytes": m["bytes"], "splits": summary},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
