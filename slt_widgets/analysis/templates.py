"""Output-node templates (Fig. 8A, 8C): mean SLTs and mean features of chosen samples."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import slt
from ._checks import AnalysisError, as_matrix
from .activations import features_of, labels_of, predict
from .slt_clusters import correct_of_class

__all__ = ["nearest_to_centroid", "CentroidTemplates", "centroid_templates", "PairTemplates", "pair_templates"]


def nearest_to_centroid(points, k: int = 50) -> np.ndarray:
    """Row indices ``[min(k, n)]`` of the ``k`` rows of ``points [n, F]`` closest (Euclidean) to
    their mean, nearest first (ties by index)."""
    p = as_matrix(points, "points")
    if k < 1:
        raise AnalysisError(f"k must be ≥ 1, got {k}")
    d = np.linalg.norm(p - p.mean(0), axis=1)
    return np.argsort(d, kind="stable")[:min(k, len(p))]


@dataclass(frozen=True)
class CentroidTemplates:
    """Fig. 8A. classes: ``[C]``; slt: ``[C, F]`` mean output-node SLT of the ``k`` samples nearest
    the centroid; features: ``[C, F]`` their mean input features; n_used: ``[C]``; space: where the
    centroid was taken (``"slt"`` or ``"features"``); feature_shape: template shape."""

    classes: np.ndarray
    slt: np.ndarray
    features: np.ndarray
    n_used: np.ndarray
    space: str
    feature_shape: tuple


def centroid_templates(model, dataset, classes=None, k: int = 50, *, space: str = "slt",
                       pred=None) -> CentroidTemplates:
    """For each output node ``c`` in ``classes`` (default all present), over the correctly
    classified samples of class ``c``: the centroid (of their SLTs, or of their features with
    ``space="features"``), then the mean SLT and mean features of the ``k`` nearest samples.
    pred: ``[N]`` precomputed predictions. Returns :class:`CentroidTemplates` (``[C, F]`` arrays)."""
    if space not in ("slt", "features"):
        raise AnalysisError(f"space must be 'slt' or 'features', got {space!r}")
    y = labels_of(dataset)
    if pred is None:
        pred = predict(model, dataset)
    classes = np.unique(y) if classes is None else np.array([dataset.class_index(c) for c in classes])
    out_c, S, X, n = [], [], [], []
    for c in classes:
        idx = correct_of_class(model, dataset, int(c), pred)
        if len(idx) == 0:
            continue
        x = features_of(dataset, idx)
        w = slt(model, x, layer="output", nodes=[int(c)]).weight[:, 0, :].detach().cpu().double().numpy()
        near = nearest_to_centroid(w if space == "slt" else x, k)
        out_c.append(int(c))
        S.append(w[near].mean(0))
        X.append(x[near].mean(0))
        n.append(len(near))
    if not out_c:
        raise AnalysisError("no class has a correctly classified sample")
    return CentroidTemplates(classes=np.array(out_c), slt=np.array(S), features=np.array(X), n_used=np.array(n),
                             space=space, feature_shape=tuple(getattr(dataset, "feature_shape", (len(S[0]),))))


@dataclass(frozen=True)
class PairTemplates:
    """Fig. 8C. classes: ``(a, b)``; mean: ``[2, 2, F]`` mean SLT of output node ``i`` (axis 0)
    to the correctly classified samples of class ``j`` (axis 1); difference: ``[2, F]`` node a −
    node b for each class (the distinguishing weights; what both share cancels); n: ``[2]``."""

    classes: tuple
    mean: np.ndarray
    difference: np.ndarray
    n: np.ndarray
    feature_shape: tuple


def pair_templates(model, dataset, a, b, *, pred=None, max_samples: int | None = None, seed: int = 0) -> PairTemplates:
    """Mean SLTs of output nodes ``a`` and ``b`` to the correctly classified samples of classes ``a``
    and ``b`` (each subsampled to ``max_samples`` with ``seed``; pred: ``[N]`` precomputed
    predictions). Returns :class:`PairTemplates` (mean ``[2, 2, F]``, difference ``[2, F]``)."""
    from .slt_spectra import subsample
    ia, ib = dataset.class_index(a), dataset.class_index(b)
    if ia == ib:
        raise AnalysisError(f"a confusable pair needs two different classes, got {a!r} twice")
    if pred is None:
        pred = predict(model, dataset)
    mean = np.zeros((2, 2, dataset.n_features))
    n = []
    for j, c in enumerate((ia, ib)):
        idx = subsample(correct_of_class(model, dataset, c, pred), max_samples, seed)
        if len(idx) == 0:
            raise AnalysisError(f"class {dataset.class_names[c]!r} has no correctly classified samples")
        w = slt(model, features_of(dataset, idx), layer="output", nodes=[ia, ib]).weight.detach().cpu().double().numpy()
        mean[:, j] = w.mean(0)
        n.append(len(idx))
    return PairTemplates(classes=(ia, ib), mean=mean, difference=mean[0] - mean[1], n=np.array(n),
                         feature_shape=tuple(dataset.feature_shape))
