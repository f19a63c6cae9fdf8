"""A TIMIT-style tree (``SPEAKER/SX123.WAV`` + ``.PHN`` [+ ``.TXT``]) → `FrameDataset`."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..frames import FrameDataset
from ..speech.phonemes import PHONEME_CLASSES
from ._common import (TIMIT_61_TO_39, _RELEASES, CorpusFormatError, _assemble, _map_labels, _mapper,
                      _segments_to_frame_labels, check_context, checked_segments)
from .audio import audio_features, read_audio

__all__ = ["load_timit", "read_phn"]


def read_phn(path, rate: int, n_samples: int | None = None) -> list[tuple[float, float, str]]:
    """A TIMIT ``.PHN`` file (``start end phone`` per line, in samples at ``rate``) as segments
    ``[(start_s, end_s, phone)]`` in time order, checked by :func:`checked_segments` against the
    audio's ``n_samples`` (lines out of order are sorted; overlaps, inverted or out-of-audio
    segments are refused naming the line)."""
    path = Path(path)
    rows, where = [], []
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as e:
        raise CorpusFormatError(f"{path}: a .PHN file is ASCII text; byte {e.start} is not") from None
    for ln, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise CorpusFormatError(f"{path}:{ln}: .PHN lines are 'start end phone' in samples; got {line!r}")
        rows.append((int(parts[0]) / rate, int(parts[1]) / rate, parts[2]))
        where.append(f"line {ln}")
    segs, _ = checked_segments(rows, None if n_samples is None else n_samples / rate, str(path), where)
    return segs


def load_timit(root, phone_map=None, include_sa: bool = False, closures: str = "sil", context: int = 5,
               keep_audio: bool = False, class_names: Sequence[str] = PHONEME_CLASSES,
               progress: bool = True, name: str = "timit") -> FrameDataset:
    """A TIMIT-style tree (``…/SPEAKER/SX123.WAV`` + ``.PHN`` [+ ``.TXT``], any case) as a `FrameDataset`.

    ``.WAV`` may be NIST SPHERE (uncompressed PCM) or RIFF. ``.PHN`` lines are ``start end phone``
    in samples. Features: 23 log-Mel at 16 kHz, 25 ms / 10 ms, per-utterance CMVN; labels by the
    phone holding each frame centre, folded with ``phone_map`` (default :data:`TIMIT_61_TO_39`).
    include_sa: keep the two dialect sentences SA1/SA2 (usually left out, being read by everyone);
    closures: ``"sil"`` (Lee & Hon: closures are silence) or ``"merge"`` (a closure directly
    before its own release — ``tcl t`` — joins the stop, as forced alignment with CMU phones does);
    keep_audio: store the 16 kHz waveform for playback. Point ``root`` at ``TRAIN`` or ``TEST`` to
    load one split. Returns ``N = Σ frames`` samples, ``feature_shape (23, 2 * context + 1)``.
    """
    if closures not in ("sil", "merge"):
        raise ValueError(f"closures must be 'sil' or 'merge', got {closures!r}")
    context = check_context(context)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no TIMIT folder at {root}; pass the folder that holds the speaker folders")
    phn_files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".phn"
                       and (include_sa or not p.stem.lower().startswith("sa")))
    if not phn_files:
        raise CorpusFormatError(f"no .PHN files under {root}; is it a TIMIT-style tree (SPEAKER/SX1.WAV + SX1.PHN)?")
    mapper = _mapper(TIMIT_61_TO_39 if phone_map is None else phone_map)
    from tqdm.auto import tqdm
    utts = []
    for phn in tqdm(phn_files, desc="TIMIT", unit="utt", disable=not progress, leave=False):
        wav = next((p for p in (phn.with_suffix(s) for s in (".WAV", ".wav", ".Wav")) if p.is_file()), None)
        if wav is None:
            raise FileNotFoundError(f"{phn} has no .WAV beside it")
        wave, rate = read_audio(wav)
        rows = read_phn(phn, rate, len(wave))
        phones = [p for _, _, p in rows]
        if closures == "merge":   # a closure right before its own release (or affricate) joins it
            phones = [phones[i + 1] if p in _RELEASES and i + 1 < len(phones) and phones[i + 1] in _RELEASES[p]
                      else p for i, p in enumerate(phones)]
        classes = _map_labels(phones, mapper, class_names, str(phn))
        try:
            feats = audio_features(wave, rate)
        except CorpusFormatError as e:
            raise CorpusFormatError(f"{wav}: {e}") from None
        segs = [(s, e, c) for (s, e, _), c in zip(rows, classes)]
        text = ""
        txt = next((p for p in (phn.with_suffix(s) for s in (".TXT", ".txt")) if p.is_file()), None)
        if txt is not None:
            text = " ".join(txt.read_text(encoding="utf-8", errors="replace").split()[2:])
        u = {"id": f"{phn.parent.name}_{phn.stem}", "frames": feats, "voice": phn.parent.name, "text": text,
             "labels": _segments_to_frame_labels(segs, len(feats), class_names)}
        if keep_audio:
            from ..speech.features import resample_to_16k
            u["wave"] = resample_to_16k(wave, rate)
        utts.append(u)
    return _assemble(utts, class_names, name, context, keep_audio, {"source": "timit", "root": str(root)})
