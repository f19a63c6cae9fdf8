"""Explorer, bqplot views, ConfusionPairs and LayerSummary without a browser (widget state only)."""
from __future__ import annotations

import io
import wave

import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _remove_buffers
from torch import nn

from slt_widgets import auc_score, slt
from slt_widgets.datasets import FrameDataset, load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp
from slt_widgets.widgets import ConfusionPairs, EmbeddingView, Explorer, LayerSummary, SpectrumView
from slt_widgets.widgets._class_view import fast_mds, wav_bytes


def _train(ds, hidden=(48, 32), steps=80, seed=0):
    return train_toy_mlp(ds, hidden=hidden, steps=steps, lr=1e-2, seed=seed)


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset("all")


@pytest.fixture(scope="module")
def model(digits):
    return _train(digits)


@pytest.fixture(scope="module")
def _shared_explorer(model, digits):
    return Explorer(model, digits, cls="3")


@pytest.fixture()
def explorer(_shared_explorer):
    """One Explorer per module (construction is the slow part), reset to class 3 / output."""
    ex = _shared_explorer
    ex.select(cls="0", layer="output")
    ex.select(cls="3")                  # a new view: fresh tree, default cut, no cluster
    ex.error_area.clear()
    return ex


def _correct_of(model, ds, k):
    idx = ds.samples_of(k)
    with torch.no_grad():
        pred = model(torch.from_numpy(ds.features_at(idx))).argmax(1).numpy()
    return idx[pred == k]


def test_select_class_updates_every_view(explorer, model, digits):
    sel = explorer.select(cls="7")
    expected = _correct_of(model, digits, 7)
    assert sel.cls == "7" and sel.layer == "output" and sel.node == 7 and sel.cluster is None
    np.testing.assert_array_equal(sel.indices, expected)
    assert sel.n == len(expected)
    assert explorer.tree.n_leaves == len(expected)
    assert explorer.templates.count == len(expected)
    assert f"{len(expected)} samples" in explorer.templates.heading()
    assert len(explorer.embedding.xy) == len(expected)
    assert explorer.class_picker.value == "7"
    # templates are the class means: features and the SLT of output node 7, computed independently
    x = digits.features_at(expected)
    np.testing.assert_allclose(explorer.templates.images[0].ravel(), x.mean(0), atol=1e-5)
    w = slt(model, x, layer="output", nodes=[7]).weight[:, 0].numpy()
    np.testing.assert_allclose(explorer.templates.images[1].ravel(), w.mean(0), atol=1e-5)
    # the class spectrum line is the SVD of the SLT matrix, its legend AUC the paper's score
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    name = f"class 7 (n={len(expected)})"
    np.testing.assert_allclose(explorer.spectra.curves[name], s / s[0], atol=1e-5)
    D = explorer.spectra.auc_D
    assert explorer.spectra.aucs[name] == pytest.approx(auc_score(s[:D]), rel=1e-4)


def test_tree_click_selects_a_cluster(explorer, digits):
    tree = explorer.tree
    assert tree.n_clusters >= 2
    k = 1
    members = np.flatnonzero(tree.labels == k)
    tree.selected = k                                    # what a click in the browser sets
    sel = explorer.selection
    assert sel.cluster == k and sel.n == len(members)
    np.testing.assert_array_equal(sel.indices, explorer.state.view.index[members])
    assert explorer.templates.count == len(members)
    assert f"cluster {k} — {len(members)} samples" in explorer.templates.heading()
    np.testing.assert_allclose(explorer.templates.images[0].ravel(), digits.features_at(sel.indices).mean(0),
                               atol=1e-5)
    np.testing.assert_array_equal(np.sort(explorer.embedding.scatter.selected), members)
    assert any(n.startswith(f"cluster {k} (n={len(members)})") for n in explorer.spectra.names)
    assert explorer.spectra.highlight.startswith(f"cluster {k}")
    # the Python API does the same
    assert explorer.select(cluster=0).n == int((tree.labels == 0).sum())
    with pytest.raises(ValueError, match="cluster must be in"):
        explorer.select(cluster=tree.n_clusters + 3)


def test_cut_slider_recuts_tree_and_resets_cluster(explorer):
    explorer.tree.selected = 0
    h = explorer.tree.linkage[:, 2]
    explorer.cut_slider.value = float(h[-2] + h[-1]) / 2            # two clusters
    assert explorer.tree.n_clusters == 2
    assert explorer.selection.cluster is None
    assert len(explorer.embedding.names) == 2
    explorer.tree.cut = float(h[-3] + h[-2]) / 2                   # a drag of the cut line
    assert explorer.cut_slider.value == pytest.approx(explorer.tree.cut)
    assert explorer.tree.n_clusters == 3


def test_brushing_points_makes_a_cluster(explorer):
    ev = explorer.embedding
    ev.brush.brushing = True                                       # mid-drag: nothing published
    ev.scatter.selected = np.array([4, 2, 9, 7])
    assert explorer.selection.cluster is None
    ev.brush.brushing = False                                      # drag ends
    sel = explorer.selection
    assert sel.cluster == "brush" and sel.n == 4
    np.testing.assert_array_equal(sel.indices, explorer.state.view.index[[2, 4, 7, 9]])
    assert explorer.templates.count == 4
    assert explorer.tree.selected == -1
    ev.scatter.selected = np.array([1, 3])                         # lasso / programmatic: at once
    assert explorer.selection.n == 2
    ev.scatter.selected = None
    assert explorer.selection.cluster is None


def test_unknown_class_is_a_key_error_listing_names(explorer):
    with pytest.raises(KeyError, match=r"known classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"):
        explorer.select(cls="nine")
    with pytest.raises(KeyError, match="choose one of HL1, HL2, output"):
        explorer.select(layer="HL7")


def test_cache_hit_on_second_selection(explorer):
    explorer.select(cls="5")
    explorer.select(cls="3")
    hits, misses = explorer.cache.hits, explorer.cache.misses
    explorer.select(cls="5")
    assert explorer.cache.hits == hits + 1 and explorer.cache.misses == misses


def test_hidden_layer_default_node_is_most_active(explorer, model, digits):
    sel = explorer.select(layer="HL2")
    x = torch.from_numpy(digits.features_at(sel.indices))
    with torch.no_grad():
        h2 = model[:4](x)
    assert sel.node == int(h2.mean(0).argmax())
    assert explorer.layer_picker.value == 2
    assert len(explorer.node_picker.options) == 32
    explorer.node_picker.value = 5
    assert explorer.selection.node == 5 and explorer.selection.layer == 2


def test_callback_errors_land_in_the_error_area(model, digits):
    keep = np.concatenate([np.flatnonzero(digits.labels != 9), digits.samples_of(9)[:2]])
    ds = digits.subset(np.sort(keep))
    ex = Explorer(model, ds, cls="3")
    ex.class_picker.value = "9"                                    # only 2 samples: cannot cluster
    assert len(ex.error_area.errors) == 1
    assert "at least 3" in str(ex.error_area.errors[0])
    assert any("at least 3" in o.get("text", "") for o in ex.error_area.outputs)
    assert ex.class_picker.value == "3" and ex.selection.cls == "3"    # the view stays consistent


def test_busy_indicator_toggles(explorer):
    seen = []
    explorer.busy.layout.observe(lambda c: seen.append(c["new"]), "visibility")
    before = explorer.busy.count
    explorer.class_picker.value = "8"
    assert seen == ["visible", "hidden"]
    assert explorer.busy.count == before + 1
    assert "slt-busy" in explorer.busy._dom_classes and "slt-errors" in explorer.error_area._dom_classes


def test_payloads_are_binary_float32(explorer):
    state, paths, buffers = _remove_buffers(explorer.embedding.scatter.get_state())
    assert ["x", "value"] in paths and ["y", "value"] in paths and len(buffers) >= 2
    assert state["x"]["dtype"] == "float32" and state["y"]["dtype"] == "float32"
    assert explorer.embedding.scatter.x.dtype == np.float32
    assert explorer.spectra.context_lines.y.dtype == np.float32
    state, paths, buffers = _remove_buffers(explorer.templates.get_state())
    assert ["images", "view"] in paths and state["images"]["dtype"] == "float32"


def test_embedding_is_classical_mds(explorer):
    v = explorer.state.view
    xy = explorer.embedding.xy
    # classical MDS preserves the Gram matrix of the centred data on its top-2 axes
    c = v.slts - v.slts.mean(0)
    lam = np.linalg.svd(c.astype(np.float64), compute_uv=False)[:2] ** 2
    np.testing.assert_allclose(np.sort((xy.astype(np.float64) ** 2).sum(0))[::-1], lam, rtol=1e-3)
    d_full = np.linalg.norm(c[:, None] - c[None], axis=-1)
    d_xy = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    assert (d_xy <= d_full + 1e-3).all()                          # a projection never stretches


def test_views_validate_inputs():
    ev = EmbeddingView()
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        ev.set_points(np.zeros((5, 3)), np.zeros(5, int))
    with pytest.raises(ValueError, match="one per point"):
        ev.set_points(np.zeros((5, 2)), np.zeros(4, int))
    sv = SpectrumView()
    with pytest.raises(KeyError, match="highlight"):
        sv.set_spectra({"a": [3.0, 1.0]}, highlight="b")
    sv.set_spectra({"flat": np.ones(5), "rank1": np.array([2.0, 0, 0, 0, 0])}, highlight="flat")
    assert sv.aucs == {"flat": pytest.approx(4.0), "rank1": pytest.approx(0.5)}
    assert sv.label("flat") == "flat · AUC 4.0"
    with pytest.raises(TypeError, match="FrameDataset"):
        Explorer(nn.Sequential(nn.Linear(4, 2)), np.zeros((10, 4)))


def test_to_png_files(explorer, tmp_path):
    explorer.tree.selected = 0
    for obj, name in ((explorer, "explorer.png"), (explorer.embedding, "emb.png"), (explorer.spectra, "spec.png")):
        p = obj.to_png(tmp_path / name)
        data = open(p, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match=".png"):
        explorer.to_png(tmp_path / "x.jpg")


def _audio_dataset(n_utt=4, frames=40, rate=8000):
    """A spliced FrameDataset with a distinct tone per utterance (for the exemplar player)."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(n_utt * frames, 3)).astype(np.float16)
    bounds = np.array([[u * frames, (u + 1) * frames] for u in range(n_utt)])
    labels = np.tile(np.arange(frames) % 2, n_utt)
    per = int(frames * 0.01 * rate)
    t = np.arange(per) / rate
    audio = np.concatenate([(0.3 * np.sin(2 * np.pi * (200 + 100 * u) * t) * 32767).astype(np.int16)
                            for u in range(n_utt)])
    return FrameDataset(labels=labels, class_names=("a", "b"), feature_shape=(3, 3), _frames=feats,
                        _frame_index=np.arange(n_utt * frames), _utt_of_sample=np.repeat(np.arange(n_utt), frames),
                        utt_bounds=bounds, context=1, _audio=audio, _audio_offsets=np.arange(n_utt) * per,
                        audio_rate=rate)


def test_play_exemplars_builds_wav(tmp_path):
    ds = _audio_dataset()
    model = _train(ds, hidden=(8,), steps=5)
    ex = Explorer(model, ds, cls="a", correct_only=False)
    assert ex.play_button.layout.display is None                   # shown: the dataset has audio
    ex.play_button.click()
    assert not ex.error_area.errors
    idx = ex.last_exemplars
    assert len(idx) == 5 and set(idx) <= set(ex.selection.indices)
    # they are the 5 samples whose SLT is nearest the mean SLT
    s = ex.state.view.slts
    d = ((s - s.mean(0)) ** 2).sum(1)
    np.testing.assert_array_equal(idx, ex.state.view.index[np.argsort(d, kind="stable")[:5]])
    player = ex.audio_box.children[0]
    with wave.open(io.BytesIO(player.value)) as f:
        waves = [ds.audio(int(i))[0] for i in idx]
        assert f.getframerate() == 8000 and f.getnchannels() == 1
        assert f.getnframes() == sum(len(w) for w in waves) + 4 * int(0.15 * 8000)
    assert player.autoplay, "the play button plays on the click"
    caption = ex.audio_box.children[1].value
    assert "nearest its mean SLT" in caption and "utterance 0 at" in caption and " s" in caption
    import re
    expected = [f"utterance {ds.utterance_of(int(i))['utterance']} at {ds.utterance_of(int(i))['time_s']:.2f} s"
                for i in idx]
    assert re.findall(r"utterance \d+ at \d+\.\d\d s", caption) == expected   # where, not dataset indices
    ex.select(cls="b")                                             # another selection: the old player goes
    assert ex.audio_box.children == ()
    with pytest.raises(ValueError, match="3 to 5"):
        ex.play_exemplars(k=9)
    no_audio = Explorer(_train(load_digits_dataset("dev"), steps=5), load_digits_dataset("dev"), correct_only=False)
    assert no_audio.play_button.layout.display == "none"
    with pytest.raises(ValueError, match="no audio"):
        no_audio.play_exemplars()


def test_fast_upgma_matches_scipy_pdist_linkage(explorer):
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist
    from slt_widgets.analysis import cut_labels, upgma
    from slt_widgets.analysis.clustering import euclidean_condensed
    s = explorer.state.view.slts
    np.testing.assert_allclose(euclidean_condensed(s), pdist(s.astype(np.float64)), rtol=1e-6, atol=1e-7)
    Z, Z_ref = upgma(s, "euclidean"), linkage(pdist(s.astype(np.float64)), method="average")
    np.testing.assert_allclose(Z[:, 2], Z_ref[:, 2], rtol=1e-6, atol=1e-7)
    for h in Z_ref[-6:, 2] - 1e-6:
        np.testing.assert_array_equal(cut_labels(Z, h), cut_labels(Z_ref, h))


def test_wav_bytes_and_fast_mds_units():
    with wave.open(io.BytesIO(wav_bytes([np.ones(10, np.float32)], 16000))) as f:
        frames = np.frombuffer(f.readframes(10), "<i2")
    assert (frames == 32767).all()
    x = np.random.default_rng(1).normal(size=(30, 5))
    from slt_widgets.analysis import classical_mds
    np.testing.assert_allclose(np.abs(fast_mds(x)), np.abs(classical_mds(x, 2)), atol=1e-8)


def test_confusion_pairs_templates(model, digits):
    cp = ConfusionPairs(model, digits, "3", "5", max_samples=None)
    for j, k in enumerate((3, 5)):
        idx = _correct_of(model, digits, k)
        w = slt(model, digits.features_at(idx), layer="output", nodes=[3, 5]).weight.numpy().mean(0)
        imgs = cp.templates.images.reshape(2, 3, -1)[j]
        np.testing.assert_allclose(imgs[0], w[0], atol=1e-5)
        np.testing.assert_allclose(imgs[1], w[1], atol=1e-5)
        np.testing.assert_allclose(imgs[2], w[0] - w[1], atol=1e-5)
    assert cp.templates.kinds == ["slt", "slt", "diff"] * 2
    cp.picker_b.value = "8"
    assert cp.result.classes == (3, 8) and "3 / 8" in cp.templates.title
    cp.picker_b.value = "3"                                        # same as a: error shown, nothing lost
    assert cp.error_area.errors and cp.result.classes == (3, 8)


def test_layer_summary(model, digits, tmp_path):
    ls = LayerSummary(model, digits, node_samples=300, max_train=800, max_eval=800)
    r = ls.result
    assert ls.layer_names == ("input", "HL1", "HL2")
    assert ls.table.value.count("<tr>") == 1 + len(r.layers)
    for name, auc in zip(ls.layer_names, r.evr_auc):
        assert ls.evr_view.aucs[name] == pytest.approx(auc, rel=1e-5)
    assert set(ls.node_view.names) == {"HL1", "HL2"}               # no node spectra for the input
    assert open(ls.to_png(tmp_path / "summary.png"), "rb").read(4) == b"\x89PNG"


def test_default_cut_skips_single_outliers_to_find_real_clusters():
    from scipy.cluster.hierarchy import fcluster
    from slt_widgets.analysis import upgma
    from slt_widgets.analysis.clustering import cut_labels, prototype_cut
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    x = np.concatenate([c + rng.normal(size=(50, 2)) for c in centres] + [np.array([[90.0, 90.0], [-80.0, 70.0]])])
    Z = upgma(x)
    plain = np.bincount(fcluster(Z, 4, criterion="maxclust"))[1:]
    assert sorted(plain)[:2] == [1, 1]                       # the naive 4-cluster cut wastes two on outliers
    cut, n_drawn = prototype_cut(Z)
    sizes = np.bincount(cut_labels(Z, cut))
    assert n_drawn == 4 and sizes[:4].tolist() == [50, 50, 50, 50] and sizes[4:].tolist() == [1, 1]
    cut2, n2 = prototype_cut(Z, n_clusters=2)                 # the coarsest cut with 2 drawn clusters
    assert n2 == 2 and np.bincount(cut_labels(Z, cut2))[:2].tolist() == [100, 100]


# -- one state: atomic requests, read-only results, strict keywords ---------------------------
def _snapshot(ex):
    t, e = ex.tree, ex.embedding
    return {"sel": ex.selection, "state": {k: getattr(ex.state, k) for k in ("cls", "layer", "node", "cut", "cluster")},
            "tree": (t.linkage.copy(), t.cut, t.selected, t.n_drawn, t.title), "cut_slider": ex.cut_slider.value,
            "pickers": (ex.class_picker.value, ex.layer_picker.value, ex.node_picker.value, ex.method_picker.value,
                        ex.space_picker.value),
            "templates": (ex.templates.images.copy(), ex.templates.title, ex.templates.count),
            "embedding": (e.xy.copy(), e.title, None if e.scatter.selected is None else np.array(e.scatter.selected)),
            "spectra": (ex.spectra.names, ex.spectra.highlight), "status": ex.status.value}


def _assert_same(a, b):
    assert a["sel"] is b["sel"] and a["state"] == b["state"]
    for k in ("tree", "templates", "embedding"):
        for x, y in zip(a[k], b[k]):
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                np.testing.assert_array_equal(x, y)
            else:
                assert x == y, (k, x, y)
    for k in ("cut_slider", "pickers", "spectra", "status"):
        assert a[k] == b[k], k


def test_failed_requests_change_nothing(explorer, monkeypatch):
    explorer.select(cluster=1)
    before = _snapshot(explorer)
    bad = [dict(cls="nine"), dict(layer="HL7"), dict(cluster=999), dict(cluster="brush"), dict(cut=-1.0),
           dict(cut=float("nan")), dict(node=10_000), dict(cluster=1.5), dict(embedding="umap"),
           dict(brush=[10_000])]
    for kw in bad:
        with pytest.raises((KeyError, ValueError, TypeError)):
            explorer.select(**kw)
        _assert_same(before, _snapshot(explorer))
    # a failure half-way through a request from the browser (t-SNE breaks): shown, nothing changed
    def broken(*a, **k):
        raise RuntimeError("t-SNE failed")
    monkeypatch.setattr("slt_widgets.widgets.explorer_model.embed_points", broken)
    explorer.method_picker.value = "tsne"
    assert "t-SNE failed" in str(explorer.error_area.errors[-1])
    _assert_same(before, _snapshot(explorer))
    explorer.layer_picker.value = 1                          # a new layer needs a new embedding too
    assert len(explorer.error_area.errors) == 2
    _assert_same(before, _snapshot(explorer))


def test_state_is_in_read_only_traits(explorer):
    st = explorer.state
    sel = explorer.select(cls="5", layer="HL2", cluster=0)
    assert (st.cls, st.layer, st.node, st.cluster, st.cut) == ("5", 2, sel.node, 0, sel.cut)
    for name in ("cls", "layer", "node", "cut", "cluster", "brush", "embedding", "embed_space", "selection"):
        with pytest.raises(Exception, match="read-only"):
            setattr(st, name, getattr(st, name))
    with pytest.raises(AttributeError):
        explorer.clusters = []
    # clusters: the coloured ones at the cut, largest first, with their sizes
    sizes = np.bincount(explorer.tree.labels)
    assert explorer.clusters == [(k, int(sizes[k])) for k in range(explorer.tree.n_drawn)]
    assert [n for _, n in explorer.clusters] == sorted((n for _, n in explorer.clusters), reverse=True)


def test_unknown_keywords_get_a_did_you_mean(model, digits, explorer):
    with pytest.raises(TypeError, match="did you mean 'max_samples'"):
        Explorer(model, digits, max_sample=100)
    with pytest.raises(TypeError, match="did you mean 'cluster'"):
        explorer.select(clster=1)
    with pytest.raises(TypeError, match="did you mean 'embedding'"):
        explorer.select(embeding="tsne")


def test_titles_name_method_and_space(explorer):
    assert explorer.embedding.title.startswith("MDS of SLTs · 3")
    explorer.method_picker.value = "tsne"
    assert explorer.embedding.title.startswith("t-SNE of SLTs · 3") and explorer.state.embedding == "tsne"
    explorer.space_picker.value = "lda"
    assert explorer.embedding.title.startswith("t-SNE of LDA activations")
    explorer.method_picker.value = "mds"
    assert explorer.embedding.title.startswith("MDS of LDA activations")
    assert not explorer.error_area.errors
    explorer.select(embedding="mds", embed_space="slt")


def test_reset_clears_the_brush_shape(explorer):
    ev = explorer.embedding
    resets = []
    ev.brush.reset = lambda: resets.append("brush")
    ev.lasso.reset = lambda: resets.append("lasso")
    ev.scatter.selected = np.array([1, 2, 3])
    assert explorer.selection.cluster == "brush" and explorer.state.brush.tolist() == [1, 2, 3]
    explorer.tree.reset_clicks += 1                              # "whole class" in the tree's legend
    assert explorer.selection.cluster is None
    assert explorer.selection.cluster is None and explorer.state.brush is None
    assert "brush" in resets and "lasso" in resets and ev.scatter.selected is None


def test_a_click_on_each_drawn_cluster_selects_it_and_keeps_the_cut(explorer):
    cut = explorer.tree.cut
    for k, n in explorer.clusters:
        explorer.tree.selected = k
        assert explorer.selection.cluster == k and explorer.selection.n == n
        assert explorer.tree.cut == cut == explorer.state.cut and explorer.cut_slider.value == cut
        assert explorer.templates.count == n


def test_tsne_of_identical_slts_falls_back_to_mds_and_says_so(explorer):
    """HL1 of a class whose samples all activate the node: one distinct SLT; t-SNE would divide by
    zero (and crash scikit-learn), so the embedding is MDS and the title says why."""
    explorer.select(embedding="tsne")
    st = explorer.state
    for node in range(explorer.chain.layer_width(1)):
        sel = explorer.select(layer="HL1", node=node)
        if len(np.unique(st.view.slts, axis=0)) < 4:
            break
    else:
        pytest.skip("every HL1 node of this model has ≥ 4 distinct SLTs on class 3")
    assert explorer.embedding.title.startswith("MDS of SLTs") and "t-SNE needs" in explorer.embedding.title
    assert st.embedding == "tsne" and sel.layer == 1 and np.isfinite(explorer.embedding.xy).all()
    explorer.select(layer="output", embedding="mds")
