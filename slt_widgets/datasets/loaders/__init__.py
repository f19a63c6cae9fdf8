"""Bring your own corpus: Kaldi features + alignments, TIMIT, Praat TextGrids → `FrameDataset`.

Every loader returns the layout of the built-in speech corpus: one row of features per 10 ms
frame stored unspliced (float16), spliced on access with ``context`` frames either side and
flattened band-major, so ``feature_shape = (bands, 2 * context + 1)`` — ``(23, 11)`` for the
23 log-Mel pipeline that :func:`load_timit` and :func:`load_textgrid` run on the audio (the
corpus builder's own functions: 16 kHz, 25 ms / 10 ms Kaldi fbank, per-utterance CMVN).

Labels are the 40 classes of :data:`PHONEME_CLASSES` (39 CMU phonemes + ``SIL``) unless a
``phone_map`` / ``class_names`` says otherwise. TIMIT's 61 phones fold with :data:`TIMIT_61_TO_39`.

One module per format: :mod:`.kaldi`, :mod:`.timit`, :mod:`.textgrid`, :mod:`.audio` (SPHERE/WAV);
:mod:`._common` holds the phone maps and the assembling into a `FrameDataset`.
"""
from ._common import TIMIT_61_TO_39, CorpusFormatError, default_phone_map
from .audio import audio_features, read_audio
from .kaldi import load_kaldi, read_kaldi_matrices
from .textgrid import load_textgrid, read_textgrid
from .timit import load_timit

__all__ = ["load_kaldi", "load_timit", "load_textgrid", "read_kaldi_matrices", "read_audio", "read_textgrid",
           "TIMIT_61_TO_39", "default_phone_map", "CorpusFormatError", "audio_features"]
