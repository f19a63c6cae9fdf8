"""Embeddings and k-means aggregation."""
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from slt_widgets.analysis import AnalysisError, classical_mds, embed, kmeans_aggregate


def test_classical_and_metric_mds_recover_a_planar_configuration():
    rng = np.random.default_rng(0)
    plane = rng.standard_normal((30, 2)) * [3, 1]
    rot = np.linalg.qr(rng.standard_normal((6, 6)))[0][:2]     # embed the plane in 6-D
    x = plane @ rot
    for y in (classical_mds(x), embed(x, "mds", seed=0)):
        assert y.shape == (30, 2)
        np.testing.assert_allclose(pdist(y), pdist(plane), rtol=1e-3, atol=1e-3)


def test_tsne_is_seeded_and_keeps_clusters_apart():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal((20, 5)), 20 + rng.standard_normal((20, 5))])
    a, b = embed(x, "tsne", seed=3, max_iter=250), embed(x, "tsne", seed=3, max_iter=250)
    np.testing.assert_array_equal(a, b)
    within = np.linalg.norm(a[:20] - a[:20].mean(0), axis=1).mean()
    assert np.linalg.norm(a[:20].mean(0) - a[20:].mean(0)) > 2 * within
    with pytest.raises(AnalysisError, match="method"):
        embed(x, "umap")
    with pytest.raises(AnalysisError, match="at least 3 rows"):
        embed(x[:2])


def test_kmeans_aggregation_keeps_total_size_and_class_counts():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [57, 120, 9])
    x = rng.standard_normal((len(y), 4)) + y[:, None]
    agg = kmeans_aggregate(x, y, divisor=10, seed=0)
    assert agg.sizes.sum() == len(y)
    for k, n in zip([0, 1, 2], [57, 120, 9]):
        assert agg.sizes[agg.labels == k].sum() == n
        assert (agg.labels == k).sum() <= max(1, n // 10)
    np.testing.assert_array_equal(np.bincount(agg.assignment, minlength=len(agg.sizes)), agg.sizes)
    np.testing.assert_array_equal(agg.labels[agg.assignment], y)
    # every centre is the mean of the rows assigned to it
    for c in range(len(agg.sizes)):
        np.testing.assert_allclose(agg.points[c], x[agg.assignment == c].mean(0), atol=1e-8)
    again = kmeans_aggregate(x, y, divisor=10, seed=0)
    np.testing.assert_array_equal(again.points, agg.points)
