"""COR/INC split and relative expansion on hand-built configurations."""
import numpy as np
import pytest

from slt_widgets.analysis import (AnalysisError, confusion_matrix, expansion_by_confusion, most_confused,
                                  relative_expansion, split_cor_inc, triple_expansion)


def test_split_cor_inc_keeps_only_net_correct_samples():
    y = np.array([0, 0, 1, 1, 2, 2])
    net = np.array([0, 1, 1, 1, 2, 0])
    inp = np.array([0, 0, 0, 1, 1, 2])
    cor, inc = split_cor_inc(y, net, inp)
    np.testing.assert_array_equal(cor, [0, 3])
    np.testing.assert_array_equal(inc, [2, 4])


def test_most_confused_from_confusion_matrix_with_fallback():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 2, 2, 1, 1, 2])
    c = confusion_matrix(y, p, 4)
    assert c[0].tolist() == [1, 0, 2, 0]
    cen = np.array([[0.0], [5.0], [1.0], [np.nan]])
    # class 0 → 2 (confused twice); 1 and 2 never confused → nearest centroid; 3 absent → −1
    np.testing.assert_array_equal(most_confused(c, cen), [2, 2, 0, -1])


def hand_built():
    """Classes 0 and 1; centroid distance 1 in the base space for both groups; in the layer
    space the COR centroids are 2 apart and the INC centroids 3 apart."""
    base = np.array([[0, 0], [1, 0], [0, 5], [1, 5]], float)
    layer = np.array([[0, 0], [2, 0], [0, 7], [3, 7]], float)
    y = np.array([0, 1, 0, 1])
    cor, inc = np.array([0, 1]), np.array([2, 3])
    return base, layer, y, cor, inc


def test_relative_expansion_known_ratio():
    base, layer, y, cor, inc = hand_built()
    m = np.zeros(4, bool)
    m[cor] = True
    np.testing.assert_allclose(relative_expansion(layer, base, y, [(0, 1)], m), [2.0])
    np.testing.assert_allclose(relative_expansion(layer, base, y, [(0, 1)], ~m), [3.0])
    assert np.isnan(relative_expansion(layer, base, y, [(0, 5)])).all()


def test_expansion_by_confusion_means_and_share():
    base, layer, y, cor, inc = hand_built()
    res = expansion_by_confusion({1: base, 2: layer}, base, y, cor, inc, partner=np.array([1, 0]))
    np.testing.assert_allclose(res.cor, [[1, 1], [2, 2]])
    np.testing.assert_allclose(res.inc, [[1, 1], [3, 3]])
    np.testing.assert_allclose(res.cor_mean, [1, 2])
    np.testing.assert_allclose(res.inc_mean, [1, 3])
    np.testing.assert_allclose(res.share_inc_gt_cor, [0, 1])
    np.testing.assert_array_equal(res.n_valid, [2, 2])
    with pytest.raises(AnalysisError, match="partner"):
        expansion_by_confusion({1: base}, base, y, cor, inc, partner=np.array([-1, -1]))


def test_triple_expansion_distances():
    base = np.array([[0, 0], [3, 0], [0, 4]], float)          # pairwise 3, 4, 5
    layer = 2 * base
    t = triple_expansion({1: layer}, base, np.array([0, 1, 2]), (0, 1, 2), cor=[0, 1, 2], inc=[])
    np.testing.assert_allclose(t.distance["all"], [[3, 4, 5], [6, 8, 10]])
    np.testing.assert_allclose(t.mean_ratio["cor"], [2.0])
    assert np.isnan(t.ratio["inc"]).all()
    with pytest.raises(AnalysisError, match="three different"):
        triple_expansion({1: layer}, base, np.array([0, 1, 2]), (0, 1, 1), [], [])
