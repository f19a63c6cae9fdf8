"""Offline forced alignment of recordings to their transcripts with pocketsphinx.

The ``pocketsphinx`` wheel (the ``align`` extra) ships a US-English acoustic model and CMUdict;
its decoder aligns a known word sequence to audio in two passes (``set_align_text`` + decode
for words, ``set_alignment()`` + decode again for phones). Both passes need silence around the
speech: without it the grammar search ends with "Final result does not match the grammar", so
the waveform is padded with ``pad_s`` of faint seeded noise before decoding (the padding is cut
off again; the features are computed on the caller's waveform).

Pocketsphinx's phones are CMU's 39 plus ``SIL`` and fillers (``+NSN+`` …, mapped to ``SIL``),
exactly :data:`~slt_widgets.datasets.speech.phonemes.PHONEME_CLASSES`. Words missing from the
dictionary get their pronunciation from eSpeak NG (the corpus's synthesiser), mapped with the
corpus's own eSpeak → CMU table.

The decoder's search is fragile on some utterances (a beam prunes the only path through the
grammar, more often in noise); a failed attempt is retried with other beams and padding noise,
then on a spectrally denoised copy, and finally with eSpeak pronunciations for every word. A file that still does not align raises
:class:`AlignmentError` with a reason, never a guessed alignment.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .boundaries import ESPEAK_OFFSETS, OFFSETS_FILE, shift_boundaries
from .features import SAMPLE_RATE
from .phonemes import PHONEME_CLASSES, UnknownPhonemeError, map_espeak

__all__ = ["Aligner", "Alignment", "AlignmentError", "transcript_words", "speech_level", "denoise", "INSTALL_HINT",
           "DOUBTFUL_SCORE", "N_RAW_PLAN_ATTEMPTS", "DECODER_SETTINGS"]

INSTALL_HINT = "pip install 'slt_widgets[align]' (it brings pocketsphinx, with its English model and CMUdict)"

_PHONES = frozenset(PHONEME_CLASSES)
_FRAME_S = 0.01          # pocketsphinx's frame shift (frate 100), set explicitly in the decoder config
_WINDOW_S = 0.025625     # pocketsphinx's analysis window (its default wlen), set explicitly too
# A phone pocketsphinx starts at frame s starts at s * shift: Sphinx's own convention (its word
# times, and the alignments its models were trained on), and the one that matches the corpus's
# timing where a boundary is acoustically sharp. Measured on the 235 shipped eval + dev utterances
# (5,402 vowel <-> fricative/stop and vowel -> nasal boundaries, true phones): signed error mean -1.3 ms, median 0.
# Matching the windows instead (s * shift + window / 2 - shift / 2, so that pocketsphinx frame j
# labels corpus frame j) makes those boundaries one frame late (+8.7 ms, median +10) and frame
# agreement worse (79.2 -> 78.7 %). The average -8 ms comes from soft edges (approximants, nasals,
# stop -> fricative), which pocketsphinx's model puts early; no single offset fixes those
# (docs/alignment.md, "Signed boundary error").
# Scores below this are flagged as doubtful (still returned): on the shipped splits 95 % of English
# utterances scored above it, but eSpeak's French/Spanish/Italian/Dutch sentences scored -0.0020 …
# -0.0040, so the score alone cannot tell another language apart (see docs/alignment.md).
DOUBTFUL_SCORE = -0.0030

# (spectral-subtraction strength, beam, padding-noise rms on the int16 scale) tried in turn.
# Measured on the shipped splits: each later attempt rescues utterances the default beams prune
# away; noisy, reverberant takes (8 dB SNR) only align after the noise is subtracted. Denoising
# only steers the search: the features are always computed on the caller's waveform.
_ATTEMPTS = ((0.0, 1e-48, 3.0), (0.0, 1e-64, 30.0), (0.0, 1e-30, 3.0), (0.0, 1e-48, 30.0),
             (1.0, 1e-48, 3.0), (2.0, 1e-48, 3.0), (1.0, 1e-30, 3.0), (2.0, 1e-64, 3.0))
N_RAW_PLAN_ATTEMPTS = len(_ATTEMPTS)
"""Attempts made with the first pronunciation plan; an ``Alignment.attempt`` at or above it used the
all-eSpeak fallback."""
# Pocketsphinx settings every decoder is built with (besides frame shift, window and beams).
# bestpath=False: the word pass keeps its Viterbi path instead of rescoring a lattice for the best
# path; the phone pass then starts from that path. Measured side by side on the held-out splits
# (docs/alignment.md, "Decoder settings"): frame agreement +0.6 / +1.1 points on eSpeak NG's eval
# (CMUdict / true phones; 147 instead of 144 of 148 takes align) and +0.8 / +1.0 on Festival's xeng,
# so it helps both synthesisers, unlike the per-transition shifts.
DECODER_SETTINGS: dict = {"bestpath": False}
_MAX_PHONE_S = 0.6      # a phone held longer than this means the transcript skips speech
_MAX_S = 120.0


class AlignmentError(ValueError):
    """A recording that cannot be aligned to its transcript; ``reason`` is one of
    ``"silent"``, ``"too_short"``, ``"too_long"``, ``"no_match"``, ``"mismatch"``, ``"no_words"``,
    ``"not_english"`` (more than half of the words are not in CMUdict)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Alignment:
    """Phone and word timing of one recording.

    segments: ``[(start_s, end_s, label), ...]`` covering the recording, labels in
    :data:`PHONEME_CLASSES`; words: ``[(start_s, end_s, word), ...]``; score: mean acoustic
    log-likelihood per frame of the aligned states relative to each frame's best state
    (pocketsphinx normalises every frame by its best senone): 0 means every frame sits on the
    state the model likes best, more negative is a worse fit (pocketsphinx's scaled log units;
    compare files of one recording set-up); pronunciations: ``{word: (phones, source)}``
    with source ``"cmudict"`` or ``"espeak"``; attempt: which retry succeeded (0 = first);
    variant_words: words (in spoken order) for which the decoder chose the eSpeak NG variant offered
    with ``Aligner(variants=True)`` over CMUdict's pronunciations.
    """
    segments: tuple[tuple[float, float, str], ...]
    words: tuple[tuple[float, float, str], ...]
    score: float
    pronunciations: dict = field(default_factory=dict)
    attempt: int = 0
    variant_words: tuple[str, ...] = ()

    @property
    def espeak_words(self) -> tuple[str, ...]:
        """Words whose pronunciation came from eSpeak NG (not in CMUdict, or all of them with ``pronunciation='espeak'``)."""
        return tuple(w for w, (_, src) in self.pronunciations.items() if src == "espeak")


def transcript_words(text: str) -> list[str]:
    """Words of a transcript as the aligner sees them: lower case, punctuation dropped, hyphens split.

    ``"Don't stop -- well-known, 42!"`` → ``["don't", "stop", "well", "known", "42"]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"transcript must be a string, got {type(text).__name__}")
    words = []
    for tok in re.findall(r"[^\W_]+(?:'[^\W_]+)*", text.lower()):
        words.append(tok)
    return words


def denoise(wave: np.ndarray, strength: float) -> np.ndarray:
    """Spectral subtraction: ``[n]`` → ``[n]`` with each frequency's noise floor (its 20th-percentile
    magnitude over time, times ``strength``) subtracted; gains floored at 0.05."""
    from scipy.signal import istft, stft
    x = np.asarray(wave, dtype=np.float64)
    _, _, Z = stft(x, SAMPLE_RATE, nperseg=512, noverlap=384)
    mag = np.abs(Z)
    noise = np.percentile(mag, 20, axis=1, keepdims=True)
    gain = np.maximum(1.0 - strength * noise / np.maximum(mag, 1e-9), 0.05)
    _, y = istft(Z * gain, SAMPLE_RATE, nperseg=512, noverlap=384)
    out = np.zeros_like(x)
    out[:min(len(x), len(y))] = y[:len(x)]
    return out


def speech_level(wave: np.ndarray) -> tuple[float, float]:
    """Peak frame level and dynamic range of ``[n]`` int16-scale samples, in dB (full scale = 0 dB).

    Levels are RMS over 25 ms frames; range = 95th minus 10th percentile. Speech has pauses
    between syllables, so its range is wide; silence and steady noise have a narrow one.
    """
    x = np.asarray(wave, dtype=np.float64)
    n = (len(x) - 400) // 160 + 1
    if n < 1:
        return -120.0, 0.0
    idx = np.arange(400)[None, :] + 160 * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(x[idx] ** 2, axis=1)) / 32768.0
    db = 20 * np.log10(np.maximum(rms, 1e-6))
    return float(db.max()), float(np.percentile(db, 95) - np.percentile(db, 10))


class Aligner:
    """Forced aligner for 16 kHz speech (one per process; the decoders are built on first use).

    pronunciation: ``"cmudict"`` (dictionary first, eSpeak NG for missing words) or ``"espeak"``
    (eSpeak NG for every word, as the built-in corpus was synthesised); pad_s: silence added on
    each side before decoding (the grammar search fails without it); seed: padding-noise seed.

    timing: ``"sphinx"`` (the boundaries where pocketsphinx's model switches phone; the default) or
    ``"espeak"`` (each boundary then moved by eSpeak NG's median offset for its kind of transition,
    :data:`~.boundaries.ESPEAK_OFFSETS`: labels placed the way the built-in corpus places them; it
    helps against eSpeak NG's own timing and hurts against Festival's, so it is a convention, not a
    correction). variants: also offer eSpeak NG's pronunciation of each dictionary word as an
    alternative (``word(n)``) the decoder may pick; measured +0.6 points on eSpeak NG speech,
    -0.2 on Festival's (docs/alignment.md), so off by default.
    """

    def __init__(self, pronunciation: str = "cmudict", pad_s: float = 0.3, seed: int = 0, timing: str = "sphinx",
                 variants: bool = False):
        if pronunciation not in ("cmudict", "espeak"):
            raise ValueError(f"pronunciation must be 'cmudict' or 'espeak', got {pronunciation!r}")
        if timing not in ("sphinx", "espeak"):
            raise ValueError(f"timing must be 'sphinx' (pocketsphinx's boundaries) or 'espeak' (moved to eSpeak NG's "
                             f"conventions), got {timing!r}")
        if timing == "espeak" and not ESPEAK_OFFSETS:
            raise ValueError(f"timing='espeak' needs {OFFSETS_FILE.name}, which this install lacks; build it with "
                             "python -m slt_widgets.datasets.speech.fit_timing")
        if not isinstance(variants, bool):
            raise ValueError(f"variants must be True or False, got {variants!r}")
        self.timing = timing
        self.variants = variants
        self._variant_names: dict[str, str] = {}     # dictionary word -> the name of its eSpeak variant
        self._variant_checked: set[str] = set()
        if not 0.1 <= float(pad_s) <= 2.0:
            raise ValueError(f"pad_s must lie in 0.1..2.0 s (the grammar search needs silence), got {pad_s}")
        self.pronunciation = pronunciation
        self.pad_s = float(pad_s)
        self.seed = int(seed)
        self._decoders: dict[float, object] = {}
        self._espeak_cache: dict[str, tuple[str, ...]] = {}
        self._added: dict[tuple[str, ...], str] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- pocketsphinx
    def _decoder(self, beam: float):
        if beam not in self._decoders:
            try:
                import pocketsphinx as ps
            except ImportError as e:
                raise ImportError(f"forced alignment needs pocketsphinx: {INSTALL_HINT}") from e
            cfg = ps.Config(loglevel="FATAL", lm=None, frate=round(1 / _FRAME_S), wlen=_WINDOW_S,
                            beam=beam, pbeam=beam, wbeam=min(beam * 1e20, 1e-10), **DECODER_SETTINGS)
            self._decoders[beam] = ps.Decoder(cfg)
            for phones, name in self._added.items():
                self._decoders[beam].add_word(name, " ".join(phones), True)
            for word, name in self._variant_names.items():
                self._decoders[beam].add_word(name, " ".join(self.espeak_phones(word)), True)
        return self._decoders[beam]

    def _dict_phones(self, word: str) -> tuple[str, ...] | None:
        pron = self._decoder(_ATTEMPTS[0][1]).lookup_word(word)
        return tuple(pron.split()) if pron else None

    def espeak_phones(self, word: str) -> tuple[str, ...]:
        """eSpeak NG's pronunciation of one word as CMU phones (``"zorblax"`` → ``("Z", "AO", "R", ...)``)."""
        if word not in self._espeak_cache:
            from .espeak import get_espeak
            u = get_espeak().synthesize(word, "en-us", 175, 50, 50)
            phones: list[str] = []
            for _, m in u.events:
                try:
                    labs = map_espeak(m)
                except UnknownPhonemeError:
                    continue   # a mnemonic outside the table (non-English letters): no CMU phone for it
                phones.extend(p for p in labs if p != "SIL")
            self._espeak_cache[word] = tuple(phones)
        return self._espeak_cache[word]

    def pronounce(self, word: str, source: str | None = None) -> tuple[tuple[str, ...], str]:
        """``(phones, source)`` for a word: CMUdict when it has it (and ``source`` is not ``"espeak"``), else eSpeak."""
        source = source or self.pronunciation
        if source == "cmudict" and re.fullmatch(r"[a-z']+", word):
            p = self._dict_phones(word)
            if p:
                return p, "cmudict"
        return self.espeak_phones(word), "espeak"

    def _word_name(self, phones: tuple[str, ...]) -> str:
        # Words the dictionary lacks are added under ASCII names of our own (the decoder's
        # dictionary is byte-oriented and shared by every later call).
        if phones not in self._added:
            name = f"__slt{len(self._added)}"
            self._added[phones] = name
            for dec in self._decoders.values():
                dec.add_word(name, " ".join(phones), True)
        return self._added[phones]

    def _add_variant(self, word: str) -> None:
        # eSpeak NG's pronunciation of a dictionary word as the word's next alternative, word(k):
        # the grammar search then takes whichever pronunciation fits the audio better.
        if word in self._variant_checked:
            return
        self._variant_checked.add(word)
        dec = self._decoder(_ATTEMPTS[0][1])
        known, k = [], 1
        while (p := dec.lookup_word(word if k == 1 else f"{word}({k})")) is not None:
            known.append(tuple(p.split()))
            k += 1
        e = self.espeak_phones(word)
        if not known or not e or e in known:
            return
        name = f"{word}({k})"
        for d in self._decoders.values():
            d.add_word(name, " ".join(e), True)
        self._variant_names[word] = name

    # ---------------------------------------------------------------- alignment
    def align(self, wave: np.ndarray, text: str) -> Alignment:
        """Align ``wave`` (``[n]`` samples at 16 kHz on the int16 scale) to ``text``.

        Raises :class:`AlignmentError` (with ``reason``) for silence, audio too short or long,
        a transcript without words, a grammar search that finds no path (the transcript does not
        fit the audio) or an alignment that holds one phone implausibly long (the transcript skips
        speech). Never returns a guessed alignment.
        """
        x = np.asarray(wave, dtype=np.float64)
        words = transcript_words(text)
        if not words:
            raise AlignmentError("no_words", f"the transcript {text[:60]!r} has no words to align")
        return self._align_checked(x, words, None)

    def align_pronounced(self, wave: np.ndarray, words: Sequence[tuple[str, Sequence[str]]]) -> Alignment:
        """Align ``wave`` (``[n]``, 16 kHz) to words with given pronunciations ``[(word, [CMU phones]), ...]``.

        The pronunciations are used as they are (source ``"given"``), e.g. the true phone
        sequence of a synthesised utterance, to measure timing apart from pronunciation.
        """
        x = np.asarray(wave, dtype=np.float64)
        plan = {}
        for w, phones in words:
            phones = tuple(str(p).upper() for p in phones)
            bad = [p for p in phones if p not in _PHONES or p == "SIL"]
            if not phones or bad:
                raise ValueError(f"word {w!r}: pronunciations are non-empty lists of CMU phones "
                                 f"({' '.join(PHONEME_CLASSES[:-1])}); got {bad or 'none'}")
            plan[str(w)] = (phones, "given")
        return self._align_checked(x, [str(w) for w, _ in words], plan)

    def _align_checked(self, x: np.ndarray, words: list[str], plan: dict | None) -> Alignment:
        if x.ndim != 1:
            raise ValueError(f"wave must be 1-D [n_samples] at 16 kHz, got shape {x.shape}")
        dur = len(x) / SAMPLE_RATE
        if dur < 0.3:
            raise AlignmentError("too_short", f"the recording lasts {dur:.2f} s; record at least 0.3 s of speech")
        if dur > _MAX_S:
            raise AlignmentError("too_long", f"the recording lasts {dur:.0f} s; split it into sentences of "
                                             f"under {_MAX_S:.0f} s (one transcript each)")
        if not words:
            raise AlignmentError("no_words", "the transcript has no words to align")
        peak, spread = speech_level(x)
        if peak < -55 or spread < 10:
            raise AlignmentError("silent", f"no speech found: the loudest 25 ms is {peak:.0f} dBFS and the level "
                                           f"varies by only {spread:.0f} dB (silence or steady noise). Check the "
                                           "microphone, or that this is the right file")
        with self._lock:
            al = self._align_locked(x, words, plan)
        if self.timing == "espeak":
            segs, moved = shift_boundaries(al.segments, ESPEAK_OFFSETS)
            al = replace(al, segments=tuple(segs), words=tuple(
                (moved.get(round(a, 6), a), moved.get(round(b, 6), b), w) for a, b, w in al.words))
        return al

    def _align_locked(self, x: np.ndarray, words: list[str], given: dict | None) -> Alignment:
        if given is not None:
            plans = [given]
        else:
            prons = {w: self.pronounce(w) for w in words}
            unknown = [w for w in words if not (re.fullmatch(r"[a-z']+", w) and self._dict_phones(w))]
            if len(words) >= 3 and len(unknown) > len(words) / 2:
                raise AlignmentError("not_english", f"{len(unknown)} of the {len(words)} words are not in the English "
                                                    f"dictionary ({', '.join(unknown[:6])}): the aligner's model is "
                                                    "US English only. Give an English transcript of English speech")
            plans = [prons]
            if self.variants:
                for w in words:
                    if prons[w][1] == "cmudict":
                        self._add_variant(w)
            if any(src == "cmudict" for _, src in prons.values()):
                plans.append({w: self.pronounce(w, "espeak") for w in words})   # last resort: eSpeak for all
        npad = int(round(self.pad_s * SAMPLE_RATE))
        last, detail = "no_match", ""
        attempt = 0
        for plan in plans:
            if any(not p for p, _ in plan.values()):
                empty = [w for w, (p, _) in plan.items() if not p]
                raise AlignmentError("no_words", f"no pronunciation for {', '.join(empty)} (not English letters?); "
                                                 "write the words out in English spelling")
            text = " ".join(w if plan[w][1] == "cmudict" else self._word_name(plan[w][0]) for w in words)
            cleaned = {}
            for strength, beam, noise in _ATTEMPTS:
                rng = np.random.default_rng([self.seed, attempt])
                if strength and strength not in cleaned:
                    cleaned[strength] = denoise(x, strength)
                xs = cleaned[strength] if strength else x
                xp = np.concatenate([np.zeros(npad), xs, np.zeros(npad)])
                xp = xp + rng.normal(0.0, noise, len(xp))
                pcm = np.clip(np.round(xp), -32768, 32767).astype(np.int16).tobytes()
                phones = self._two_pass(self._decoder(beam), pcm, text)
                if phones is None:
                    attempt += 1
                    continue
                al = self._to_alignment(phones, words, plan, npad, len(x), attempt)
                if self._variant_names:
                    chosen = set(self._variant_names.values())
                    al = replace(al, variant_words=tuple(w.split("(")[0] for w, _ in phones if w in chosen))
                long = [(s, e, lab) for s, e, lab in al.segments if lab != "SIL" and e - s > _MAX_PHONE_S]
                if long:
                    last = "mismatch"
                    detail = ", ".join(f"{lab} {s:.2f}–{e:.2f} s" for s, e, lab in long[:3])
                    attempt += 1
                    continue
                return al
        if last == "mismatch":
            raise AlignmentError("mismatch", f"the transcript does not fit the audio: the aligner had to hold "
                                             f"{detail} (a phone lasts well under {_MAX_PHONE_S} s). Check that the "
                                             "transcript says exactly what is spoken")
        raise AlignmentError("no_match", "the transcript could not be fitted to the audio (no path through the "
                                         f"{len(words)} words matched it after {attempt} attempts): check that the "
                                         "transcript says exactly what is spoken, in English")

    @staticmethod
    def _two_pass(dec, pcm: bytes, text: str):
        try:
            dec.set_align_text(text)
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            if dec.hyp() is None:
                return None
            dec.set_alignment()
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            al = dec.get_alignment()
            if al is None:
                return None
            lm = dec.get_logmath()
            out = []
            for w in al:
                out.append((w.name, [(p.name, int(p.start), int(p.duration), lm.log_to_ln(p.score)) for p in w]))
            return out
        except RuntimeError:      # "Failed to stop utterance processing" / "Failed to set up sub-word alignment"
            return None

    @staticmethod
    def _to_alignment(phones, words, plan, npad, n, attempt) -> Alignment:
        off = npad / SAMPLE_RATE          # pocketsphinx frame index * shift - off = time in the caller's wave
        end = n / SAMPLE_RATE
        segs: list[tuple[float, float, str]] = []
        wsegs: list[tuple[float, float, str]] = []
        total, frames = 0.0, 0
        wi = 0
        for wname, plist in phones:
            if not plist:
                continue
            ws = plist[0][1] * _FRAME_S - off
            we = (plist[-1][1] + plist[-1][2]) * _FRAME_S - off
            is_word = not (wname.startswith("<") or wname.startswith("+") or wname in ("<sil>", "sil"))
            if is_word and wi < len(words):
                wsegs.append((max(ws, 0.0), min(we, end), words[wi]))
                wi += 1
            for name, s, d, sc in plist:
                lab = name if name in _PHONES else "SIL"
                a, b = max(s * _FRAME_S - off, 0.0), min((s + d) * _FRAME_S - off, end)
                total += sc
                frames += d
                if b <= a:
                    continue
                if segs and segs[-1][2] == lab and abs(segs[-1][1] - a) < 1e-9:
                    segs[-1] = (segs[-1][0], b, lab)
                else:
                    segs.append((a, b, lab))
        if segs and segs[0][0] > 0:
            segs.insert(0, (0.0, segs[0][0], "SIL"))
        if segs and segs[-1][1] < end:
            segs.append((segs[-1][1], end, "SIL"))
        return Alignment(segments=tuple(segs), words=tuple(wsegs), score=total / max(frames, 1),
                         pronunciations={w: plan[w] for w in words}, attempt=attempt)
