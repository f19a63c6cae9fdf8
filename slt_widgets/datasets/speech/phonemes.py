"""Phoneme classes and the eSpeak NG → CMU (39 ARPAbet + SIL) mapping.

Segments are ``(start, end, label)`` tuples in samples of the waveform they came from
(``end`` exclusive). The mapping table is the one measured in
``shared/notes/speech-corpus.md``; stress marks are stripped before lookup.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = ["PHONEME_CLASSES", "ESPEAK_TO_CMU", "UnknownPhonemeError", "strip_stress", "map_espeak",
           "events_to_segments", "fix_stop_closures", "merge_equal", "frame_labels", "VOICELESS_STOPS"]

PHONEME_CLASSES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
    "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
    "Z", "ZH", "SIL")
"""The 40 classes in their fixed order: 39 CMU phonemes (alphabetical) then ``"SIL"``."""

_CLASS_INDEX = {c: i for i, c in enumerate(PHONEME_CLASSES)}


def _table() -> dict[str, tuple[str, ...]]:
    t: dict[str, tuple[str, ...]] = {}

    def put(keys: str, cmu: str) -> None:
        for k in keys.split():
            t[k] = tuple(cmu.split())
    put("@ @2 @5 a# V @-", "AH"); put("3 3:", "ER"); put("a aa", "AE"); put("A: 0", "AA")
    put("O: O2 O", "AO"); put("E", "EH"); put("I I2 I#", "IH"); put("i i:", "IY"); put("U", "UH")
    put("u:", "UW"); put("aI", "AY"); put("aU", "AW"); put("eI", "EY"); put("oU", "OW"); put("OI", "OY")
    put("A@", "AA R"); put("O@ o@", "AO R"); put("e@", "EH R"); put("i@3", "IY R"); put("U@", "UH R")
    put("aI3 aI@", "AY ER"); put("aU@", "AW ER"); put("i@", "IY AH"); put("@L", "AH L")
    for e, c in zip("p b t d k g f v T D s z S Z".split(), "P B T D K G F V TH DH S Z SH ZH".split()):
        put(e, c)
    put("t# t2 ?", "T"); put("h", "HH"); put("tS", "CH"); put("dZ", "JH")
    put("m", "M"); put("n n-", "N"); put("N", "NG"); put("l l/", "L"); put("r r-", "R")
    put("w", "W"); put("j", "Y"); put("_ _: _! _^_", "SIL")
    t[";"] = ()  # palatalisation marker: no sound of its own, its time goes to the previous phone
    return t


ESPEAK_TO_CMU: dict[str, tuple[str, ...]] = _table()
"""eSpeak mnemonic (stress stripped) → CMU labels; ``()`` means the event is dropped."""

VOICELESS_STOPS = frozenset({"P", "T", "K", "CH", "JH"})
"""Labels whose eSpeak event marks the burst, not the closure before it."""

_STRESS = "',="


class UnknownPhonemeError(KeyError, ValueError):
    """An eSpeak mnemonic that the mapping table does not cover."""


def strip_stress(mnemonic: str) -> str:
    """Remove eSpeak stress marks (``'``, ``,``, ``=``) from a mnemonic: ``"'aI@"`` → ``"aI@"``."""
    return "".join(ch for ch in mnemonic if ch not in _STRESS)


def map_espeak(mnemonic: str) -> tuple[str, ...]:
    """CMU labels for one eSpeak mnemonic: ``"aI@"`` → ``("AY", "ER")``, ``";"`` → ``()``."""
    key = strip_stress(mnemonic.strip())
    try:
        return ESPEAK_TO_CMU[key]
    except KeyError:
        raise UnknownPhonemeError(
            f"eSpeak phoneme {mnemonic!r} is not in the mapping table; add it to ESPEAK_TO_CMU in "
            "slt_widgets/datasets/speech/phonemes.py (or use sentences without it)") from None


def events_to_segments(events: Sequence[tuple[int, str]], n_samples: int,
                       split: float = 0.6) -> list[tuple[int, int, str]]:
    """Turn phoneme events into CMU-labelled segments covering ``[0, n_samples)``.

    events: ``[(sample, mnemonic), ...]`` sorted by sample. Each event lasts until the next
    one (the last until ``n_samples``); time before the first event is ``SIL``. Two-phone
    entries split their span ``split`` / ``1 - split``; dropped entries (``;``) extend the
    previous segment. Returns ``[(start, end, label), ...]`` with ``end`` exclusive.
    """
    segs: list[tuple[int, int, str]] = []
    starts = [int(s) for s, _ in events]
    if any(b < a for a, b in zip(starts, starts[1:])):
        raise ValueError("phoneme events must be sorted by sample")
    if starts and starts[0] > 0:
        segs.append((0, min(starts[0], n_samples), "SIL"))
    elif not starts:
        return [(0, n_samples, "SIL")] if n_samples > 0 else []
    for i, (s, m) in enumerate(events):
        s = min(int(s), n_samples)
        e = min(starts[i + 1], n_samples) if i + 1 < len(events) else n_samples
        labels = map_espeak(m)
        if not labels:
            if segs:
                a, _, lab = segs[-1]
                segs[-1] = (a, e, lab)
            elif e > s:
                segs.append((s, e, "SIL"))
            continue
        if e <= s:
            continue
        if len(labels) == 1:
            segs.append((s, e, labels[0]))
        else:
            cut = s + int(round((e - s) * split))
            segs.append((s, cut, labels[0]))
            segs.append((cut, e, labels[1]))
    return [sg for sg in segs if sg[1] > sg[0]]


def fix_stop_closures(segments: Sequence[tuple[int, int, str]], wave: np.ndarray, rate: int,
                      max_closure_s: float = 0.150) -> list[tuple[int, int, str]]:
    """Move each voiceless stop's start back over the closure silence before its burst.

    eSpeak's event for p/t/k/tS/dZ marks the burst; the closure (a run of exact zeros in
    ``wave`` ``[n_samples]``) sits at the end of the previous phone. The stop takes over that
    run, up to ``max_closure_s``, never out of a ``SIL`` segment and never emptying the
    previous phone. Returns a new segment list.
    """
    segs = [list(s) for s in segments]
    w = np.asarray(wave)
    limit = int(round(max_closure_s * rate))
    for i in range(1, len(segs)):
        start, _, lab = segs[i]
        prev = segs[i - 1]
        if lab not in VOICELESS_STOPS or prev[2] == "SIL":
            continue
        lo = max(prev[0] + 1, start - limit)
        run = 0
        j = start - 1
        while j >= lo and w[j] == 0:
            run += 1
            j -= 1
        if run:
            segs[i][0] = start - run
            prev[1] = start - run
    return [tuple(s) for s in segs]


def merge_equal(segments: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Merge neighbouring segments with the same label (e.g. ``ER`` + ``ER`` from ``aI@ 3``)."""
    out: list[tuple[int, int, str]] = []
    for s, e, lab in segments:
        if out and out[-1][2] == lab and out[-1][1] == s:
            out[-1] = (out[-1][0], e, lab)
        else:
            out.append((s, e, lab))
    return out


def frame_labels(segments: Sequence[tuple[float, float, str]], n_frames: int, frame_shift_s: float = 0.010,
                 frame_length_s: float = 0.025) -> np.ndarray:
    """Class index per frame, by the segment that holds the frame centre.

    segments: ``[(start_s, end_s, label), ...]`` in seconds, sorted; frame ``i`` spans
    ``[i * shift, i * shift + length)`` (Kaldi ``snip_edges``), centre at ``+ length / 2``.
    Centres outside every segment get ``SIL``. Returns ``[n_frames]`` int16 indices into
    :data:`PHONEME_CLASSES`.
    """
    centres = np.arange(n_frames) * frame_shift_s + frame_length_s / 2
    out = np.full(n_frames, _CLASS_INDEX["SIL"], dtype=np.int16)
    if not len(segments):
        return out
    starts = np.array([s for s, _, _ in segments], dtype=np.float64)
    ends = np.array([e for _, e, _ in segments], dtype=np.float64)
    try:
        idx = np.array([_CLASS_INDEX[lab] for _, _, lab in segments], dtype=np.int16)
    except KeyError as e:
        raise ValueError(f"segment label {e.args[0]!r} is not one of PHONEME_CLASSES") from None
    k = np.searchsorted(starts, centres, side="right") - 1
    ok = (k >= 0) & (centres < ends[np.clip(k, 0, None)])
    out[ok] = idx[k[ok]]
    return out
