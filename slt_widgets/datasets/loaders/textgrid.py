"""Praat TextGrids (long/short text, UTF-8/16) with their WAVs, e.g. from Montreal Forced Aligner → `FrameDataset`."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from ..frames import FrameDataset
from ..speech.phonemes import PHONEME_CLASSES
from ._common import (CorpusFormatError, _assemble, _map_labels, _mapper, _segments_to_frame_labels, check_context,
                      checked_segments)
from .audio import audio_features, read_audio

__all__ = ["load_textgrid", "read_textgrid"]


_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|\[[^\]\n]*\]|(<exists>|<absent>)|(?<![\w.])([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w])|!.*')


def read_textgrid(path) -> dict[str, list[tuple[float, float, str]]]:
    """Parse a Praat TextGrid (long or short text format, UTF-8 or UTF-16): ``{tier name: [(xmin, xmax, text)]}``.

    Point tiers (TextTier) give ``(time, time, mark)``.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] in (b"\xfe\xff", b"\xff\xfe"):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    toks: list = []
    for m in _TG_TOKEN.finditer(text):
        if m.group(1) is not None:
            toks.append(m.group(1).replace('""', '"'))
        elif m.group(2) is not None:
            toks.append(m.group(2))
        elif m.group(3) is not None:
            toks.append(float(m.group(3)))
    bad = CorpusFormatError(f"{path} is not a Praat TextGrid text file (long or short format); "
                            "save it from Praat with 'Save as text file'")
    if len(toks) < 5 or toks[0] != "ooTextFile" or toks[1] != "TextGrid":
        raise bad
    pos = 4
    if toks[pos] == "<absent>":
        return {}
    if toks[pos] != "<exists>":
        raise bad
    try:
        n_tiers = int(toks[pos + 1])
        pos += 2
        tiers = {}
        for _ in range(n_tiers):
            cls, tname = toks[pos], toks[pos + 1]
            n = int(toks[pos + 4])
            pos += 5
            items = []
            if cls == "IntervalTier":
                for _ in range(n):
                    items.append((float(toks[pos]), float(toks[pos + 1]), str(toks[pos + 2])))
                    pos += 3
            elif cls == "TextTier":
                for _ in range(n):
                    items.append((float(toks[pos]), float(toks[pos]), str(toks[pos + 1])))
                    pos += 2
            else:
                raise bad
            tiers[tname] = items
    except (IndexError, ValueError, TypeError, OverflowError):
        raise CorpusFormatError(f"{path}: TextGrid ends early or has a malformed tier (truncated file?)") from None
    return tiers


def _pick_tier(tiers: dict, tier, path) -> str:
    if tier is not None:
        if tier not in tiers:
            raise KeyError(f"{path} has no tier {tier!r}; its tiers: {list(tiers)}")
        return tier
    for want in ("phones", "phone", "phonemes", "phoneme", "segments", "phn"):
        for t in tiers:
            if t.lower() == want or t.lower().endswith(" - " + want):
                return t
    raise KeyError(f"{path}: no phone tier found among {list(tiers)}; pass tier='name'")


def load_textgrid(pairs: Iterable[tuple], tier: str | None = None, phone_map=None, context: int = 5,
                  keep_audio: bool = False, class_names: Sequence[str] = PHONEME_CLASSES,
                  progress: bool = True, name: str = "textgrid") -> FrameDataset:
    """Forced-aligned audio (Praat TextGrid + WAV pairs, e.g. from Montreal Forced Aligner) as a `FrameDataset`.

    pairs: ``[(textgrid_path, wav_path), …]`` or ``[(textgrid_path, wav_path, voice), …]``; tier:
    the interval tier with phones (default: one named ``phones``/``phone``/``phonemes``/``segments``);
    phone_map: as in :func:`load_kaldi` (default :func:`default_phone_map`: ARPAbet with stress
    digits, empty/``sil``/``sp``/``spn`` → ``SIL``; pass :data:`TIMIT_61_TO_39` for TIMIT labels).
    WAV (RIFF or SPHERE) at any rate is resampled to 16 kHz; features and labels as
    :func:`load_timit`. Returns ``N = Σ frames`` samples, ``feature_shape (23, 2 * context + 1)``.
    """
    context = check_context(context)
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty: pass [(textgrid_path, wav_path), ...]")
    mapper = _mapper(phone_map)
    from tqdm.auto import tqdm
    utts = []
    for item in tqdm(pairs, desc="TextGrid", unit="utt", disable=not progress, leave=False):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(f"each pair must be (textgrid_path, wav_path[, voice]); got {item!r}")
        tg, wav = Path(item[0]), Path(item[1])
        for p in (tg, wav):
            if not p.is_file():
                raise FileNotFoundError(f"{p} does not exist")
        tiers = read_textgrid(tg)
        tname = _pick_tier(tiers, tier, tg)
        wave, rate = read_audio(wav)
        intervals, _ = checked_segments(tiers[tname], len(wave) / rate, str(tg),
                                        [f"interval {i + 1} of tier {tname!r}" for i in range(len(tiers[tname]))])
        classes = _map_labels([t for _, _, t in intervals], mapper, class_names, str(tg))
        try:
            feats = audio_features(wave, rate)
        except CorpusFormatError as e:
            raise CorpusFormatError(f"{wav}: {e}") from None
        segs = [(s, e, c) for (s, e, _), c in zip(intervals, classes)]
        words = tiers.get(next((t for t in tiers if t.lower().endswith("words")), ""), [])
        u = {"id": tg.stem, "frames": feats, "voice": item[2] if len(item) == 3 else tg.parent.name,
             "text": " ".join(w for _, _, w in sorted(words) if w.strip()),
             "labels": _segments_to_frame_labels(segs, len(feats), class_names)}
        if keep_audio:
            from ..speech.features import resample_to_16k
            u["wave"] = resample_to_16k(wave, rate)
        utts.append(u)
    return _assemble(utts, class_names, name, context, keep_audio, {"source": "textgrid"})
