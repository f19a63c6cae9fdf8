"""UPGMA, cuts, cluster means, class selectivity and co-clustering against independent computations."""
import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist

from slt_widgets.analysis import (AnalysisError, class_selectivity, cluster_means, co_cluster, cut_labels,
                                  cut_n_clusters, upgma)


def planted(n_per=(6, 4, 2), F=5, spread=0.01, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(F)[: len(n_per)] * 10
    x = np.concatenate([c + spread * rng.standard_normal((n, F)) for c, n in zip(centres, n_per)])
    y = np.repeat(np.arange(len(n_per)), n_per)
    return x, y


def test_upgma_matches_scipy_average_linkage():
    x, _ = planted()
    np.testing.assert_allclose(upgma(x), linkage(pdist(x), "average"))
    z = upgma(x, "correlation")
    assert z.shape == (len(x) - 1, 4) and z.dtype == np.float64
    np.testing.assert_allclose(z, linkage(pdist(x, "correlation"), "average"), atol=1e-12)


def test_cut_labels_recovers_planted_clusters_ordered_by_size():
    x, y = planted((2, 6, 4))
    lab = cut_labels(upgma(x), height=1.0)
    # the largest planted group (6) must be cluster 0, then 4 → 1, then 2 → 2
    np.testing.assert_array_equal(lab, np.repeat([2, 0, 1], [2, 6, 4]))
    np.testing.assert_array_equal(cut_n_clusters(upgma(x), 3), lab)
    assert cut_labels(upgma(x), height=100.0).max() == 0


def test_cluster_means_are_group_means():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 3))
    lab = rng.integers(0, 4, 20)
    lab[:4] = [0, 1, 2, 3]
    means, sizes = cluster_means(x, lab)
    for c in range(4):
        np.testing.assert_allclose(means[c], x[lab == c].mean(0))
        assert sizes[c] == (lab == c).sum()
    with pytest.raises(AnalysisError, match="without gaps"):
        cluster_means(x[:3], [0, 2, 2])


def test_class_selectivity_equals_group_means_and_rejects_empty_class():
    rng = np.random.default_rng(2)
    acts = rng.random((30, 7))
    y = np.arange(30) % 3
    csv = class_selectivity(acts, y, 3)
    assert csv.shape == (3, 7)
    for k in range(3):
        np.testing.assert_allclose(csv[k], acts[y == k].mean(0))
    with pytest.raises(AnalysisError, match=r"classes \[3\] have no samples"):
        class_selectivity(acts, y, 4)


def test_co_cluster_counts_three_planted_node_groups_and_reports_dead():
    rng = np.random.default_rng(3)
    K = 12
    protos = rng.standard_normal((3, K))                      # three class-selectivity profiles
    cols = [p + 0.05 * rng.standard_normal(K) for p in protos for _ in range(5)]
    csv = np.stack(cols, 1)                                   # [K, 15]
    csv = np.concatenate([csv, np.zeros((K, 2))], 1)          # two dead nodes
    co = co_cluster(csv, cut=0.5)
    assert co.n_node_clusters == 3
    np.testing.assert_array_equal(co.dead, [False] * 15 + [True] * 2)
    np.testing.assert_array_equal(co.node_labels[15:], [-1, -1])
    groups = co.node_labels[:15].reshape(3, 5)
    assert all(len(set(g)) == 1 for g in groups) and len({g[0] for g in groups}) == 3
    assert sorted(co.node_order.tolist()) == list(range(17)) and co.node_order[-2:].tolist() == [15, 16]
    assert co.class_linkage.shape == (K - 1, 4) and sorted(co.class_order.tolist()) == list(range(K))
    assert co.clusters_per_live_node == pytest.approx(3 / 15)
    # a cut above every merge joins all live nodes
    assert co_cluster(csv, cut=2.0).n_node_clusters == 1


def test_errors_name_the_problem():
    with pytest.raises(AnalysisError, match="metric"):
        upgma(np.ones((3, 2)), "cosine")
    with pytest.raises(AnalysisError, match="at least 2 rows"):
        upgma(np.ones((1, 2)))
    with pytest.raises(AnalysisError, match="constant rows"):
        upgma(np.ones((3, 4)), "correlation")
    with pytest.raises(AnalysisError, match="≥ 2 classes"):
        co_cluster(np.ones((1, 4)))
