"""What every corpus loader shares: the error type, phone maps, label mapping, and assembling
utterances into a spliced `FrameDataset`."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..frames import FrameDataset
from ..speech.phonemes import PHONEME_CLASSES, frame_labels

__all__ = ["CorpusFormatError", "TIMIT_61_TO_39", "default_phone_map", "checked_segments", "check_context"]

END_SLACK_S = 0.010
"""How far (s) a segment may reach past the end of its audio: one frame shift, for rounding."""


class CorpusFormatError(ValueError):
    """A corpus file that cannot be read, or labels that cannot be mapped to the class set."""


# ----------------------------------------------------------------------------- phone maps
_RELEASES = {"bcl": ("b",), "dcl": ("d", "jh"), "gcl": ("g",), "pcl": ("p",), "tcl": ("t", "ch"), "kcl": ("k",)}

TIMIT_61_TO_39: dict[str, str | None] = {
    # Lee & Hon (1989) folding onto the 39 CMU phonemes + SIL. Differences from the classic 39-set,
    # forced by this class list: AO and ZH keep their own classes (CMU has them; Lee & Hon merge
    # ao→aa, zh→sh), and the flap dx — no CMU class — becomes T (as CMU transcribes "butter").
    **{p: p.upper() for p in "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t "
                             "th uh uw v w y z zh".split()},
    "ax": "AH", "ax-h": "AH", "axr": "ER", "ix": "IH", "ux": "UW", "hv": "HH", "el": "L", "em": "M",
    "en": "N", "nx": "N", "eng": "NG", "dx": "T",
    **{c: "SIL" for c in _RELEASES}, "h#": "SIL", "pau": "SIL", "epi": "SIL",
    "q": None,   # glottal stop: deleted as in Lee & Hon; its time goes to the preceding phone
}
"""TIMIT phone (lower case) → class name; ``None`` = deleted (time merged into the previous phone)."""

_SILENCES = {"", "sil", "sp", "spn", "nsn", "pau", "h#", "<eps>", "sil_b", "sil_e", "sil_i", "sil_s", "silence",
             "<sil>", "#", "_"}


def default_phone_map(label: str) -> str:
    """Map an aligner's phone label to a class name of :data:`PHONEME_CLASSES`.

    Handles CMU/ARPAbet labels from Kaldi, Montreal Forced Aligner and similar: strips Kaldi
    word-position suffixes (``_B _E _I _S``) and stress digits (``AH0`` → ``AH``), upper-cases,
    and maps silence/noise labels (``""``, ``sil``, ``sp``, ``spn``, ``nsn``, ``pau``…) to ``SIL``.
    Returns the mapped name unchanged otherwise (the caller checks it against the class list).
    """
    s = str(label).strip()
    if s.lower() in _SILENCES:
        return "SIL"
    s = re.sub(r"_[BEIS]$", "", s)
    if s.lower() in _SILENCES:
        return "SIL"
    return re.sub(r"[0-9]+$", "", s).upper()


def _mapper(phone_map) -> Callable[[str], str | None]:
    if phone_map is None:
        return default_phone_map
    if callable(phone_map):
        return phone_map
    if isinstance(phone_map, (str, Path)):
        table = {}
        for ln, line in enumerate(read_text_file(phone_map, "phone map").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2:
                raise CorpusFormatError(f"{phone_map}:{ln}: a phone map line is 'phone class' (or 'phone' alone "
                                        f"to delete it); got {line!r}")
            table[parts[0]] = parts[1] if len(parts) == 2 else None
        phone_map = table
    if isinstance(phone_map, Mapping):
        table = dict(phone_map)

        def lookup(p):
            if p in table:
                return table[p]
            if p.lower() in table:
                return table[p.lower()]
            raise KeyError(p)
        return lookup
    raise TypeError(f"phone_map must be None, a dict, a callable or a path to a 'phone class' file; "
                    f"got {type(phone_map).__name__}")


def _map_labels(phones: Sequence[str], mapper, class_names: Sequence[str], source: str) -> list[str | None]:
    """Map every phone label; one error listing every unmapped label (none silently dropped)."""
    known = set(class_names)
    out, unknown = [], {}
    for p in phones:
        try:
            c = mapper(p)
        except KeyError:
            c = "?"
        if c is not None and c not in known:
            unknown[p] = c
        out.append(c)
    if unknown:
        shown = ", ".join(f"{p!r}→{c!r}" for p, c in list(unknown.items())[:15])
        raise CorpusFormatError(
            f"{source}: {len(unknown)} phone label(s) do not map onto the classes ({shown}). Pass "
            f"phone_map={{label: class or None}} (classes: {' '.join(class_names)}) or class_names=[...]")
    return out


# ----------------------------------------------------------------------------- assembling
def _assemble(utts: list[dict], class_names: Sequence[str], name: str, context: int,
              keep_audio: bool, meta: dict) -> FrameDataset:
    """utts: dicts with ``frames [T, B]``, ``labels [T]`` (class names), ``voice``, ``text``, opt. ``wave``."""
    if not utts:
        raise CorpusFormatError(f"{name}: no utterances were found to load")
    index = {c: i for i, c in enumerate(class_names)}
    frames = np.concatenate([u["frames"] for u in utts]).astype(np.float16)
    lens = np.array([len(u["frames"]) for u in utts])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    bounds = np.stack([starts, starts + lens], 1).astype(np.int64)
    labels = np.concatenate([[index[c] for c in u["labels"]] for u in utts]).astype(np.int64)
    kw = {}
    if keep_audio:
        waves = [np.clip(np.round(u["wave"]), -32768, 32767).astype(np.int16) for u in utts]
        kw.update(_audio=np.concatenate(waves), audio_rate=16000,
                  _audio_offsets=np.concatenate([[0], np.cumsum([len(w) for w in waves])[:-1]]).astype(np.int64))
    ds = FrameDataset(labels=labels, class_names=tuple(class_names), feature_shape=(frames.shape[1], 2 * context + 1),
                      _frames=frames, _frame_index=np.arange(len(frames), dtype=np.int64),
                      _utt_of_sample=np.repeat(np.arange(len(utts)), lens), utt_bounds=bounds,
                      utt_voice=tuple(str(u.get("voice") or "") for u in utts),
                      utt_text=tuple(str(u.get("text") or "") for u in utts), context=context, name=name, **kw)
    ds.meta.update(meta)
    ds.meta["utterance_ids"] = [u["id"] for u in utts]
    return ds


def read_text_file(path, what: str) -> str:
    """A UTF-8 text file, or a CorpusFormatError naming it (a binary file given by mistake)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CorpusFormatError(f"{path}: a {what} is UTF-8 text, but byte {e.start} is not; is it the right "
                                "file?") from None
    except IsADirectoryError:
        raise CorpusFormatError(f"{path} is a folder; give the {what} file") from None


def check_context(context) -> int:
    """``context`` (frames either side of a sample) as an int ≥ 0, or an error saying so."""
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
        raise ValueError(f"context must be a whole number of frames ≥ 0 (5 gives the paper's 11-frame window), "
                         f"got {context!r}")
    return int(context)


def checked_segments(segments: Sequence[tuple[float, float, str]], duration_s: float | None, source: str,
                     where: Sequence[str] | None = None) -> tuple[list, list]:
    """``segments [(start_s, end_s, label)]`` sorted by start, after refusing what would mislabel frames:
    an end before its start, a negative or non-finite time, two segments that overlap (a frame can
    hold one label), a segment past the end of the audio (``duration_s`` + :data:`END_SLACK_S`).
    ``where[i]`` names segment ``i`` in the messages (``"line 3"``). Returns ``(segments, where)``
    in time order: files listing segments out of order are read as meant, not by file position."""
    where = list(where) if where is not None else [f"segment {i + 1}" for i in range(len(segments))]
    for (s, e, _), w in zip(segments, where):
        if not (np.isfinite(s) and np.isfinite(e)) or s < 0:
            raise CorpusFormatError(f"{source}: {w} has times {s!r} → {e!r}; times must be finite and ≥ 0")
        if e < s:
            raise CorpusFormatError(f"{source}: {w} ends before it starts ({s:.4f} s → {e:.4f} s); fix or delete "
                                    "that segment")
    order = sorted(range(len(segments)), key=lambda i: (segments[i][0], segments[i][1]))
    for a, b in zip(order, order[1:]):
        if segments[b][0] < segments[a][1] - 1e-6:
            raise CorpusFormatError(
                f"{source}: {where[a]} ({segments[a][0]:.4f}–{segments[a][1]:.4f} s, {segments[a][2]!r}) and "
                f"{where[b]} ({segments[b][0]:.4f}–{segments[b][1]:.4f} s, {segments[b][2]!r}) overlap; a frame "
                "has one label, so the alignment must not overlap — fix it")
    if duration_s is not None and order:
        last = max(order, key=lambda i: segments[i][1])
        if segments[last][1] > duration_s + END_SLACK_S:
            raise CorpusFormatError(f"{source}: {where[last]} ends at {segments[last][1]:.3f} s, past the end of "
                                    f"the audio ({duration_s:.3f} s); is it the alignment of another recording?")
    return [segments[i] for i in order], [where[i] for i in order]


def _segments_to_frame_labels(segments: list[tuple[float, float, str | None]], n_frames: int,
                              class_names: Sequence[str]) -> list[str]:
    """Class name per frame from ``[(start_s, end_s, class or None)]``; ``None`` merges into the previous segment."""
    merged: list[list] = []
    for s, e, c in segments:
        if c is None:
            if merged:
                merged[-1][1] = e
            continue
        merged.append([s, e, c])
    if tuple(class_names) == PHONEME_CLASSES:
        idx = frame_labels([tuple(m) for m in merged], n_frames)
        return [PHONEME_CLASSES[i] for i in idx]
    # Same rule as frame_labels (segment holding the frame centre, else SIL) for a custom class list.
    centres = np.arange(n_frames) * 0.010 + 0.0125
    out = ["SIL"] * n_frames
    for s, e, c in merged:
        for i in np.flatnonzero((centres >= s) & (centres < e)):
            out[i] = c
    if "SIL" not in class_names and any(o == "SIL" for o in out):
        raise CorpusFormatError("some frames fall outside every labelled segment and would be SIL, which is not "
                                "in class_names; add 'SIL' to class_names")
    return out
