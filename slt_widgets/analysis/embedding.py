"""2-D embeddings (MDS, t-SNE) and per-class k-means aggregation (Fig. 4, 5, 6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist, squareform

from ._checks import AnalysisError, as_labels, as_matrix, check_seed

__all__ = ["embed", "classical_mds", "kmeans_aggregate", "Aggregated"]


def classical_mds(x, n_components: int = 2) -> np.ndarray:
    """Torgerson MDS of the Euclidean distances between the rows of ``x [n, F]`` → ``[n, k]``.

    Deterministic (signs fixed so each axis' largest-magnitude coordinate is positive); equal to
    the projection on the top principal components.
    """
    a = as_matrix(x, "x", min_rows=1)
    d2 = squareform(pdist(a, "sqeuclidean")) if len(a) > 1 else np.zeros((1, 1))
    n = len(a)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ d2 @ j
    w, v = np.linalg.eigh(b)
    idx = np.argsort(w)[::-1][:n_components]
    coords = v[:, idx] * np.sqrt(np.clip(w[idx], 0, None))
    if coords.shape[1] < n_components:
        coords = np.pad(coords, ((0, 0), (0, n_components - coords.shape[1])))
    flip = np.sign(coords[np.abs(coords).argmax(0), np.arange(n_components)])
    return coords * np.where(flip == 0, 1, flip)


def embed(x, method: str = "mds", seed: int = 0, *, perplexity: float = 30.0, max_iter: int = 1000) -> np.ndarray:
    """Embed the rows of ``x [n, F]`` in 2-D → ``[n, 2]`` float64.

    method ``"mds"``: metric MDS (SMACOF on Euclidean distances) started from classical MDS,
    so the result is deterministic; ``"tsne"``: scikit-learn t-SNE (PCA init, ``seed``,
    perplexity lowered to ``(n − 1) / 3`` for small ``n``, ``max_iter`` ≥ 250). Needs n ≥ 3.
    """
    seed = check_seed(seed)
    if method not in ("mds", "tsne"):
        raise AnalysisError(f"method must be 'mds' or 'tsne', got {method!r}")
    a = as_matrix(x, "x", min_rows=3)
    if method == "mds":
        from sklearn.manifold import smacof
        init = classical_mds(a, 2)
        d = squareform(pdist(a))
        if not d.any():
            return np.zeros((len(a), 2))
        out = smacof(d, metric=True, n_components=2, init=init, n_init=1, random_state=seed,
                     max_iter=300, normalized_stress="auto")[0]
        return np.asarray(out, dtype=np.float64)
    from sklearn.manifold import TSNE
    perp = float(min(perplexity, max(1.0, (len(a) - 1) / 3.0)))
    ts = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed, learning_rate="auto",
              max_iter=int(max_iter))
    return ts.fit_transform(a).astype(np.float64)


@dataclass(frozen=True)
class Aggregated:
    """Per-class k-means summary. points: ``[C, F]`` cluster centres; sizes: ``[C]`` samples per
    centre (sum = n); labels: ``[C]`` class of each centre; assignment: ``[n]`` centre of each
    input row."""

    points: np.ndarray
    sizes: np.ndarray
    labels: np.ndarray
    assignment: np.ndarray


def kmeans_aggregate(x, labels, divisor: int = 10, seed: int = 0, *, min_clusters: int = 1,
                     max_clusters: int | None = None) -> Aggregated:
    """Aggregate the rows of ``x [n, F]`` per class with k-means, ``max(min_clusters, N_k // divisor)``
    clusters for a class of ``N_k`` samples (paper: N_k / 10), capped by ``max_clusters`` and N_k.
    Sizes are kept so that points can be drawn ∝ cluster size; seeded (``seed``)."""
    from sklearn.cluster import KMeans
    seed = check_seed(seed)
    a = as_matrix(x, "x")
    y = as_labels(labels, len(a))
    if divisor < 1:
        raise AnalysisError(f"divisor must be ≥ 1, got {divisor}")
    pts, sizes, labs = [], [], []
    assign = np.empty(len(a), dtype=np.int64)
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        c = max(min_clusters, len(rows) // divisor)
        if max_clusters is not None:
            c = min(c, max_clusters)
        c = min(c, len(rows))
        if c == len(rows):
            centres, lab = a[rows], np.arange(len(rows))
        else:
            km = KMeans(n_clusters=c, n_init=1, random_state=seed).fit(a[rows])
            centres, lab = km.cluster_centers_, km.labels_
        cnt = np.bincount(lab, minlength=len(centres))
        keep = cnt > 0                                          # k-means can leave a centre empty
        remap = np.cumsum(keep) - 1
        base = sum(len(s) for s in sizes)
        assign[rows] = base + remap[lab]
        pts.append(centres[keep])
        sizes.append(cnt[keep])
        labs.append(np.full(int(keep.sum()), k))
    return Aggregated(points=np.concatenate(pts), sizes=np.concatenate(sizes).astype(np.int64),
                      labels=np.concatenate(labs).astype(np.int64), assignment=assign)
