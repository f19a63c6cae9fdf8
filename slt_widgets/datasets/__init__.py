"""Datasets: `FrameDataset`, the built-in digits set, the speech corpus builder and loaders.

The corpus builder (``build_speech_corpus``) needs the ``speech`` extra and ``load_recordings``
(your own WAVs + transcripts, aligned offline) the ``align`` extra; both are imported on first
use so that ``slt_widgets.datasets`` loads without eSpeak or pocketsphinx installed.
"""
from importlib import import_module

from .frames import FrameDataset, splice
from .digits import load_digits_dataset

_LAZY = {"build_speech_corpus": ".speech", "CorpusConfig": ".speech", "PHONEME_CLASSES": ".speech.phonemes",
         "load_kaldi": ".loaders", "load_timit": ".loaders", "load_textgrid": ".loaders",
         "TIMIT_61_TO_39": ".loaders", "load_recordings": ".recordings", "RecordingsReport": ".recordings",
         "RecordingError": ".recordings", "concat_datasets": ".recordings", "with_source": ".recordings"}

__all__ = ["FrameDataset", "splice", "load_digits_dataset", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'slt_widgets.datasets' has no attribute {name!r}")
