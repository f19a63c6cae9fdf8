"""Clusters of output-node SLTs within a class (Fig. 6, Fig. 8B): UPGMA, Euclidean distance."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import slt
from ._checks import AnalysisError, as_matrix, check_seed
from .activations import features_of, labels_of, predict
from .clustering import cluster_means, cut_labels, cut_n_clusters, upgma
from .embedding import embed
from .slt_spectra import subsample

__all__ = ["SLTClusters", "cluster_slts", "ClassSLTClusters", "class_slt_clusters", "correct_of_class"]


@dataclass(frozen=True)
class SLTClusters:
    """linkage: ``[n − 1, 4]`` UPGMA (Euclidean); labels: ``[n]`` (0 = largest cluster);
    means: ``[C, F]`` cluster-mean SLTs; sizes: ``[C]``; order: ``[n]`` dendrogram leaf order."""

    linkage: np.ndarray
    labels: np.ndarray
    means: np.ndarray
    sizes: np.ndarray
    order: np.ndarray


def cluster_slts(slts, n_clusters: int | None = 4, height: float | None = None, *,
                 min_size: int = 1) -> SLTClusters:
    """UPGMA (Euclidean) of SLTs ``[n, F]`` cut into ``n_clusters`` clusters (or at ``height``).

    min_size: UPGMA splits off single outliers first; with ``min_size > 1`` the tree is cut
    finer until ``n_clusters`` clusters have ≥ ``min_size`` members (the small ones stay, ordered
    last by size). When no cut gets there (UPGMA chaining off one big cloud) the cut with the most
    such clusters is kept, the coarsest of those — never the all-singletons end of the tree.
    Labels ``[n]``: 0 = largest cluster.
    """
    from scipy.cluster.hierarchy import leaves_list
    s = as_matrix(slts, "slts", min_rows=2)
    if (n_clusters is None) == (height is None):
        raise AnalysisError("give exactly one of n_clusters or height")
    z = upgma(s, "euclidean")
    if height is not None:
        lab = cut_labels(z, height)
    else:
        k = min(int(n_clusters), len(s))
        lab = cut_n_clusters(z, k)
        if min_size > 1:
            best, best_big = lab, int((np.bincount(lab) >= min_size).sum())
            while best_big < n_clusters and k < len(s):
                k += 1
                lab = cut_n_clusters(z, k)
                big = int((np.bincount(lab) >= min_size).sum())
                if big > best_big:
                    best, best_big = lab, big
                elif big == 0 and best_big > 0:
                    break                          # only smaller pieces from here on
            lab = best
    means, sizes = cluster_means(s, lab)
    return SLTClusters(linkage=z, labels=lab, means=means, sizes=sizes, order=leaves_list(z).astype(np.int64))


def correct_of_class(model, dataset, cls, pred=None) -> np.ndarray:
    """Indices ``[n_k]`` of the samples of class ``cls`` (name or index) the net classifies correctly
    (``pred [N]``: precomputed predictions, else computed)."""
    k = dataset.class_index(cls)
    rows = np.flatnonzero(labels_of(dataset) == k)
    if len(rows) == 0:
        raise AnalysisError(f"class {dataset.class_names[k]!r} has no samples in {getattr(dataset, 'name', 'the dataset')}")
    p = predict(model, dataset, rows) if pred is None else np.asarray(pred)[rows]
    return rows[p == k]


@dataclass(frozen=True)
class ClassSLTClusters:
    """Fig. 6 / 8B for one class. cls: class index; node: output node; index: ``[n]`` samples used;
    slts: ``[n, F]``; clusters: :class:`SLTClusters`; feature_means: ``[C, F]`` mean input features
    per cluster; mds: ``[n, 2]`` metric MDS of the SLTs; feature_shape: template shape."""

    cls: int
    node: int
    index: np.ndarray
    slts: np.ndarray
    clusters: SLTClusters
    feature_means: np.ndarray
    mds: np.ndarray
    feature_shape: tuple


def class_slt_clusters(model, dataset, cls, *, n_clusters: int = 4, height: float | None = None,
                       min_size: int = 1, max_samples: int | None = 600, seed: int = 0, pred=None,
                       with_mds: bool = True) -> ClassSLTClusters:
    """SLTs of output node ``cls`` for the correctly classified samples of class ``cls``
    (subsampled to ``max_samples`` with ``seed``), clustered with UPGMA (Euclidean).

    min_size: see :func:`cluster_slts`. pred: ``[N]`` precomputed predictions (else computed). Returns :class:`ClassSLTClusters`
    (SLTs ``[n, F]``, labels ``[n]``, cluster means ``[C, F]``, MDS ``[n, 2]``)."""
    seed = check_seed(seed)
    k = dataset.class_index(cls)
    idx = subsample(correct_of_class(model, dataset, k, pred), max_samples, seed)
    if len(idx) < max(2, n_clusters if height is None else 2):
        raise AnalysisError(f"class {dataset.class_names[k]!r} has {len(idx)} correctly classified samples; "
                            f"need ≥ {max(2, n_clusters)} to form {n_clusters} clusters")
    x = features_of(dataset, idx)
    w = slt(model, x, layer="output", nodes=[k]).weight[:, 0, :].detach().cpu().double().numpy()
    cl = cluster_slts(w, None if height is not None else n_clusters, height, min_size=min_size)
    fm, _ = cluster_means(x, cl.labels)
    mds = embed(w, "mds", seed) if with_mds and len(w) >= 3 else np.zeros((len(w), 2))
    return ClassSLTClusters(cls=k, node=k, index=idx, slts=w, clusters=cl, feature_means=fm, mds=mds,
                            feature_shape=tuple(getattr(dataset, "feature_shape", (w.shape[1],))))
