"""SLT spectra (population, Σ_INC − Σ_COR), SLT clustering and centroid templates."""
import numpy as np
import pytest
import torch

from slt_widgets import slt
from slt_widgets.analysis import (AnalysisError, centroid_templates, class_slt_clusters, cluster_slts,
                                  inc_cor_difference, nearest_to_centroid, pair_templates, population_spectra,
                                  population_spectrum, predict, slt_spectra, spectrum_difference_auc)
from slt_widgets.analysis.slt_spectra import population_spectra_layers
from slt_widgets.datasets import load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp


@pytest.fixture(scope="module")
def digits():
    tr, ev = load_digits_dataset("train"), load_digits_dataset("eval")
    return train_toy_mlp(tr, hidden=(24, 24, 24), steps=200), ev


@pytest.mark.parametrize("layer", [2, "output"])
@pytest.mark.parametrize("budget", ["1GB", 4000])      # 4000 bytes forces one-row blocks (recomputed)
def test_population_spectrum_equals_direct_svd(digits, layer, budget):
    model, ev = digits
    x = ev.features[:12]
    w = slt(model, x, layer=layer).weight.double().reshape(12, -1).numpy()   # [n, M·F]
    np.testing.assert_allclose(population_spectrum(model, x, layer, memory_budget=budget),
                               np.linalg.svd(w, compute_uv=False), rtol=1e-6, atol=1e-6)


def test_population_spectrum_uses_the_feature_gram_when_smaller(digits):
    model, ev = digits
    x = np.concatenate([ev.features, ev.features])[:700]     # n = 700 > F·M = 64·10
    w = slt(model, x, layer="output").weight.double().reshape(700, -1).numpy()
    s = population_spectrum(model, x, "output")
    assert s.shape == (640,)
    np.testing.assert_allclose(s, np.linalg.svd(w, compute_uv=False), rtol=1e-6, atol=1e-5)


def test_population_spectra_per_class(digits):
    model, ev = digits
    p = population_spectra(model, ev, [1, 3], max_per_class=15, seed=0)
    assert p.auc.shape == (2, 10) and p.D == 15 and (p.n_per_class == 15).all()
    assert np.isfinite(p.auc).all() and (p.auc > 0).all()


def test_spectrum_difference_sign_on_constructed_slts():
    rng = np.random.default_rng(0)
    N, F = 40, 8
    easy = np.outer(rng.standard_normal(N), rng.standard_normal(F)) + 0.01 * rng.standard_normal((N, F))
    hard = rng.standard_normal((N, F))                        # diverse transforms: flat spectrum
    s_e, s_h = (np.linalg.svd(m, compute_uv=False)[None] for m in (easy, hard))
    d = spectrum_difference_auc(np.concatenate([s_h, s_e]), np.concatenate([s_e, s_h]))
    assert d[0] > 1 and d[1] == pytest.approx(-d[0])
    # closed form: two spectra of length 3
    np.testing.assert_allclose(spectrum_difference_auc([[2, 2, 2]], [[4, 2, 0]]), [(0 + 0.5) / 2 + (0.5 + 1) / 2])
    assert np.isnan(spectrum_difference_auc([[0, 0]], [[1, 0]]))[0]


def test_slt_spectra_and_inc_cor_on_a_net(digits):
    model, ev = digits
    sp = slt_spectra(model, ev, max_samples=150)
    assert sp.layers == (2, 3, "output") and sp.node_mean.shape == (3, 64)
    assert set(sp.input_auc) == {2, 3, "output"} and sp.input_auc[2].shape == (64,)
    np.testing.assert_allclose(sp.node_mean[:, 0], 1.0)
    idx = np.arange(len(ev))
    r = inc_cor_difference(model, ev, idx[:60], idx[60:200], max_samples=50)
    assert r.n_per_group == 50 and r.auc_mean.shape == (3,)
    with pytest.raises(AnalysisError, match="≥ 2 samples"):
        inc_cor_difference(model, ev, idx[:1], idx[1:10])


def test_cluster_slts_recovers_planted_clusters():
    rng = np.random.default_rng(1)
    protos = rng.standard_normal((3, 20)) * 5
    sizes = [12, 7, 3]
    slts = np.concatenate([p + 0.1 * rng.standard_normal((n, 20)) for p, n in zip(protos, sizes)])
    c = cluster_slts(slts, n_clusters=3)
    np.testing.assert_array_equal(c.labels, np.repeat([0, 1, 2], sizes))
    np.testing.assert_array_equal(c.sizes, sizes)
    for k in range(3):
        np.testing.assert_allclose(c.means[k], slts[c.labels == k].mean(0))
    with pytest.raises(AnalysisError, match="exactly one"):
        cluster_slts(slts, n_clusters=3, height=1.0)
    # one far outlier: a plain 3-cluster cut spends a cluster on it; min_size cuts finer instead
    out = np.concatenate([slts, protos[:1] + 100])
    assert sorted(cluster_slts(out, n_clusters=3).sizes.tolist()) == [1, 7, 15]   # two groups merged
    c = cluster_slts(out, n_clusters=3, min_size=3)
    np.testing.assert_array_equal(c.sizes, [12, 7, 3, 1])


def test_class_slt_clusters_uses_correct_samples_and_output_node(digits):
    model, ev = digits
    pred = predict(model, ev)
    r = class_slt_clusters(model, ev, "3", n_clusters=3, max_samples=40, pred=pred)
    assert (ev.labels[r.index] == 3).all() and (pred[r.index] == 3).all()
    ref = slt(model, ev.features_at(r.index), layer="output").weight[:, 3].double().numpy()
    np.testing.assert_allclose(r.slts, ref, atol=1e-6)
    assert r.clusters.sizes.sum() == len(r.index) and r.mds.shape == (len(r.index), 2)
    assert r.feature_means.shape == (len(r.clusters.sizes), 64)
    with pytest.raises(KeyError, match="unknown class"):
        class_slt_clusters(model, ev, "eleven")


def test_centroid_template_is_mean_of_the_k_nearest(digits):
    model, ev = digits
    pred = predict(model, ev)
    t = centroid_templates(model, ev, ["7"], k=20, pred=pred)   # digits eval: ~36 per class
    rows = np.flatnonzero((ev.labels == 7) & (pred == 7))
    w = slt(model, ev.features_at(rows), layer="output").weight[:, 7].double().numpy()
    d = ((w - w.mean(0)) ** 2).sum(1)
    near = np.argsort(d)[:20]
    np.testing.assert_allclose(t.slt[0], w[near].mean(0), atol=1e-8)
    np.testing.assert_allclose(t.features[0], ev.features_at(rows[near]).mean(0), atol=1e-6)
    assert t.n_used[0] == 20 < len(rows)
    np.testing.assert_array_equal(nearest_to_centroid(np.array([[0.0], [10.0], [4.0], [6.0]]), 2), [2, 3])


def test_pair_templates_difference(digits):
    model, ev = digits
    p = pair_templates(model, ev, "1", "7")
    assert p.mean.shape == (2, 2, 64)
    np.testing.assert_allclose(p.difference, p.mean[0] - p.mean[1])
    rows = np.flatnonzero((ev.labels == 1) & (predict(model, ev) == 1))
    ref = slt(model, ev.features_at(rows), layer="output").weight[:, 7].double().numpy().mean(0)
    np.testing.assert_allclose(p.mean[1, 0], ref, atol=1e-6)


@pytest.mark.parametrize("budget", ["1GB", 4000])     # one forward chain for all layers / layer by layer
def test_population_spectra_layers_match_one_layer_at_a_time(digits, budget):
    model, ev = digits
    x = ev.features[:15]
    got = population_spectra_layers(model, x, [1, 3, "output"], memory_budget=budget)
    for layer in (1, 3, "output"):
        w = slt(model, x, layer=layer).weight.double().reshape(15, -1).numpy()
        np.testing.assert_allclose(got[layer], np.linalg.svd(w, compute_uv=False), rtol=1e-6, atol=1e-6)


def test_cluster_cut_keeps_the_best_cut_when_upgma_only_chains_off_outliers():
    """A cloud plus outliers at growing distances: no cut has 4 clusters of ≥ 8 members, so the
    coarsest cut with the most such clusters is kept (brute force over every cut) — not the
    all-singletons end of the tree."""
    from slt_widgets.analysis.clustering import cut_n_clusters, upgma
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(40, 6)) * 0.1, np.array([[10.0 * (i + 1)] + [0.0] * 5 for i in range(8)])])
    r = cluster_slts(x, n_clusters=4, min_size=8)
    z = upgma(x, "euclidean")
    big = [int((np.bincount(cut_n_clusters(z, k)) >= 8).sum()) for k in range(4, len(x) + 1)]
    assert max(big) < 4
    best_k = 4 + int(np.argmax(big))
    assert (r.sizes >= 8).sum() == max(big) and len(r.sizes) == best_k
    # when 4 big clusters exist they are found at the coarsest such cut
    blobs = np.vstack([rng.normal(size=(20, 6)) * 0.1 + 5 * np.eye(6)[i] for i in range(4)] + [x[40:]])
    r = cluster_slts(blobs, n_clusters=4, min_size=5)
    assert min(r.sizes[:4]) >= 20 and sum(r.sizes[:4]) <= 84      # each blob (one takes the outlier at 10)
