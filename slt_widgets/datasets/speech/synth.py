"""One utterance from text to labelled features: synthesis, alignment, augmentation, fbank.

Runs inside the builder's worker processes; every random draw comes from the
utterance's own seeded generator so results do not depend on which process runs them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from . import augment, features
from .phonemes import events_to_segments, fix_stop_closures, frame_labels, merge_equal

__all__ = ["UttSpec", "UttResult", "render_shard"]


@dataclass(frozen=True)
class UttSpec:
    """Everything needed to make one utterance (drawn by the builder from the seed)."""
    uid: int
    split: str
    engine: str            # "espeak" or "festival"
    voice: str             # "en-us+m3" or "kal" / "slt"
    text: str
    rate: int
    pitch: int
    pitch_span: int
    speed: float
    snr_db: float
    rt60: float | None
    pad_before_s: float
    pad_after_s: float
    seed: tuple[int, int]   # (corpus seed, uid) for the utterance's generator
    keep_audio: bool
    audio_rate: int


@dataclass
class UttResult:
    """frames: ``[T, 23]`` float16 (normalised log-Mel); labels: ``[T]`` int16; audio: int16 or None."""
    uid: int
    frames: np.ndarray
    labels: np.ndarray
    audio: np.ndarray | None


def _finish(spec: UttSpec, wave: np.ndarray, rate: int, segs_s: list[tuple[float, float, str]]) -> UttResult:
    rng = np.random.default_rng([spec.seed[0], spec.seed[1], 0xA11])
    x = features.resample_to_16k(wave, rate)
    x, f = augment.speed_perturb(x, spec.speed)
    segs = [(a / f + spec.pad_before_s, b / f + spec.pad_before_s, lab) for a, b, lab in segs_s]
    sr = features.SAMPLE_RATE
    nb, na = int(round(spec.pad_before_s * sr)), int(round(spec.pad_after_s * sr))
    mask = np.zeros(nb + len(x) + na, dtype=bool)
    mask[nb:nb + len(x)] = True
    x = np.concatenate([np.zeros(nb), x, np.zeros(na)])
    if spec.rt60:
        x = augment.reverberate(x, augment.synthetic_rir(spec.rt60, sr, rng))
    x = augment.add_noise(x, spec.snr_db, rng, signal_mask=mask)
    peak = np.max(np.abs(x)) if len(x) else 0.0
    if peak > 32000:   # a pure gain: CMVN removes it from the features
        x = x * (32000 / peak)
    pcm = np.round(x).astype(np.int16)
    fb = features.fbank(pcm)
    labels = frame_labels(segs, len(fb))
    audio = None
    if spec.keep_audio:
        audio = pcm if spec.audio_rate == sr else np.round(
            np.clip(resample_poly(pcm.astype(np.float64), spec.audio_rate, sr), -32768, 32767)
        ).astype(np.int16)
    return UttResult(spec.uid, features.cmvn(fb).astype(np.float16), labels, audio)


def render_shard(specs: list[UttSpec]) -> list[UttResult]:
    """Make the utterances of one shard, in order. Call in a fresh process for bit-identical output."""
    from . import festival
    fest = [s for s in specs if s.engine == "festival"]
    fest_out = dict(zip((s.uid for s in fest), festival.synthesize_batch(
        [(s.text, s.voice, 175.0 / s.rate) for s in fest]))) if fest else {}
    out = []
    for s in specs:
        if s.engine == "festival":
            wave, rate, segs_s = fest_out[s.uid]
        elif s.engine == "espeak":
            from .espeak import get_espeak
            u = get_espeak().synthesize(s.text, s.voice, s.rate, s.pitch, s.pitch_span,
                                        rand_seed=s.seed[0] * 1_000_003 + s.seed[1])
            segs = merge_equal(fix_stop_closures(events_to_segments(u.events, len(u.wave)), u.wave, u.rate))
            wave, rate = u.wave, u.rate
            segs_s = [(a / rate, b / rate, lab) for a, b, lab in segs]
        else:
            raise ValueError(f"unknown engine {s.engine!r}; use 'espeak' or 'festival'")
        out.append(_finish(s, wave, rate, segs_s))
    return out
