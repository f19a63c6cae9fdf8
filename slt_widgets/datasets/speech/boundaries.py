"""Phone boundaries: transition classes, matched-boundary errors, and per-transition shifts.

Pocketsphinx places a boundary where its acoustic model (trained on real read speech) switches
phone; a synthesiser's labels put it where its own conventions say. The two differ by a signed
offset that depends mostly on the kind of transition (vowel → approximant, stop → fricative, …).
:data:`ESPEAK_OFFSETS` holds those offsets for eSpeak NG, the built-in corpus's synthesiser, fitted
on the shipped ``dev`` split by ``python -m slt_widgets.datasets.speech.fit_timing`` (deterministic:
it aligns the split with the default aligner and takes each transition's median error).

They describe eSpeak NG's labelling conventions, not a fault of pocketsphinx: measured on Festival's
``xeng`` split (its own ground truth) the same shifts make agreement worse (docs/alignment.md,
"Per-transition corrections"). So they are applied only on request (``timing="espeak"``).
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

import numpy as np

from .phonemes import PHONEME_CLASSES

__all__ = ["PHONE_GROUPS", "SHARP", "phone_group", "transition", "label_runs", "matched_boundaries",
           "shift_boundaries", "ESPEAK_OFFSETS", "OFFSETS_FILE"]

PHONE_GROUPS = {"SIL": "sil", **{p: "stop" for p in ("P", "T", "K", "B", "D", "G")},
                **{p: "fric" for p in ("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH", "CH", "JH")},
                **{p: "nasal" for p in ("M", "N", "NG")}, **{p: "approx" for p in ("L", "R", "W", "Y")}}
"""Phone → class (``"sil"``, ``"stop"``, ``"fric"`` (affricates too), ``"nasal"``, ``"approx"``); others are ``"vowel"``."""

SHARP = frozenset({"fric>vowel", "vowel>fric", "vowel>stop", "stop>vowel", "vowel>nasal"})
"""Transitions where the acoustics change abruptly, so a synthesiser's event time is unambiguous."""

FRAME_S = 0.01
OFFSETS_FILE = Path(__file__).with_name("espeak_offsets.json")


def phone_group(phone: str) -> str:
    """The class of a CMU phone or ``"SIL"`` (``"T"`` → ``"stop"``, ``"AA"`` → ``"vowel"``)."""
    return PHONE_GROUPS.get(phone, "vowel")


def transition(a: str, b: str) -> str:
    """The transition kind from phone ``a`` to phone ``b``: ``"vowel>stop"`` for ``("AA", "T")``."""
    return f"{phone_group(a)}>{phone_group(b)}"


def label_runs(y: np.ndarray) -> list[tuple[int, int, int]]:
    """``[(label, start, end)]`` runs of equal labels in ``[T]`` frame labels."""
    y = np.asarray(y)
    if len(y) == 0:
        return []
    ch = np.flatnonzero(np.diff(y)) + 1
    st, en = np.r_[0, ch], np.r_[ch, len(y)]
    return [(int(y[s]), int(s), int(e)) for s, e in zip(st, en)]


def matched_boundaries(hyp: np.ndarray, truth: np.ndarray, kind=transition) -> tuple[np.ndarray, list[str], list[str]]:
    """Signed errors of the phone boundaries two frame labellings share.

    hyp, truth: ``[T]`` label indices into :data:`PHONEME_CLASSES`. Phones are matched in order
    (difflib on the two run sequences); each matched phone's start is compared, except the
    utterance's first. Returns ``(errors [B] int frames, hyp - truth, > 0 late; truth_kinds [B];
    hyp_kinds [B])``, the kinds named by ``kind(phone_before, phone_after)`` (default
    :func:`transition`) on each side.
    """
    h, t = label_runs(hyp), label_runs(truth)
    sm = difflib.SequenceMatcher(a=[r[0] for r in t], b=[r[0] for r in h], autojunk=False)
    errors, tk, hk = [], [], []
    for a, b, n in sm.get_matching_blocks():
        for k in range(n):
            if a + k == 0 or b + k == 0:
                continue               # the utterance start is not a boundary
            errors.append(h[b + k][1] - t[a + k][1])
            tk.append(kind(PHONEME_CLASSES[t[a + k - 1][0]], PHONEME_CLASSES[t[a + k][0]]))
            hk.append(kind(PHONEME_CLASSES[h[b + k - 1][0]], PHONEME_CLASSES[h[b + k][0]]))
    return np.asarray(errors, dtype=np.int64), tk, hk


def _load_offsets() -> dict[str, int]:
    try:
        data = json.loads(OFFSETS_FILE.read_text())
    except FileNotFoundError:   # a source tree before fit_timing ran: no shifts, and say how to make them
        return {}
    return {str(k): int(v) for k, v in data["offsets_frames"].items()}


ESPEAK_OFFSETS: dict[str, int] = _load_offsets()
"""``{transition: frames}`` to move each boundary of that kind (> 0 later) to match eSpeak NG's labels."""


def shift_boundaries(segments, offsets: dict[str, int], min_s: float = FRAME_S):
    """Move each boundary between two segments by ``offsets[transition(a, b)]`` frames of 10 ms.

    segments: ``[(start_s, end_s, label), ...]`` contiguous, labels CMU phones or ``"SIL"``.
    A moved boundary leaves each of its two segments at least ``min_s`` (it is held back rather
    than cross a neighbour; with no room it stays); the first start and the last end stay. Returns ``(new segments, {old time: new
    time})`` with the same labels in the same order (so word edges can follow their phones).
    """
    segs = [(float(a), float(b), str(lab)) for a, b, lab in segments]
    if len(segs) < 2 or not offsets:
        return segs, {}
    old = [s[1] for s in segs[:-1]]
    edges = [segs[0][0], *old, segs[-1][1]]
    for i in range(len(old)):         # left to right; edges[i] is final, edges[i + 2] not moved yet
        step = offsets.get(transition(segs[i][2], segs[i + 1][2]), 0)
        lo, hi = edges[i] + min_s, edges[i + 2] - min_s
        if step and lo <= hi:         # no room: the boundary stays where pocketsphinx put it
            edges[i + 1] = round(min(max(old[i] + step * FRAME_S, lo), hi), 6)
    out = [(float(edges[i]), float(edges[i + 1]), segs[i][2]) for i in range(len(segs))]
    return out, {round(o, 6): float(n) for o, n in zip(old, edges[1:-1])}
