"""Whole-utterance subsets of a spliced speech :class:`FrameDataset`, shared by the demo rebuild
(:mod:`.train_demo`) and the paper-wide run (:mod:`.train_paper_wide`) so neither imports the other."""
from __future__ import annotations

import numpy as np

from ..datasets.frames import FrameDataset

__all__ = ["select_utterances", "eval_sample"]


def select_utterances(ds: FrameDataset, utts, name: str | None = None) -> FrameDataset:
    """A compact copy of ``ds`` holding only the utterances ``utts`` (``[u]`` indices, kept in that order).

    Unlike :meth:`FrameDataset.subset` (which shares storage) the frames, bounds, texts and audio are
    cut down, so :meth:`FrameDataset.save` writes only what is kept.
    """
    if ds._frames is None or ds.utt_bounds is None:
        raise ValueError("select_utterances needs a spliced speech dataset (with utterance bounds)")
    utts = np.asarray(utts, dtype=np.int64)
    if len(utts) == 0:
        raise ValueError("select at least one utterance")
    if len(np.unique(utts)) != len(utts) or utts.min() < 0 or utts.max() >= len(ds.utt_bounds):
        raise ValueError(f"utterance indices must be distinct and in 0..{len(ds.utt_bounds) - 1}")
    frames, bounds, index, of_sample, labels, audio, offsets = [], [], [], [], [], [], []
    t = a = 0
    for new, u in enumerate(utts):
        lo, hi = (int(v) for v in ds.utt_bounds[u])
        frames.append(ds._frames[lo:hi])
        bounds.append((t, t + hi - lo))
        mine = np.flatnonzero(ds._utt_of_sample == u)
        index.append(ds._frame_index[mine] - lo + t)
        of_sample.append(np.full(len(mine), new))
        labels.append(ds.labels[mine])
        if ds._audio is not None:
            s = int(ds._audio_offsets[u])
            e = int(ds._audio_offsets[u + 1]) if u + 1 < len(ds._audio_offsets) else len(ds._audio)
            audio.append(ds._audio[s:e])
            offsets.append(a)
            a += e - s
        t += hi - lo
    kw = dict(labels=np.concatenate(labels), class_names=ds.class_names, feature_shape=ds.feature_shape,
              _frames=np.concatenate(frames), _frame_index=np.concatenate(index),
              _utt_of_sample=np.concatenate(of_sample), utt_bounds=np.array(bounds, dtype=np.int64),
              utt_voice=tuple(ds.utt_voice[u] for u in utts) if ds.utt_voice else None,
              utt_text=tuple(ds.utt_text[u] for u in utts) if ds.utt_text else None,
              context=ds.context, frame_shift_s=ds.frame_shift_s, name=name or ds.name, meta=dict(ds.meta))
    if ds._audio is not None:
        kw.update(_audio=np.concatenate(audio), _audio_offsets=np.array(offsets, dtype=np.int64),
                  audio_rate=ds.audio_rate)
    return FrameDataset(**kw)


def eval_sample(ds: FrameDataset, max_frames: int, seed: int) -> tuple[FrameDataset, str]:
    """Score the training split on at most ``max_frames`` frames (whole utterances, seeded)."""
    if len(ds) <= max_frames:
        return ds, "all frames"
    order = np.random.default_rng(seed).permutation(len(ds.utt_bounds))
    lens = ds.utt_bounds[order, 1] - ds.utt_bounds[order, 0]
    k = int(np.searchsorted(np.cumsum(lens), max_frames)) + 1
    sub = select_utterances(ds, np.sort(order[:k]))
    return sub, f"{len(sub)} frames of {k} random utterances"
