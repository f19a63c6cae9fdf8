"""Festival (Debian ``festival``) as a second synthesis engine.

``kal`` (festvox-kallpc16k, male diphone voice from real recordings) joins the training
set; ``slt`` (festvox-us-slt-hts, female HTS voice trained on CMU ARCTIC) makes the
cross-engine test split. Festival writes segment end times directly in CMU phones
(plus ``pau`` for silence and ``ax`` for schwa), so no event mapping is needed.

One ``festival -b`` process synthesises a whole batch; output is deterministic.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .phonemes import PHONEME_CLASSES

__all__ = ["FESTIVAL_VOICES", "FestivalError", "festival_available", "synthesize_batch", "parse_segs"]

FESTIVAL_VOICES = {"kal": "voice_kal_diphone", "slt": "voice_cmu_us_slt_arctic_hts"}
"""Short name → Festival voice command."""

_EXTRA = {"ax": "AH", "pau": "SIL", "h#": "SIL", "brth": "SIL", "#": "SIL"}
_INSTALL = ("install Debian's festival, festlex-cmu, festvox-kallpc16k and festvox-us-slt-hts "
            "(apt-get install festival festvox-kallpc16k festvox-us-slt-hts), or build without "
            "Festival: CorpusConfig(festival_train_share=0, xeng_share=0)")


class FestivalError(RuntimeError):
    """Festival is missing or failed."""


def festival_available(voices: Sequence[str] = ("kal", "slt")) -> bool:
    """True when the ``festival`` binary and the voices' data are installed."""
    if shutil.which("festival") is None:
        return False
    roots = [Path("/usr/share/festival/voices"), Path("/usr/local/share/festival/voices")]
    dirs = {"kal": "kal_diphone", "slt": "cmu_us_slt_arctic_hts"}
    return all(any(list(r.glob(f"*/{dirs[v]}")) for r in roots if r.exists()) for v in voices)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def parse_segs(text: str) -> list[tuple[float, float, str]]:
    """Parse ``utt.save.segs`` output (``end_time 100 phone`` per line after ``#``) into
    ``[(start_s, end_s, CMU label), ...]``."""
    segs: list[tuple[float, float, str]] = []
    t0 = 0.0
    body = text.split("#", 1)[1] if "#" in text else text
    for line in body.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        end, ph = float(parts[0]), parts[2].lower()
        lab = _EXTRA.get(ph, ph.upper())
        if lab not in PHONEME_CLASSES:
            raise FestivalError(f"Festival phone {ph!r} has no CMU class; extend _EXTRA in festival.py")
        if end > t0:
            segs.append((t0, end, lab))
        t0 = max(t0, end)
    return segs


def synthesize_batch(items: Sequence[tuple[str, str, float]], timeout_s: float = 600.0
                     ) -> list[tuple[np.ndarray, int, list[tuple[float, float, str]]]]:
    """Synthesise ``[(text, voice, duration_stretch), ...]`` (voice ``"kal"`` or ``"slt"``).

    Returns ``[(wave int16 [n], rate, [(start_s, end_s, label), ...]), ...]`` in input order.
    """
    from scipy.io import wavfile
    if not items:
        return []
    if shutil.which("festival") is None:
        raise FestivalError("the festival binary is not on PATH: " + _INSTALL)
    with tempfile.TemporaryDirectory(prefix="slt_festival_") as tmp:
        lines = []
        for i, (text, voice, stretch) in enumerate(items):
            if voice not in FESTIVAL_VOICES:
                raise ValueError(f"unknown Festival voice {voice!r}; choose one of {sorted(FESTIVAL_VOICES)}")
            lines.append(f"({FESTIVAL_VOICES[voice]})")
            lines.append(f"(Parameter.set 'Duration_Stretch {float(stretch):.4f})")
            lines.append(f"(set! u (utt.synth (Utterance Text {_quote(text)})))")
            lines.append(f'(utt.save.wave u "{tmp}/{i}.wav" \'riff)')
            lines.append(f'(utt.save.segs u "{tmp}/{i}.segs")')
        script = Path(tmp) / "batch.scm"
        script.write_text("\n".join(lines) + "\n")
        try:
            res = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise FestivalError(f"festival did not finish {len(items)} sentences in {timeout_s} s") from e
        out = []
        for i in range(len(items)):
            wav, segs = Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}.segs"
            if not wav.exists() or not segs.exists():
                raise FestivalError(f"festival wrote no output for {items[i][0]!r} (voice {items[i][1]}); "
                                    f"stderr: {res.stderr.strip()[-400:]}. If a voice is missing, " + _INSTALL)
            rate, wave = wavfile.read(wav)
            if wave.ndim != 1:
                wave = wave[:, 0]
            out.append((wave.astype(np.int16), int(rate), parse_segs(segs.read_text())))
    return out
