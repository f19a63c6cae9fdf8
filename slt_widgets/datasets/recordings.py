"""`load_recordings`: your own WAV files plus transcripts, aligned offline, as a `FrameDataset`.

Each recording is resampled to 16 kHz, forced-aligned to its transcript with pocketsphinx
(:mod:`slt_widgets.datasets.speech.align`), labelled with the 39 CMU phonemes + ``SIL`` and
turned into the corpus's own features (23 log-Mel, 25 ms / 10 ms, per-utterance CMVN, float16),
so a net trained on the built-in corpus reads them directly.

Problems with the *inputs* (a missing or empty transcript, a file that is not a WAV, a sample
rate below 16 kHz) are collected for every file first and raised together, before any
alignment runs. A recording that cannot be *aligned* (silence, another language, a transcript
that does not match) is left out with its reason in the report; the others still load.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .frames import FrameDataset
from .loaders import CorpusFormatError
from .loaders.audio import read_riff
from .speech.features import N_MELS, SAMPLE_RATE, cmvn, fbank, n_frames, resample_to_16k
from .speech.phonemes import PHONEME_CLASSES, frame_labels

__all__ = ["load_recordings", "RecordingsReport", "RecordingError", "recording_dataset", "read_wav", "samples_to_16k",
           "concat_datasets", "with_source"]

_FIX_WAV = "convert it, e.g. `ffmpeg -i IN -ac 1 -ar 16000 OUT.wav` or `sox IN -r 16000 -c 1 OUT.wav`"


class RecordingError(ValueError):
    """Inputs that cannot be read: the message lists every problem file with its fix."""


@dataclass
class RecordingsReport:
    """What :func:`load_recordings` did.

    loaded: names of the aligned recordings, in dataset order; skipped: ``{name: reason}`` for
    recordings left out; espeak_words: ``{name: [words]}`` pronounced by eSpeak NG because
    CMUdict lacks them; scores: ``{name: score}`` (see :class:`~.speech.align.Alignment`);
    resampled: ``{name: original_rate}``; doubtful: ``{name: why}`` loaded recordings whose
    alignment score is low (below :data:`~.speech.align.DOUBTFUL_SCORE`): check their transcripts.
    """
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    espeak_words: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    resampled: dict[str, int] = field(default_factory=dict)
    doubtful: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{len(self.loaded)} recording(s) aligned, {len(self.skipped)} left out"]
        for name, why in self.skipped.items():
            lines.append(f"  left out {name}: {why}")
        for name, words in self.espeak_words.items():
            lines.append(f"  {name}: pronounced by eSpeak NG (not in CMUdict): {', '.join(words)}")
        for name, why in self.doubtful.items():
            lines.append(f"  check {name}: {why}")
        for name, rate in self.resampled.items():
            lines.append(f"  {name}: resampled from {rate} Hz to 16 kHz")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- reading
def read_wav(path) -> tuple[np.ndarray, int]:
    """Read a RIFF/WAVE file: ``(wave [n] float64 on the int16 scale, rate)``; stereo is averaged to mono.

    Raises :class:`RecordingError` naming the file and the fix when it is not a readable WAV.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise RecordingError(f"{path}: cannot be read ({e.strerror or e})") from None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise RecordingError(f"{path} is not a WAV file (it starts with {head[:4]!r}); {_FIX_WAV}")
    try:
        return read_riff(path, fix=_FIX_WAV)
    except CorpusFormatError as e:
        raise RecordingError(str(e)) from None


def samples_to_16k(samples, rate, name: str = "recording") -> np.ndarray:
    """Samples ``[n]`` at ``rate`` Hz (int16 scale, or float in -1..1) → float64 ``[m]`` at 16 kHz, int16 scale.

    Raises :class:`RecordingError` naming ``name`` for a bad shape, NaN/inf or a rate below 16 kHz.
    """
    x = np.asarray(samples)
    if x.ndim != 1 or not (np.issubdtype(x.dtype, np.number) and x.dtype.kind != "c"):
        raise RecordingError(f"{name}: samples must be a 1-D real array [n], got shape {x.shape} dtype {x.dtype}")
    if x.dtype.kind == "f" and len(x) and np.nanmax(np.abs(x)) <= 1.0:
        x = x.astype(np.float64) * 32768.0     # float audio in -1..1
    x = x.astype(np.float64)
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise RecordingError(f"{name}: the sample rate must be a positive int (Hz), got {rate!r}")
    if not np.isfinite(x).all():
        raise RecordingError(f"{name}: the audio contains NaN or infinite samples")
    if rate < SAMPLE_RATE:
        raise RecordingError(f"{name} is sampled at {rate} Hz; the features need 16 kHz or more (they reach "
                             "8 kHz). Record again at 16 kHz or higher (upsampling cannot add what is missing)")
    return resample_to_16k(x, int(rate))


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RecordingError(f"{path}: the transcript is not UTF-8 text; save it as UTF-8") from None
    return " ".join(text.split())


def _collect(source) -> list[tuple[str, object, object]]:
    """``[(name, wav path or (array, rate), text or transcript path)]`` from a folder or pairs."""
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if not root.exists():
            raise RecordingError(f"{root} does not exist; pass a folder of WAV files with same-named .txt "
                                 "transcripts, or a list of (wav, text) pairs")
        if root.is_file():
            raise RecordingError(f"{root} is a file; pass its folder, or [({str(root)!r}, 'what is said')]")
        files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
        wavs = [p for p in files if p.suffix.lower() == ".wav"]
        txts = {p.stem: p for p in files if p.suffix.lower() == ".txt"}
        items, problems = [], []
        for p in files:
            if p.suffix.lower() in (".mp3", ".m4a", ".ogg", ".flac", ".webm", ".aac", ".opus", ".aiff", ".aif"):
                problems.append(f"{p.name} is not a WAV file; {_FIX_WAV.replace('IN', p.name)}")
        wav_stems = {p.stem for p in wavs}
        for stem, t in txts.items():
            if stem not in wav_stems and not any(p.stem == stem for p in files if p != t):
                problems.append(f"{t.name} has no recording {stem}.wav next to it")
        for w in wavs:
            if w.stem not in txts:
                problems.append(f"{w.name} has no transcript: write what is said into {w.stem}.txt")
            else:
                items.append((w.name, w, txts[w.stem]))
        if problems:
            raise RecordingError(f"{root}: " + "; ".join(problems))
        if not items:
            raise RecordingError(f"{root} holds no .wav files; put name.wav and name.txt (what is said) there")
        return items
    if isinstance(source, (bytes, np.ndarray)) or not isinstance(source, Iterable):
        raise TypeError(f"load_recordings takes a folder or a list of (wav, text) pairs, got {type(source).__name__}")
    items = []
    for i, pair in enumerate(source):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise RecordingError(f"item {i} is {pair!r:.60}; each item must be a (wav, text) pair: a WAV path "
                                 "or a (samples, rate) tuple, and the sentence spoken")
        wav, text = pair
        if isinstance(wav, (tuple, list)) and len(wav) == 2:
            name = f"recording {i}"
        elif isinstance(wav, (str, os.PathLike)):
            name = Path(wav).name
        else:
            raise RecordingError(f"item {i}: the recording must be a WAV path or a (samples, rate) tuple, "
                                 f"got {type(wav).__name__}")
        if not isinstance(text, (str, os.PathLike)):
            raise RecordingError(f"item {i} ({name}): the transcript must be a string, got {type(text).__name__}")
        items.append((name, wav, text))
    if not items:
        raise RecordingError("the list of (wav, text) pairs is empty")
    names = [n for n, _, _ in items]
    if len(set(names)) != len(names):   # two folders with a take1.wav each: name them by position
        items = [(f"{i}:{n}", w, t) for i, (n, w, t) in enumerate(items)]
    return items


def _prepare(items) -> tuple[list[tuple[str, np.ndarray, str, int]], list[str]]:
    """Read every recording and transcript; returns (ready items, problems) with 16 kHz int16-scale audio."""
    ready, problems = [], []
    for name, wav, text in items:
        try:
            if isinstance(text, os.PathLike) or (isinstance(text, str) and text.endswith(".txt") and Path(text).is_file()):
                tp = Path(text)
                text = _read_text(tp)
                if not text:
                    raise RecordingError(f"{tp.name} is empty: write what is said in {name} into it")
            elif not text.strip():
                raise RecordingError(f"{name}: the transcript is empty; give the sentence that is spoken")
            if isinstance(wav, (tuple, list)):
                x16, rate = samples_to_16k(wav[0], wav[1], name), wav[1]
            else:
                x, rate = read_wav(wav)
                x16 = samples_to_16k(x, rate, name)
            ready.append((name, x16, " ".join(str(text).split()), int(rate)))
        except RecordingError as e:
            problems.append(str(e))
    return ready, problems


# ----------------------------------------------------------------------------- building
def _features(x16: np.ndarray, seed: int) -> np.ndarray:
    # Digital silence (exact zeros) gives -inf-like log energies; the corpus adds seeded noise
    # for the same reason. 1 LSB of noise is far below any microphone's own noise.
    rng = np.random.default_rng([seed, len(x16)])
    pcm = np.clip(np.round(x16 + rng.normal(0.0, 1.0, len(x16))), -32768, 32767)
    return cmvn(fbank(pcm.astype(np.float32)))


def recording_dataset(items: Sequence[tuple[str, np.ndarray, str]], aligner=None, progress: bool = True,
                      name: str = "recordings", context: int = 5, seed: int = 0,
                      voices: Sequence[str] | None = None) -> FrameDataset:
    """Align already-read 16 kHz recordings: items ``[(name, wave [n] int16 scale, text)]``.

    voices: ``[len(items)]`` speaker names stored as ``utt_voice`` (default: the item names).

    Returns a :class:`FrameDataset` (see :func:`load_recordings`); raises
    :class:`~.speech.align.AlignmentError` (the first file's reason) when none aligns.
    """
    from tqdm.auto import tqdm
    from .speech.align import DOUBTFUL_SCORE, N_RAW_PLAN_ATTEMPTS, Aligner, AlignmentError
    aligner = aligner or Aligner()
    report = RecordingsReport()
    utts = []
    voice_of = dict(zip((it[0] for it in items), voices)) if voices is not None else {}
    for nm, x, text in tqdm(items, desc="aligning", unit="file", disable=not progress or len(items) < 2):
        if n_frames(len(x)) < 1:
            report.skipped[nm] = "shorter than one 25 ms frame"
            continue
        try:
            al = aligner.align(x, text)
        except AlignmentError as e:
            report.skipped[nm] = f"{e} [{e.reason}]"
            continue
        feats = _features(x, seed)
        labels = frame_labels(al.segments, len(feats))
        utts.append((nm, x, text, al, feats, labels))
        report.loaded.append(nm)
        report.scores[nm] = float(al.score)
        if al.score < DOUBTFUL_SCORE:
            report.doubtful[nm] = (f"alignment score {al.score:.4f} is low (95 % of the corpus's English utterances "
                                   f"score above {DOUBTFUL_SCORE}): is the transcript exact, and is it English?")
        elif al.attempt >= N_RAW_PLAN_ATTEMPTS:
            report.doubtful[nm] = ("it aligned only with eSpeak NG pronunciations for every word, not with CMUdict's: "
                                   "is the transcript exact, and is it English?")
        if al.espeak_words:
            report.espeak_words[nm] = list(al.espeak_words)
    if not utts:
        raise AlignmentError("none", "no recording could be aligned:\n" + "\n".join(
            f"  {k}: {v}" for k, v in report.skipped.items()))
    frames = np.concatenate([u[4] for u in utts]).astype(np.float16)
    lens = np.array([len(u[4]) for u in utts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    waves = [np.clip(np.round(u[1]), -32768, 32767).astype(np.int16) for u in utts]
    ds = FrameDataset(
        labels=np.concatenate([u[5] for u in utts]).astype(np.int64), class_names=PHONEME_CLASSES,
        feature_shape=(N_MELS, 2 * context + 1), _frames=frames, _frame_index=np.arange(len(frames), dtype=np.int64),
        _utt_of_sample=np.repeat(np.arange(len(utts)), lens), utt_bounds=np.stack([starts, starts + lens], 1),
        utt_voice=tuple(voice_of.get(u[0], u[0]) for u in utts), utt_text=tuple(u[2] for u in utts), context=context,
        audio_rate=SAMPLE_RATE, _audio=np.concatenate(waves),
        _audio_offsets=np.concatenate([[0], np.cumsum([len(w) for w in waves])[:-1]]).astype(np.int64), name=name)
    ds.meta.update(origin="recordings", report=report,
                   alignments=[{"name": u[0], "text": u[2], "segments": list(u[3].segments),
                                "words": list(u[3].words), "score": float(u[3].score),
                                "pronunciations": {w: list(p) for w, (p, _) in u[3].pronunciations.items()},
                                "espeak_words": list(u[3].espeak_words), "variant_words": list(u[3].variant_words)}
                               for u in utts], timing=getattr(aligner, "timing", "sphinx"))
    return ds


def load_recordings(source, *, pronunciation: str = "cmudict", progress: bool = True, name: str = "recordings",
                    context: int = 5, pad_s: float = 0.3, seed: int = 0, timing: str = "sphinx",
                    variants: bool = False) -> FrameDataset:
    """Your own speech as a phoneme-labelled :class:`FrameDataset`, aligned offline.

    source: a folder of ``name.wav`` files with same-named ``name.txt`` transcripts, or a list of
    ``(wav, text)`` pairs where ``wav`` is a path or a ``(samples [n], rate)`` tuple and ``text``
    the sentence spoken (or a ``.txt`` path). Any rate ≥ 16 kHz is resampled to 16 kHz; stereo
    is averaged. pronunciation: ``"cmudict"`` (dictionary, eSpeak NG for missing words) or
    ``"espeak"`` (eSpeak NG for every word, like the built-in corpus). timing: ``"sphinx"``
    (pocketsphinx's boundaries, the default) or ``"espeak"`` (each boundary moved by eSpeak NG's
    median offset for its kind of transition: frames labelled the way the built-in corpus labels
    them; it does not make real speech more accurate). variants: offer eSpeak NG's pronunciation of
    each dictionary word as an alternative the decoder may pick. See :class:`~.speech.align.Aligner`
    and docs/alignment.md for what each measured.

    Returns a :class:`FrameDataset` in the corpus's format: frames ``[T, 23]`` spliced to
    ``feature_shape`` ``(23, 2*context+1)``, labels ``[T]`` over :data:`PHONEME_CLASSES`,
    ``utt_voice`` = recording names, ``utt_text`` = transcripts, 16 kHz audio. ``meta`` holds
    ``"report"`` (:class:`RecordingsReport`: what was left out and why, eSpeak words, scores),
    ``"alignments"`` (per recording: phone segments and words in seconds, score) and ``"timing"``. ``meta``
    is not written by :meth:`FrameDataset.save`.

    Raises :class:`RecordingError` listing every unreadable input (nothing is aligned then),
    and :class:`~.speech.align.AlignmentError` when no recording aligns.
    """
    from .speech.align import Aligner
    aligner = Aligner(pronunciation=pronunciation, pad_s=pad_s, seed=seed, timing=timing,
                      variants=variants)   # validates its arguments first
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or not 0 <= context <= 50:
        raise ValueError(f"context must be an int in 0..50 (frames each side), got {context!r}")
    ready, problems = _prepare(_collect(source))
    if problems:
        raise RecordingError("cannot read these recordings (nothing was aligned):\n  " + "\n  ".join(problems))
    ds = recording_dataset([(n, x, t) for n, x, t, _ in ready], aligner, progress, name, int(context), seed)
    rep = ds.meta["report"]
    rep.resampled.update({n: r for n, _, _, r in ready if r != SAMPLE_RATE})
    if progress and (rep.skipped or rep.espeak_words or rep.resampled or rep.doubtful):
        print(rep)
    return ds


# ----------------------------------------------------------------------------- combining
def concat_datasets(*datasets: FrameDataset, name: str | None = None) -> FrameDataset:
    """One spliced :class:`FrameDataset` from several with the same classes, bands and context.

    Utterances keep their order; audio is kept when every part has it at one rate. Returns a new
    dataset; ``meta["parts"]`` = ``[(name, first utterance, n_utterances)]``.
    """
    if not datasets:
        raise ValueError("concat_datasets needs at least one FrameDataset")
    first = datasets[0]
    for d in datasets:
        if not isinstance(d, FrameDataset) or d._frames is None:
            raise TypeError("concat_datasets takes speech FrameDatasets with utterances (spliced storage), e.g. "
                            "load_recordings(...) or FrameDataset.load('eval.npz')")
        if d.class_names != first.class_names or d.context != first.context or \
                d._frames.shape[1] != first._frames.shape[1]:
            raise ValueError(f"{d.name!r} and {first.name!r} differ in classes, context or bands; only datasets "
                             "in the corpus's format can be joined")
    frames, fidx, utt, bounds, voices, texts, labels, parts = [], [], [], [], [], [], [], []
    f_off = u_off = 0
    for d in datasets:
        frames.append(d._frames)
        fidx.append(d._frame_index + f_off)
        utt.append(d._utt_of_sample + u_off)
        bounds.append(d.utt_bounds + f_off)
        labels.append(d.labels)
        nu = len(d.utt_bounds)
        voices.extend(d.utt_voice or ("",) * nu)
        texts.extend(d.utt_text or ("",) * nu)
        parts.append((d.name, u_off, nu))
        f_off += len(d._frames)
        u_off += nu
    kw = {}
    rates = {d.audio_rate for d in datasets}
    if all(d.has_audio for d in datasets) and len(rates) == 1:
        offs, a_off = [], 0
        for d in datasets:
            offs.append(d._audio_offsets + a_off)
            a_off += len(d._audio)
        kw = dict(_audio=np.concatenate([d._audio for d in datasets]), _audio_offsets=np.concatenate(offs),
                  audio_rate=rates.pop())
    ds = FrameDataset(labels=np.concatenate(labels), class_names=first.class_names, feature_shape=first.feature_shape,
                      _frames=np.concatenate(frames), _frame_index=np.concatenate(fidx),
                      _utt_of_sample=np.concatenate(utt), utt_bounds=np.concatenate(bounds),
                      utt_voice=tuple(voices), utt_text=tuple(texts), context=first.context,
                      frame_shift_s=first.frame_shift_s, name=name or "+".join(d.name for d in datasets), **kw)
    ds.meta["parts"] = parts
    return ds


def with_source(user: FrameDataset, corpus: FrameDataset, user_tag: str = "you",
                corpus_tag: str = "corpus") -> FrameDataset:
    """The user's utterances next to the corpus's, tagged by source.

    Returns ``concat_datasets(corpus, user)`` with ``meta["source"]`` = ``[N]`` array of tags
    (``corpus_tag`` for the corpus's samples, ``user_tag`` for the user's) and
    ``meta["source_names"]`` = ``(corpus_tag, user_tag)``; ``meta["source_code"]`` is ``[N]``
    int8 (0 corpus, 1 user), the form a view colours by.
    """
    ds = concat_datasets(corpus, user, name=f"{corpus.name}+{user.name}")
    code = np.concatenate([np.zeros(len(corpus), np.int8), np.ones(len(user), np.int8)])
    ds.meta.update(source=np.where(code == 1, user_tag, corpus_tag), source_code=code,
                   source_names=(corpus_tag, user_tag))
    if "report" in user.meta:
        ds.meta["report"] = user.meta["report"]
    return ds


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    """``python -m slt_widgets.datasets.recordings FOLDER [--out mine.npz] [--net small|wide|none]``.

    Aligns FOLDER's ``name.wav`` + ``name.txt`` pairs, prints what was left out and why, writes the
    dataset (``--out``, a :meth:`FrameDataset.save` file) with its alignments beside it
    (``mine.alignments.json``) and, unless ``--net none``, the demo network's frame accuracy on
    your frames next to its accuracy on the corpus's eval split, class by class.
    """
    import argparse
    import json
    ap = argparse.ArgumentParser(prog="python -m slt_widgets.datasets.recordings",
                                 description="Align your own WAV + transcript files offline into a FrameDataset.")
    ap.add_argument("folder", help="folder of name.wav files with same-named name.txt transcripts")
    ap.add_argument("--out", default=None, help="write the dataset here (.npz); alignments go to .alignments.json")
    ap.add_argument("--pronunciation", choices=("cmudict", "espeak"), default="cmudict")
    ap.add_argument("--timing", choices=("sphinx", "espeak"), default="sphinx",
                    help="espeak: boundaries moved to eSpeak NG's conventions, as the built-in corpus labels them")
    ap.add_argument("--net", choices=("small", "wide", "none"), default="small",
                    help="demo network to score your frames with (default small)")
    args = ap.parse_args(argv)
    try:
        ds = load_recordings(args.folder, pronunciation=args.pronunciation, timing=args.timing, progress=True)
    except (RecordingError, ValueError, ImportError) as e:
        print(f"error: {e}")
        return 2
    rep = ds.meta["report"]
    print(rep)
    print(f"{len(ds)} frames from {len(ds.utt_bounds)} recording(s)")
    if args.out:
        out = Path(args.out)
        ds.save(out)
        side = out.with_suffix(".alignments.json")
        tmp = side.with_name(side.name + ".partial")
        tmp.write_text(json.dumps({"report": {"loaded": rep.loaded, "skipped": rep.skipped,
                                              "espeak_words": rep.espeak_words, "scores": rep.scores},
                                   "alignments": ds.meta["alignments"]}, indent=1))
        os.replace(tmp, side)
        print(f"wrote {out} and {side}")
    if args.net != "none":
        from ..analysis.sources import accuracy_by_source
        from ..demo import load_demo
        model, corpus = load_demo(args.net, "eval")
        r = accuracy_by_source(model, with_source(ds, corpus))
        print(f"demo net '{args.net}' (trained on synthetic eSpeak NG speech): {100 * r.accuracy[0]:.1f} % of the "
              f"corpus's eval frames, {100 * r.accuracy[1]:.1f} % of yours")
        for c, a0, a1, n in r.table(min_frames=10)[:10]:
            print(f"  /{c}/: corpus {100 * a0:.0f} %, yours {100 * a1:.0f} % ({n} frames)")
        print("  most frequent errors on yours: " + ", ".join(f"{t}→{p} ({k})" for t, p, k in r.confusions["you"][:6]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
