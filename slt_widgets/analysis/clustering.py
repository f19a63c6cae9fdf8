"""UPGMA (average-linkage) clustering, dendrogram cuts and cluster means (METHODS §3, §4)."""
from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from ._checks import AnalysisError, as_labels, as_matrix

__all__ = ["upgma", "cut_labels", "cut_n_clusters", "cluster_means", "correlation_distances", "unit_rows",
           "prototype_linkage", "prototype_cut",
           "relabel_by_size"]

_METRICS = ("euclidean", "correlation")


def correlation_distances(x) -> np.ndarray:
    """Condensed correlation distances ``1 − r`` between the rows of ``x [n, F]``: ``[n(n−1)/2]``.

    Rows are required to vary (a constant row has no correlation); values are clipped to
    ``[0, 2]`` against round-off.
    """
    a = as_matrix(x, "x", min_rows=2)
    const = np.flatnonzero(a.std(axis=1) <= 1e-12 * (1 + np.abs(a).max(axis=1)))
    if const.size:
        raise AnalysisError(f"correlation distance is undefined for constant rows {const[:10].tolist()} "
                            f"({const.size} in all); drop them (e.g. dead nodes) or use metric='euclidean'")
    return np.clip(pdist(a, metric="correlation"), 0.0, 2.0)


def upgma(x, metric: str = "euclidean") -> np.ndarray:
    """UPGMA (average linkage) of the rows of ``x [n, F]``.

    metric: ``"euclidean"`` or ``"correlation"`` (``1 − Pearson r``; rows must not be constant).
    Returns the scipy linkage matrix ``Z [n − 1, 4]`` float64 (merged ids, height, size).
    """
    if metric not in _METRICS:
        raise AnalysisError(f"metric must be one of {_METRICS}, got {metric!r}")
    a = as_matrix(x, "x", min_rows=2)
    d = correlation_distances(a) if metric == "correlation" else euclidean_condensed(a)
    return linkage(d, method="average").astype(np.float64)


def euclidean_condensed(x) -> np.ndarray:
    """Condensed Euclidean distances ``[n(n−1)/2]`` between the rows of ``x [n, F]`` (float64).

    Same values as ``scipy.spatial.distance.pdist(x)`` (to ~1e-12 relative) but through one
    BLAS product ``‖a‖² + ‖b‖² − 2 a·b``, ~8× faster for n = 2,000, F = 253 (what a widget
    click waits for).
    """
    from scipy.spatial.distance import squareform
    a = np.asarray(x, dtype=np.float64)
    a = a - a.mean(0)                                   # centring reduces cancellation
    sq = np.einsum("ij,ij->i", a, a)
    d2 = a @ a.T
    d2 *= -2.0
    d2 += sq[:, None]
    d2 += sq[None, :]
    np.fill_diagonal(d2, 0.0)
    d = squareform(d2, checks=False)                    # upper triangle, C speed
    np.clip(d, 0.0, None, out=d)
    return np.sqrt(d, out=d)


def relabel_by_size(raw) -> np.ndarray:
    """Map arbitrary cluster ids ``[n]`` to 0..C−1 with 0 the largest cluster (ties: first seen)."""
    raw = np.asarray(raw)
    ids, first, counts = np.unique(raw, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))                    # size descending, then first occurrence
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank[np.searchsorted(ids, raw)]


def _check_linkage(Z) -> np.ndarray:
    z = np.asarray(Z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 4:
        raise AnalysisError(f"Z must be a linkage matrix [n − 1, 4] (from upgma); got shape {z.shape}")
    return z


def cut_labels(Z, height: float) -> np.ndarray:
    """Cut the dendrogram ``Z [n − 1, 4]`` at ``height``: labels ``[n]`` int64, 0-based,
    cluster 0 the largest, then by size (ties by first sample). Merges at heights ≤ ``height``
    are joined (scipy ``fcluster(criterion="distance")``)."""
    z = _check_linkage(Z)
    if not np.isfinite(height) or height < 0:
        raise AnalysisError(f"height must be a finite number ≥ 0, got {height}")
    if len(z) == 0:
        return np.zeros(1, dtype=np.int64)
    return relabel_by_size(fcluster(z, t=float(height), criterion="distance"))


def cut_n_clusters(Z, n_clusters: int) -> np.ndarray:
    """Cut ``Z [n − 1, 4]`` into at most ``n_clusters`` clusters: labels ``[n]`` (0 = largest)."""
    z = _check_linkage(Z)
    n = len(z) + 1
    if not 1 <= int(n_clusters) <= n:
        raise AnalysisError(f"n_clusters must be in 1..{n} (the number of samples), got {n_clusters}")
    if len(z) == 0:
        return np.zeros(1, dtype=np.int64)
    return relabel_by_size(fcluster(z, t=int(n_clusters), criterion="maxclust"))


def cluster_means(x, labels) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster means of ``x [n, F]`` for ``labels [n]`` in 0..C−1.

    Returns ``(means [C, F] float64, sizes [C] int64)``; every id 0..C−1 must occur.
    """
    a = as_matrix(x, "x")
    y = as_labels(labels, len(a))
    sizes = np.bincount(y)
    if (sizes == 0).any():
        missing = np.flatnonzero(sizes == 0)
        raise AnalysisError(f"cluster ids must be 0..C−1 without gaps; ids {missing[:10].tolist()} have no "
                            "samples (relabel with relabel_by_size)")
    means = np.zeros((len(sizes), a.shape[1]))
    np.add.at(means, y, a)
    return means / sizes[:, None], sizes.astype(np.int64)


def unit_rows(x) -> np.ndarray:
    """Rows of ``x [n, F]`` scaled to unit Euclidean norm (all-zero rows stay zero): ``[n, F]`` float64.

    Two SLTs that are the same template at different gains become the same point, so UPGMA
    groups templates by shape (see :func:`prototype_linkage`).
    """
    a = np.array(as_matrix(x, "x"), dtype=np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", a, a))
    nz = norm > 0
    a[nz] /= norm[nz, None]
    return a


def prototype_linkage(slts) -> np.ndarray:
    """UPGMA (Euclidean) of the unit-normalised rows of ``slts [n, F]``: ``Z [n − 1, 4]``.

    Why normalised: on the demo nets the raw Euclidean tree of one class's output-node SLTs is
    one cloud that sheds single frames (/t/: 1997 + 1 + 1 + 1 at four clusters), because the
    SLT's norm — the gain, which follows the frame's loudness and the network's confidence —
    varies more than its shape. On unit rows the same UPGMA finds the templates (/t/ splits
    1297 / 703 at the root). Distances are ``‖a/‖a‖ − b/‖b‖‖ ∈ [0, 2]`` (a monotone function of
    the cosine); a zero SLT (inactive hidden node) sits at distance 1 from every template.
    """
    return upgma(unit_rows(slts), "euclidean")


def prototype_cut(Z, min_share: float = 0.02, max_clusters: int = 12, max_other: float = 0.10,
                  tol: float = 1e-6, n_clusters: int | None = None) -> tuple[float, int]:
    """The default cut of ``Z [n − 1, 4]`` (a monotone linkage, e.g. UPGMA): ``(height, n_drawn)``.

    A cluster is *drawn* (in colour) when it holds ≥ ``min_share`` of the n samples (and ≥ 2);
    the rest form one grey "other" group. Scanning the cuts from the root down, consecutive cuts
    that draw the same number of clusters form a *run* (only outliers split off inside it); the
    rule keeps the longest-lived run — the widest range of heights — among those that draw
    2..``max_clusters`` clusters with at most ``max_other`` of the samples in "other", and cuts in
    its middle. A long run is a partition UPGMA keeps over a wide range of distances: real
    prototypes, not the fragments of one cloud. The scan stops once more than ``max_clusters``
    clusters are drawn or "other" passes half the samples. When the SLTs take only a few distinct values (merges at
    heights ≤ ``tol`` × root join identical SLTs up to round-off), e.g. an HL1 node, whose SLT
    is its weight row or zero, every group of identical SLTs is drawn, whatever its size.

    n_clusters: instead, the coarsest cut with ``n_clusters`` drawn clusters (or the most that
    any cut reaches), whatever "other" holds.

    ``n_drawn``: at the returned cut, ids ``0..n_drawn − 1`` of :func:`cut_labels` (largest
    first) are the drawn clusters. O(n): cluster sizes are updated merge by merge, not recut.
    """
    z = _check_linkage(Z)
    n = len(z) + 1
    if len(z) == 0:
        return 0.0, 1
    h = z[:, 2]
    if np.any(np.diff(h) < 0):
        raise AnalysisError("prototype_cut needs a monotone linkage (heights in increasing order, as UPGMA gives)")
    top = float(h[-1])
    if top <= 0:                                        # every SLT identical: one group
        return 0.0, 1
    eps = tol * top
    n_real = int((h > eps).sum())                       # merges between distinct SLTs
    if n_real + 1 <= max_clusters:                      # few distinct SLTs (HL1): draw every group
        below = h[h <= eps]
        return float((h[-n_real] + (below.max() if len(below) else 0.0)) / 2), n_real + 1
    need = max(2, int(np.ceil(min_share * n)))
    size = np.concatenate([np.ones(n), z[:, 3]])
    a, b = z[:, 0].astype(np.int64), z[:, 1].astype(np.int64)
    big_n, big_sum = int(size[-1] >= need), float(size[-1]) if size[-1] >= need else 0.0
    steps = []                                          # (drawn clusters, "other" share, upper, lower height)
    r = n - 2
    while r >= 0:
        hr = h[r]
        while r >= 0 and h[r] == hr:                    # split every merge at this height
            s = size[n + r]
            if s >= need:
                big_n, big_sum = big_n - 1, big_sum - s
            for c in (a[r], b[r]):
                if size[c] >= need:
                    big_n, big_sum = big_n + 1, big_sum + size[c]
            r -= 1
        if big_n > max_clusters:
            break
        other = 1.0 - big_sum / n
        steps.append((big_n, other, float(hr), float(h[r]) if r >= 0 else 0.0))
        if other > 0.5:
            break
    if n_clusters is not None:                          # the coarsest cut with that many (or the most)
        pick = next((st for st in steps if st[0] >= n_clusters), max(steps, key=lambda st: st[0]))
        return (pick[2] + pick[3]) / 2, max(1, pick[0])
    # runs of consecutive cuts with the same drawn clusters; keep the longest-lived one
    runs = []
    for st in steps:
        if runs and runs[-1][0] == st[0]:
            runs[-1][3] = st[3]
        else:
            runs.append([st[0], st[1], st[2], st[3]])
    ok = [ru for ru in runs if 2 <= ru[0] <= max_clusters and ru[1] <= max_other]
    if not ok:
        ok = [ru for ru in runs if ru[0] >= 2] or runs
    k, _, hi, lo = max(ok, key=lambda ru: (ru[2] - ru[3], -ru[2]))
    return (hi + lo) / 2, max(1, k)
