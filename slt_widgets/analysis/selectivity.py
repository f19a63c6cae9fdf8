"""Class selectivity vectors and node/class co-clustering (Fig. 2, METHODS §3).

``CSV_m[k]`` is the mean activation of node ``m`` over the samples of class ``k``; the
``[K × M]`` matrix is clustered with UPGMA on correlation distance along both axes and the
node dendrogram is cut at 0.5 (Fig. 2D counts the node clusters per layer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import pdist

from ._checks import AnalysisError, as_labels, as_matrix
from .clustering import correlation_distances, cut_labels

__all__ = ["class_selectivity", "co_cluster", "CoClustering", "node_cluster_counts", "NodeClusterCounts",
           "dead_nodes"]


def class_selectivity(acts, labels, n_classes: int) -> np.ndarray:
    """Class selectivity vectors: ``csv [K, M]`` with ``csv[k, m]`` = mean of ``acts[:, m]``
    over the samples with ``labels == k``.

    acts: ``[N, M]`` activations; labels: ``[N]`` in 0..K−1; n_classes: K. Every class must
    have a sample (a class absent from the split has no mean: drop it with
    ``dataset.subset`` or pass only the classes present).
    """
    a = as_matrix(acts, "acts")
    y = as_labels(labels, len(a))
    if int(n_classes) < 1:
        raise AnalysisError(f"n_classes must be ≥ 1, got {n_classes}")
    if y.size and y.max() >= n_classes:
        raise AnalysisError(f"labels go up to {y.max()} but n_classes={n_classes}")
    counts = np.bincount(y, minlength=n_classes)
    if (counts == 0).any():
        raise AnalysisError(f"classes {np.flatnonzero(counts == 0)[:10].tolist()} have no samples; a class "
                            "selectivity vector needs at least one sample per class (drop absent classes)")
    sums = np.zeros((n_classes, a.shape[1]))
    np.add.at(sums, y, a)
    return sums / counts[:, None]


def dead_nodes(csv, tol: float = 1e-12) -> np.ndarray:
    """Nodes whose class means do not vary (dead or constant): bool ``[M]`` for ``csv [K, M]``."""
    c = as_matrix(csv, "csv")
    return c.std(axis=0) <= tol * (1 + np.abs(c).max(axis=0))


@dataclass(frozen=True)
class CoClustering:
    """UPGMA co-clustering of a class selectivity matrix ``[K × M]`` (correlation distance).

    node_linkage: ``[M_live − 1, 4]`` over the live nodes only (empty ``[0, 4]`` if < 2 live);
    class_linkage: ``[K − 1, 4]``; node_order: ``[M]`` dendrogram leaf order (original node
    indices; dead nodes last); class_order: ``[K]``; node_labels: ``[M]`` cluster id at the cut
    (0 = largest, −1 for dead nodes); n_node_clusters: clusters among live nodes;
    dead: ``[M]`` bool, nodes whose class means are constant (excluded from the linkage);
    live_index: ``[M_live]`` original indices of the rows of ``node_linkage``; cut: the height.
    """

    node_linkage: np.ndarray
    class_linkage: np.ndarray
    node_order: np.ndarray
    class_order: np.ndarray
    node_labels: np.ndarray
    n_node_clusters: int
    dead: np.ndarray
    live_index: np.ndarray
    cut: float

    @property
    def n_live(self) -> int:
        return int(len(self.live_index))

    @property
    def clusters_per_live_node(self) -> float:
        """``n_node_clusters / n_live`` (NaN when every node is dead)."""
        return self.n_node_clusters / self.n_live if self.n_live else float("nan")


def _safe_correlation_distances(rows: np.ndarray) -> np.ndarray:
    """Correlation distances where a constant row is uncorrelated (distance 1) with every other."""
    const = rows.std(axis=1) <= 1e-12 * (1 + np.abs(rows).max(axis=1))
    if not const.any():
        return correlation_distances(rows)
    r = rows.copy()
    r[const] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        d = pdist(r, metric="correlation")
    return np.clip(np.nan_to_num(d, nan=1.0), 0.0, 2.0)


def co_cluster(csv, cut: float = 0.5) -> CoClustering:
    """Cluster nodes (columns) and classes (rows) of ``csv [K, M]`` with UPGMA, correlation distance.

    Dead/constant nodes are excluded from the node linkage and reported in ``dead``; the node
    dendrogram is cut at ``cut`` (paper: 0.5) to count node clusters.
    """
    c = as_matrix(csv, "csv")
    K, M = c.shape
    if K < 2:
        raise AnalysisError(f"co-clustering needs ≥ 2 classes (rows); got {K}")
    if not np.isfinite(cut) or cut < 0:
        raise AnalysisError(f"cut must be a finite distance ≥ 0 (correlation distance is 0..2), got {cut}")
    dead = dead_nodes(c)
    live = np.flatnonzero(~dead)
    labels = np.full(M, -1, dtype=np.int64)
    if len(live) >= 2:
        node_z = linkage(correlation_distances(c[:, live].T), method="average")
        labels[live] = cut_labels(node_z, cut)
        order_live = live[leaves_list(node_z)]
        n_clusters = int(labels[live].max() + 1)
    else:
        node_z = np.zeros((0, 4))
        labels[live] = 0
        order_live = live
        n_clusters = len(live)
    class_z = linkage(_safe_correlation_distances(c), method="average")
    return CoClustering(node_linkage=node_z.astype(np.float64), class_linkage=class_z.astype(np.float64),
                        node_order=np.concatenate([order_live, np.flatnonzero(dead)]).astype(np.int64),
                        class_order=leaves_list(class_z).astype(np.int64), node_labels=labels,
                        n_node_clusters=n_clusters, dead=dead, live_index=live.astype(np.int64),
                        cut=float(cut))


@dataclass(frozen=True)
class NodeClusterCounts:
    """Fig. 2D per layer. layers: ``(L,)`` layer ids; n_clusters, n_live, n_dead, width: ``[L]`` int;
    per_live_node: ``[L]`` float (clusters / live nodes); co: ``{layer: CoClustering}``; csv:
    ``{layer: [K, M]}``; classes: ``[K]`` class indices used (those present in the data)."""

    layers: tuple
    n_clusters: np.ndarray
    n_live: np.ndarray
    n_dead: np.ndarray
    width: np.ndarray
    per_live_node: np.ndarray
    co: dict
    csv: dict
    classes: np.ndarray


def node_cluster_counts(model, dataset, layers=None, cut: float = 0.5, *, batch_size: int = 4096,
                        progress: bool = False) -> NodeClusterCounts:
    """Class selectivity + co-clustering for every hidden layer of ``model`` on ``dataset``.

    Activations are streamed in batches (class sums accumulated, never ``[N × M]`` for all
    layers at once). Classes absent from ``dataset`` are left out (listed in ``classes``).
    """
    from .activations import class_means_streamed
    means, counts = class_means_streamed(model, dataset, layers, batch_size=batch_size, progress=progress)
    present = np.flatnonzero(counts > 0)
    if len(present) < 2:
        raise AnalysisError(f"the dataset has samples of {len(present)} class(es); co-clustering needs ≥ 2")
    layers = tuple(means)
    co, csvs = {}, {}
    for layer in layers:
        csvs[layer] = means[layer][present]
        co[layer] = co_cluster(csvs[layer], cut)
    arr = lambda f: np.array([f(co[l]) for l in layers])
    return NodeClusterCounts(layers=layers, n_clusters=arr(lambda c: c.n_node_clusters),
                             n_live=arr(lambda c: c.n_live), n_dead=arr(lambda c: int(c.dead.sum())),
                             width=arr(lambda c: len(c.dead)), per_live_node=arr(lambda c: c.clusters_per_live_node),
                             co=co, csv=csvs, classes=present)
