"""eSpeak NG driven through ctypes: waveform plus phoneme events.

The shared library and its data come from the ``espeakng-loader`` wheel (eSpeak NG
1.52, GPL-3.0-or-later, used here as a run-time library). Debian's 1.51 drops stress
marks from event strings, so the wheel's copy is the only one used.

eSpeak keeps internal state between calls that re-initialising does not reset, so
bit-identical output needs the same call sequence in a fresh process: the corpus
builder runs each shard in its own process (see ``build.py``). One synthesiser per
process is enforced here.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["ESpeak", "ESpeakError", "Utterance", "get_espeak"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_RATE, _PITCH, _RANGE = 1, 3, 4


class ESpeakError(RuntimeError):
    """eSpeak NG could not be loaded or refused a call."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Utterance:
    """One synthesised sentence.

    wave: ``[n_samples]`` int16 at ``rate`` Hz; events: ``[(sample, mnemonic), ...]`` phoneme
    events in time order, ``sample`` counted from the start of the waveform.
    """
    wave: np.ndarray
    rate: int
    events: tuple[tuple[int, str], ...]


class ESpeak:
    """A ctypes handle on libespeak-ng with phoneme events switched on (one per process)."""

    _instance: "ESpeak | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ESpeakError("eSpeak NG is missing: pip install 'slt_widgets[speech]' "
                              "(it brings espeakng-loader==0.2.4)") from e
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        data = espeakng_loader.get_data_path().encode()
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data,
                                          _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if self.rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed (returned {self.rate}); data path {data!r}")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._cb = _CALLBACK(self._on_audio)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._cb)

    @classmethod
    def get(cls) -> "ESpeak":
        """The process-wide synthesiser (created on first use)."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_audio(self, wav, n, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((int(ev.sample), ev.id.string.decode("ascii", "replace")))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, rand_seed: int = 0) -> Utterance:
        """Speak ``text`` with ``voice`` (e.g. ``"en-us+f3"``) at ``rate`` words/min.

        pitch and pitch_range are eSpeak's 0..100 scales. All parameters are set on every
        call because eSpeak keeps them between calls. ``rand_seed`` seeds eSpeak's own
        generator (flutter, roughness, Klatt noise), which ``espeak_Initialize`` seeds from
        the clock. Returns an :class:`Utterance`.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty string, got {text!r}")
        for name, v, lo, hi in (("rate", rate, 80, 450), ("pitch", pitch, 0, 100), ("pitch_range", pitch_range, 0, 100)):
            if not lo <= int(v) <= hi:
                raise ValueError(f"{name}={v} is outside eSpeak's range {lo}..{hi}")
        lib = self._lib
        with self._lock:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ESpeakError(f"eSpeak has no voice {voice!r}; use e.g. 'en-us', 'en-us+m3', 'en-us+f2', "
                                  "'en-us+klatt' (variants live in espeak-ng-data/voices/!v)")
            lib.espeak_SetParameter(_RATE, int(rate), 0)
            lib.espeak_SetParameter(_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(_RANGE, int(pitch_range), 0)
            lib.espeak_ng_SetRandSeed(int(rand_seed) & 0x7FFFFFFF)
            self._chunks, self._events = [], []
            buf = text.encode("utf-8") + b"\0"
            err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != 0:
                raise ESpeakError(f"espeak_Synth failed with code {err} for {text!r}")
            wave = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            events = tuple(self._events)
            self._chunks, self._events = [], []
        return Utterance(wave=wave.astype(np.int16, copy=False), rate=int(self.rate), events=events)


def get_espeak() -> ESpeak:
    """The process-wide :class:`ESpeak` (eSpeak NG allows one synthesiser per process)."""
    return ESpeak.get()
