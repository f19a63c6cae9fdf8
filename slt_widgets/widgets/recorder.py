"""Recorder: record a sentence from the microphone in the browser; the kernel aligns it and adds it to a dataset."""
from __future__ import annotations

import numpy as np
import traitlets

from ..datasets.frames import FrameDataset
from ._anywidget_base import STATIC, SLTAnyWidget, bundle_esm
from ._codec import ArrayTrait

__all__ = ["Recorder"]

RATE = 16000
MAX_SECONDS = 30


class Recorder(SLTAnyWidget):
    """Microphone recorder that turns each take into an aligned utterance.

    The browser records (``getUserMedia`` + Web Audio, our own ES module), resamples to 16 kHz
    and sends the take as an int16 binary buffer (``audio``, ``[n]``) with the sentence it was
    read from (``take_text``) and a new ``take`` number. The kernel aligns it with
    :func:`slt_widgets.datasets.load_recordings`'s aligner and appends it to :attr:`dataset`, or
    says in ``message`` why it was not added (silence, a sentence that does not match, …).

    Parameters
    ----------
    sentences : sentences to pick from (the user can also type their own).
    text : the sentence shown in the input (default: the first of ``sentences``).
    speaker : name stored as each utterance's voice (``utt_voice``), default ``"you"``.
    pronunciation : ``"cmudict"`` or ``"espeak"`` (see :func:`~slt_widgets.datasets.load_recordings`).

    Attributes
    ----------
    dataset : the :class:`FrameDataset` of every take added so far (``None`` before the first);
        same features and classes as the built-in corpus.
    utterances : one dict per added take: ``name, text, seconds, n_frames, score, espeak_words``.
    last_segments : phone segments of the last aligned take, ``[[start_s, end_s, label], ...]``.
    mic_state : what the browser reports: ``""`` (not asked yet), ``"ready"``, ``"recording"``,
        ``"denied"``, ``"no-device"``, ``"unsupported"`` or ``"error"``.
    """

    _esm = bundle_esm("recorder.js")
    _css = STATIC / "recorder.css"

    sentences = traitlets.List(traitlets.Unicode()).tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    speaker = traitlets.Unicode("you").tag(sync=True)
    pronunciation = traitlets.Enum(("cmudict", "espeak"), "cmudict")
    max_seconds = traitlets.Int(MAX_SECONDS).tag(sync=True)
    # browser → kernel
    audio = ArrayTrait("int16", ndim=1).tag(sync=True)
    take = traitlets.Int(0).tag(sync=True)
    take_text = traitlets.Unicode("").tag(sync=True)
    mic_state = traitlets.Unicode("").tag(sync=True)
    # kernel → browser
    message = traitlets.Unicode("").tag(sync=True)
    message_kind = traitlets.Enum(("info", "ok", "error"), "info").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    utterances = traitlets.List(traitlets.Dict()).tag(sync=True)
    last_segments = traitlets.List(traitlets.List()).tag(sync=True)
    dataset = traitlets.Instance(FrameDataset, allow_none=True, default_value=None)

    def __init__(self, sentences=(), **kwargs):
        sentences = [" ".join(str(s).split()) for s in sentences]
        kwargs.setdefault("text", sentences[0] if sentences else "")
        super().__init__(sentences=sentences, **kwargs)
        self._aligner = None

    @traitlets.validate("max_seconds")
    def _v_max(self, proposal):
        v = proposal["value"]
        if not 1 <= v <= 120:
            raise traitlets.TraitError(f"max_seconds must lie in 1..120 (the aligner takes up to 120 s); got {v}")
        return v

    @traitlets.validate("audio")
    def _v_audio(self, proposal):
        a = proposal["value"]
        if len(a) > 120 * RATE:
            raise traitlets.TraitError(f"a take of {len(a) / RATE:.0f} s is too long; record one sentence "
                                       "(at most 120 s)")
        return a

    @traitlets.observe("take")
    def _on_take(self, change):
        if change["new"] <= change["old"]:
            return
        self.add_take(self.audio, self.take_text or self.text)

    def add_take(self, audio, text: str, *, rate: int = RATE) -> bool:
        """Align one take and append it to :attr:`dataset`; returns whether it was added.

        audio: ``[n]`` samples (int16 scale, or float in -1..1) at ``rate`` Hz (≥ 16 kHz).
        The outcome is also in ``message`` / ``message_kind``. The browser calls this through
        the ``take`` trait; call it yourself to add a recording made elsewhere.
        """
        from ..datasets.recordings import RecordingError, concat_datasets, recording_dataset, samples_to_16k
        from ..datasets.speech.align import Aligner, AlignmentError
        self.busy = True
        try:
            text = " ".join(str(text).split())
            if not text:
                return self._say("Type or pick the sentence you read, then record it again.", "error")
            n = len(self.utterances) + 1
            name = f"{self.speaker or 'you'} take {n}"
            try:
                x16 = samples_to_16k(audio, rate, name)
                if self._aligner is None:
                    self._aligner = Aligner(pronunciation=self.pronunciation)
                ds = recording_dataset([(name, x16, text)], self._aligner, progress=False, name="recordings",
                                       voices=[self.speaker or "you"])
            except ImportError as e:
                return self._say(str(e), "error")
            except (AlignmentError, RecordingError) as e:
                reason = str(e).split("\n", 1)[-1].strip()
                return self._say(f"Not added: {reason}", "error")
            al = ds.meta["alignments"][0]
            merged = ds if self.dataset is None else concat_datasets(self.dataset, ds, name="recordings")
            merged.meta["alignments"] = (self.dataset.meta.get("alignments", []) if self.dataset is not None
                                         else []) + [al]
            merged.meta["origin"] = "recordings"
            self.dataset = merged
            info = {"name": name, "text": text, "seconds": round(len(x16) / RATE, 2),
                    "n_frames": int(len(ds)), "score": round(float(al["score"]), 5),
                    "espeak_words": list(al["espeak_words"])}
            self.last_segments = [[round(s, 3), round(e, 3), lab] for s, e, lab in al["segments"]]
            self.utterances = [*self.utterances, info]
            extra = f"; pronounced by eSpeak NG: {', '.join(info['espeak_words'])}" if info["espeak_words"] else ""
            n_ph = sum(1 for s in al["segments"] if s[2] != "SIL")
            return self._say(f"Added {name}: {info['seconds']:.1f} s, {n_ph} phones, {len(ds)} frames{extra}.", "ok",
                             True)
        finally:
            self.busy = False

    def _say(self, text: str, kind: str, result: bool = False) -> bool:
        self.message, self.message_kind = text, kind
        return result

    def _figure(self):
        from matplotlib.figure import Figure
        fig = Figure(figsize=(6, 1.6))
        ax = fig.add_subplot(111)
        ax.set_axis_off()
        lines = [f"Recorder — {len(self.utterances)} take(s) added"]
        lines += [f"{u['name']}: {u['text'][:70]}" for u in self.utterances[-4:]]
        if self.message:
            lines.append(self.message[:100])
        ax.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=9, transform=ax.transAxes)
        return fig
