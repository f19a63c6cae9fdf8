"""How the network hears *your* speech: accuracy and templates split by the source of each frame.

A dataset from :func:`slt_widgets.datasets.with_source` carries ``meta["source_code"]`` (``[N]``
int8: 0 = corpus, 1 = the user's recordings) and ``meta["source_names"]``. These functions
compare the two groups frame by frame, class by class, so a net trained on synthetic speech can
be seen failing (or not) on a real voice, and where.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import AnalysisError
from .activations import predict

__all__ = ["SourceAccuracy", "accuracy_by_source", "source_templates", "source_codes"]


def source_codes(dataset) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(codes [N] int, names [S])`` of a dataset tagged by :func:`~slt_widgets.datasets.with_source`."""
    code = dataset.meta.get("source_code") if hasattr(dataset, "meta") else None
    if code is None or len(code) != len(dataset):
        raise AnalysisError("this dataset has no per-frame source; join the corpus and your recordings with "
                            "slt_widgets.datasets.with_source(user_dataset, corpus_dataset)")
    names = tuple(dataset.meta.get("source_names", ("corpus", "you")))
    return np.asarray(code, dtype=np.int64), names


@dataclass(frozen=True)
class SourceAccuracy:
    """Frame accuracy per source and class.

    names: ``[S]`` source names; accuracy: ``[S]`` overall; n_frames: ``[S]``;
    per_class: ``[S, K]`` accuracy (NaN where a source has no frame of the class);
    counts: ``[S, K]`` frames; class_names: ``[K]``; confusions: ``{source: [(true, predicted,
    frames), ...]}`` the most frequent errors, largest first; predicted: ``[N]`` predicted class.
    """
    names: tuple[str, ...]
    accuracy: np.ndarray
    n_frames: np.ndarray
    per_class: np.ndarray
    counts: np.ndarray
    class_names: tuple[str, ...]
    confusions: dict
    predicted: np.ndarray

    def table(self, min_frames: int = 20) -> list[tuple[str, float, float, int]]:
        """``[(class, accuracy in source 0, accuracy in source 1, frames in source 1)]`` for classes with at
        least ``min_frames`` frames in the last source, worst gap first."""
        rows = []
        for k, c in enumerate(self.class_names):
            if self.counts[-1, k] >= min_frames and self.counts[0, k] > 0:
                rows.append((c, float(self.per_class[0, k]), float(self.per_class[-1, k]), int(self.counts[-1, k])))
        return sorted(rows, key=lambda r: r[2] - r[1])


def accuracy_by_source(model, dataset, n_confusions: int = 8) -> SourceAccuracy:
    """Frame accuracy of ``model`` on ``dataset`` (``[N]`` frames tagged by source), overall and per class."""
    code, names = source_codes(dataset)
    pred = predict(model, dataset)
    y = np.asarray(dataset.labels)
    K, S = dataset.n_classes, len(names)
    per_class = np.full((S, K), np.nan)
    counts = np.zeros((S, K), dtype=np.int64)
    acc, nf = np.full(S, np.nan), np.zeros(S, dtype=np.int64)
    confusions = {}
    for s in range(S):
        m = code == s
        nf[s] = int(m.sum())
        if nf[s]:
            acc[s] = float((pred[m] == y[m]).mean())
        counts[s] = np.bincount(y[m], minlength=K)
        hits = np.bincount(y[m][pred[m] == y[m]], minlength=K)
        ok = counts[s] > 0
        per_class[s, ok] = hits[ok] / counts[s, ok]
        wrong = m & (pred != y)
        pairs = np.bincount(y[wrong] * K + pred[wrong], minlength=K * K)
        top = np.argsort(pairs)[::-1][:n_confusions]
        confusions[names[s]] = [(dataset.class_names[i // K], dataset.class_names[i % K], int(pairs[i]))
                                for i in top if pairs[i] > 0]
    return SourceAccuracy(names, acc, nf, per_class, counts, tuple(dataset.class_names), confusions, pred)


def source_templates(dataset, cls, max_frames: int = 5000, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Mean feature template of class ``cls`` in each source and their difference.

    Returns ``(images [3, *feature_shape], titles [3])``: source 0's mean, source 1's mean, and
    source 1 − source 0 (a seeded subset of at most ``max_frames`` frames per source).
    """
    code, names = source_codes(dataset)
    k = dataset.class_index(cls)
    if len(dataset.feature_shape) != 2:
        raise AnalysisError(f"templates need a 2-D feature_shape (bands × frames); got {dataset.feature_shape}")
    rng = np.random.default_rng(seed)
    means = []
    for s in (0, 1):
        idx = np.flatnonzero((code == s) & (dataset.labels == k))
        if not len(idx):
            raise AnalysisError(f"source {names[s]!r} has no frame of class {dataset.class_names[k]!r}; "
                                "pick a class both sources contain")
        if len(idx) > max_frames:
            idx = np.sort(rng.choice(idx, max_frames, replace=False))
        means.append(dataset.features_at(idx).mean(0).reshape(dataset.feature_shape))
    c = dataset.class_names[k]
    n0 = int(((code == 0) & (dataset.labels == k)).sum())
    n1 = int(((code == 1) & (dataset.labels == k)).sum())
    return (np.stack([means[0], means[1], means[1] - means[0]]).astype(np.float32),
            [f"{names[0]} /{c}/ (n={n0})", f"{names[1]} /{c}/ (n={n1})", f"{names[1]} − {names[0]}"])
