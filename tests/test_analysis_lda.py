"""Per-layer LDA and within-class spectra."""
import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from slt_widgets import activations
from slt_widgets.analysis import AnalysisError, fit_lda, layer_spectra, lda_layers, within_class_spectra
from slt_widgets.datasets import FrameDataset, load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp


@pytest.fixture(scope="module")
def digits():
    tr, dv, ev = (load_digits_dataset(s) for s in ("train", "dev", "eval"))
    return train_toy_mlp(tr, steps=200), dv, ev


def test_lda_accuracy_equals_scikit_learn(digits):
    model, dv, ev = digits
    res = lda_layers(model, dv, ev)
    assert res.layers == ("input", 1, 2, 3, 4)
    assert res.evr.shape == (5, 9) and res.accuracy.shape == (5,)
    import torch
    h_dv = activations(model, torch.from_numpy(dv.features))
    h_ev = activations(model, torch.from_numpy(ev.features))
    for i, l in enumerate(res.layers):
        a = dv.features if l == "input" else h_dv[l].numpy()
        b = ev.features if l == "input" else h_ev[l].numpy()
        ref = LinearDiscriminantAnalysis(solver="svd").fit(a.astype(np.float64), dv.labels)
        assert res.accuracy[i] == pytest.approx(ref.score(b.astype(np.float64), ev.labels), abs=1e-12)
        np.testing.assert_allclose(res.evr[i], ref.explained_variance_ratio_, atol=1e-9)
        assert res.per_layer[l].projected.shape == (len(ev), 9)
    # the trained net makes its last hidden layer more LDA-separable than the raw pixels
    assert res.accuracy[-1] > 0.9


def test_within_class_spectra_on_hand_built_data():
    # class 0: rows along one axis (rank 1) → normalised spectrum [1, 0, 0];
    # class 1: rows e1, e2, e3 scaled 3, 2, 1 → singular values [3, 2, 1] / 3
    p0 = np.outer([1.0, 2.0, -1.0, 0.5], [0.0, 1.0, 0.0])
    p1 = np.diag([3.0, 2.0, 1.0])
    proj = np.concatenate([p0, p1])
    y = np.array([0] * 4 + [1] * 3)
    w = within_class_spectra(proj, y)
    np.testing.assert_allclose(w.per_class, [[1, 0, 0], [1, 2 / 3, 1 / 3]], atol=1e-12)
    np.testing.assert_allclose(w.mean, [1, 1 / 3, 1 / 6], atol=1e-12)
    assert w.auc == pytest.approx((1 + 1 / 3) / 2 + (1 / 3 + 1 / 6) / 2)
    # centring removes the class mean: identical rows have no within-class spread
    c = within_class_spectra(np.concatenate([np.ones((3, 3)), p1]), np.array([0] * 3 + [1] * 3), center=True)
    np.testing.assert_array_equal(c.classes, [1])


def test_layer_spectra_shapes_and_errors(digits):
    model, dv, ev = digits
    s = layer_spectra(model, ev, train=dv, node_samples=200)
    L = len(s.layers)
    assert s.evr.shape == (L, 9) and s.within.shape == (L, 9) and s.node_sigma.shape == (L, 64)
    assert np.isnan(s.node_sigma[0]).all() and np.isnan(s.node_auc[0])
    np.testing.assert_allclose(s.node_sigma[1:, 0], 1.0)
    # hidden layer 1: every node's SLT is W1[m] or 0 → rank 1 → AUC 0.5
    assert s.node_auc[1] == pytest.approx(0.5, abs=0.02)  # float32 Gram floor of the engine
    assert np.all(np.diff(s.within[:, :], axis=1) <= 1e-12)
    one = FrameDataset.from_arrays(ev.features[:5], np.zeros(5, int), ["a", "b"])
    with pytest.raises(AnalysisError, match="≥ 2 classes"):
        fit_lda(one.features, one.labels)
    with pytest.raises(AnalysisError, match="more samples"):
        fit_lda(np.random.rand(2, 3), [0, 1])
