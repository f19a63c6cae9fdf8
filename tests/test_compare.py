"""Compare without a browser: one selection on every side, profiles = the analyses run per model."""
from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
import traitlets

from slt_widgets import analysis as A
from slt_widgets import slt
from slt_widgets.analysis.layer_profiles import MEASURES, cor_inc_indices, layer_profile
from slt_widgets.datasets import load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp
from slt_widgets.widgets import Compare, LayerProfile
from slt_widgets.widgets.compare_state import CompareState, profile_cache_clear

PROFILE_KW = dict(max_train=600, max_eval=500, node_samples=120, inc_cor_samples=60)


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset("all")


@pytest.fixture(scope="module")
def nets(digits):
    # different widths and depths: layers are aligned by index
    return {"narrow": train_toy_mlp(digits, hidden=(32, 24, 16), steps=80, lr=1e-2, seed=0),
            "broad": train_toy_mlp(digits, hidden=(64, 48), steps=80, lr=1e-2, seed=1)}


@pytest.fixture(scope="module")
def cmp_(nets, digits):
    return Compare(nets, digits, cls="3", max_samples=120, profile_options=PROFILE_KW)


@pytest.fixture()
def cmp(cmp_):
    cmp_.select(cls="3", layer="output")
    return cmp_


def _mean_slt(model, digits, idx, layer, node):
    w = slt(model, torch.from_numpy(digits.features_at(np.sort(idx))), layer=layer, nodes=[node]).weight
    return w[:, 0, :].double().mean(0).numpy()


def test_one_selection_drives_every_side(cmp, nets, digits):
    s = cmp.selection
    assert s.cls == "3" and s.cluster is None and s.n == len(s.indices) > 3
    assert (digits.labels[s.indices] == 3).all()
    # every net classifies every shown frame correctly (correct_by="all")
    for m in nets.values():
        assert (A.predict(m, digits, index=s.indices) == 3).all()
    # a cluster picked on the second side: its frames, shown on every side with that side's SLTs
    lab = cmp.state.labels("broad")
    s = cmp.select(cluster=1, side="broad")
    view = cmp.state.view("broad")
    np.testing.assert_array_equal(s.indices, view.index[lab == 1])
    assert s.side == "broad" and s.n == int((lab == 1).sum())
    assert cmp.sides["broad"].tree.selected == 1 and cmp.sides["narrow"].tree.selected == -1
    for i, name in enumerate(cmp.state.names):
        v = cmp.state.view(name)
        np.testing.assert_array_equal(v.index[cmp.state.positions()], s.indices)
        want = _mean_slt(nets[name], digits, s.indices, "output", 3)
        np.testing.assert_allclose(cmp.templates.images[1 + i].ravel(), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cmp.templates.images[0].ravel(), digits.features_at(s.indices).mean(0), atol=1e-5)
    assert cmp.templates.titles[-1].startswith("narrow − broad")
    assert cmp.templates.count == s.n


def test_tree_click_and_cut_from_the_widget(cmp):
    cmp.sides["narrow"].tree.selected = 0             # what a click in the browser sets
    s = cmp.selection
    assert s.cluster == 0 and s.side == "narrow"
    np.testing.assert_array_equal(s.indices, cmp.state.view("narrow").index[cmp.state.labels("narrow") == 0])
    top = cmp.sides["narrow"].tree.root_height
    cmp.sides["narrow"].tree.cut = top * 0.9        # a drag of the cut line
    s = cmp.selection
    assert s.cluster is None and s.cuts["narrow"] == pytest.approx(top * 0.9)
    assert not cmp.error_area.errors


def test_layers_aligned_by_index(cmp, nets, digits):
    s = cmp.select(layer="HL3")
    assert s.layer == 3 and s.nodes["broad"] is None and s.nodes["narrow"] is not None
    assert cmp.state.view("broad") is None
    assert cmp.sides["broad"].tree.layout.display == "none"
    assert "has no HL3" in cmp.sides["broad"].missing.value
    assert cmp.templates.titles == ["mean features", f"narrow: mean SLT (node {s.nodes['narrow']})"]  # no difference
    v = cmp.state.view("narrow")
    np.testing.assert_allclose(cmp.templates.images[1].ravel(),
                               _mean_slt(nets["narrow"], digits, s.indices, 3, s.nodes["narrow"]), rtol=1e-4, atol=1e-6)
    assert v.node == s.nodes["narrow"]
    with pytest.raises(KeyError, match="HL1, HL2, HL3, output"):
        cmp.select(layer="HL4")
    assert cmp.selection.layer == 3                  # unchanged after the error
    s = cmp.select(layer=2)
    assert all(n is not None for n in s.nodes.values())
    assert cmp.sides["broad"].tree.layout.display is None


def test_profile_click_selects_the_layer_everywhere(cmp):
    view = cmp.profile_views["slt_auc"]
    view.set_state({"selected": "HL2"})             # a click in the browser
    assert cmp.selection.layer == 2
    assert all(v.selected == "HL2" for v in cmp.profile_views.values())
    assert cmp.layer_picker.value == 2
    view.set_state({"selected": "input"})           # no SLT at the input: refused, old value kept
    assert view.selected == "HL2" and "cannot be selected" in view.error
    assert cmp.selection.layer == 2


def test_profiles_equal_the_analyses_run_on_each_model(cmp, nets, digits):
    prof = cmp.profiles
    assert set(prof) == set(MEASURES)
    for name, m in nets.items():
        lda = A.lda_layers(m, digits, digits, max_train=600, max_test=500, seed=0)
        for l, acc in zip(lda.layers, lda.accuracy):
            key = l if l == "input" else f"HL{l}"
            assert prof["lda_accuracy"][name][key] == pytest.approx(acc)
            w = A.within_class_spectra(lda.per_layer[l].projected, lda.eval_labels)
            assert prof["within_auc"][name][key] == pytest.approx(w.auc)
        nc = A.node_cluster_counts(m, digits)
        assert [prof["node_clusters"][name][f"HL{l}"] for l in nc.layers] == list(nc.n_clusters)
        sp = A.slt_spectra(m, digits, inputs=False, max_samples=120, seed=0)
        for l, a in zip(sp.layers, sp.node_auc_mean):
            assert prof["slt_auc"][name][l if l == "output" else f"HL{l}"] == pytest.approx(a)
        cor, inc = cor_inc_indices(m, digits, lda)
        dd = A.inc_cor_difference(m, digits, cor, inc, max_samples=60, seed=0)
        for l, a in zip(dd.layers, dd.auc_mean):
            assert prof["inc_minus_cor"][name][l if l == "output" else f"HL{l}"] == pytest.approx(a)
        assert "input" not in prof["slt_auc"][name] and "HL1" not in prof["slt_auc"][name]
    # drawn: one line per model, NaN where undefined, no longer pending
    v = cmp.profile_views["lda_accuracy"]
    assert not v.pending and v.values.shape == (2, len(v.layers))
    j = v.layers.index("HL3")
    assert np.isnan(v.values[1, j]) and np.isfinite(v.values[0, j])  # broad has no HL3
    rows = cmp.state.profile_rows()
    assert {"measure", "model", "layer", "value"} == set(rows[0])
    assert len(rows) == sum(len(vals) for per in prof.values() for vals in per.values())


def test_profiles_cached_per_model(nets, digits, cmp):
    cmp.profiles                                     # computed once (other test or here)
    other = Compare({"a": nets["broad"], "b": nets["narrow"]}, digits, max_samples=40, profile_options=PROFILE_KW)
    assert all(other.state.profile_ready(n) for n in ("a", "b"))  # same weights → cached
    assert other.profile_button.layout.display == "none"
    profile_cache_clear()
    assert not other.state.profile_ready("a")


def test_layer_profile_function_validates():
    with pytest.raises(A.AnalysisError, match="unknown measure"):
        layer_profile(None, None, measures=["lda_acc"])


def test_trained_vs_random(nets, digits):
    m = nets["narrow"]
    c = Compare.trained_vs_random(m, digits, seed=3, max_samples=60, cls="4")
    assert c.selection.cls == "4"
    rand = c.state.sides["random"].model
    assert rand is not m and [p.shape for p in rand.parameters()] == [p.shape for p in m.parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(rand.parameters(), m.parameters()))
    again = Compare.trained_vs_random(m, digits, seed=3, max_samples=60).state.sides["random"].model
    assert all(torch.equal(a, b) for a, b in zip(rand.parameters(), again.parameters()))   # seeded
    s = c.selection
    assert (A.predict(m, digits, index=s.indices) == digits.labels[s.indices]).all()     # trained net's correct frames
    import html
    assert "'trained' classifies correctly" in html.unescape(c.status.value)


def test_bad_inputs_are_refused_with_a_fix(nets, digits):
    a, b = nets["narrow"], nets["broad"]
    with pytest.raises(ValueError, match="2 to 4"):
        Compare({"a": a}, digits)
    with pytest.raises(ValueError, match="2 to 4"):
        Compare({str(i): a for i in range(5)}, digits)
    with pytest.raises(TypeError, match="dict"):
        Compare([a, b], digits)
    with pytest.raises(TypeError, match="nn.Module"):
        Compare({"a": a, "b": "not a net"}, digits)
    with pytest.raises(TypeError, match="did you mean 'max_samples'"):
        Compare({"a": a, "b": b}, digits, max_sample=10)
    with pytest.raises(ValueError, match="correct_by"):
        Compare({"a": a, "b": b}, digits, correct_by="c")
    other = train_toy_mlp(load_digits_dataset("all"), hidden=(8,), steps=2, seed=0)
    bigger = torch.nn.Sequential(torch.nn.Linear(65, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    with pytest.raises(ValueError, match="65 inputs"):
        Compare({"a": other, "b": bigger}, digits)


def test_bad_selects_leave_it_usable(cmp):
    before = cmp.selection
    with pytest.raises(TypeError, match="did you mean 'cls'"):
        cmp.select(clss="3")
    with pytest.raises(KeyError):
        cmp.select(side="nope", cluster=0)
    with pytest.raises(ValueError, match="cluster must be in"):
        cmp.select(cluster=999)
    with pytest.raises(TypeError, match="cluster"):
        cmp.select(cluster="1")
    with pytest.raises(KeyError):
        cmp.select(cls="eleven")
    with pytest.raises(ValueError, match="node must be in"):
        cmp.select(node=999)
    assert cmp.selection is before
    assert cmp.select(cls=5).cls == "5"


def test_png_and_static_image(cmp, tmp_path):
    cmp.select(cluster=0)
    p = cmp.to_png(tmp_path / "compare.png")
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ValueError, match=".png"):
        cmp.to_png(tmp_path / "compare.jpg")
    data, _ = cmp._repr_mimebundle_()
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
    assert "application/vnd.jupyter.widget-view+json" in data


def test_layer_profile_widget_validates():
    v = LayerProfile(["input", "HL1", "output"], ["a", "b"], selectable=[False, True, True])
    assert v.pending and np.isnan(v.values).all()
    with pytest.raises(traitlets.TraitError, match="nets × layers"):
        v.values = np.zeros((3, 3))
    with pytest.raises(traitlets.TraitError, match="inf"):
        v.values = np.full((2, 3), np.inf)
    with pytest.raises(traitlets.TraitError, match="one of the layers"):
        v.selected = "HL9"
    with pytest.raises(TypeError, match="did you mean 'selected'"):
        LayerProfile(["HL1"], ["a"], selectd="HL1")
    v.set_values(np.array([[1, 2, 3], [np.nan, 1, 2]]))
    assert not v.pending and v.to_png()[:4] == b"\x89PNG"


def test_state_is_headless(nets, digits):
    st = CompareState(nets, digits, cls="2", max_samples=30)
    s = st.select(layer="HL1", node={"narrow": 0})
    assert s.nodes["narrow"] == 0 and s.layer == 1
    s = st.select(cluster=0)
    assert s.side == "narrow"
    import inspect
    import slt_widgets.widgets.compare_state as mod
    assert "ipywidgets" not in inspect.getsource(mod)       # the state holds no view


def test_every_layer_and_every_class(nets, digits):
    st = CompareState(nets, digits, max_samples=40)
    for layer in st.layers():
        s = st.select(layer=layer)
        for name in st.names:
            lab = st.labels(name)
            assert lab is None or (len(lab) == s.n and lab.min() == 0)
    for k in range(digits.n_classes):
        s = st.select(cls=k, layer="output", cluster=0, side="broad")
        assert (digits.labels[s.indices] == k).all() and s.n >= 1


def test_batch_norm_folded_once_gives_the_same_slts(digits):
    from slt_widgets.models.mlp import mlp
    from slt_widgets.widgets.compare_state import fold_batch_norm
    torch.manual_seed(0)
    net = mlp(64, (32, 32), 10, batch_norm=True, dropout=0.2)
    net.train()
    with torch.no_grad():                             # non-trivial running statistics
        for _ in range(3):
            net(torch.from_numpy(digits.features_at(np.arange(256))) * 2 + 0.5)
    net.eval()
    folded = fold_batch_norm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded)
    x = torch.from_numpy(digits.features_at(np.arange(50)))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-5, atol=1e-5)
    for layer in (1, 2, "output"):
        torch.testing.assert_close(slt(folded, x, layer=layer, nodes=[3]).weight,
                                   slt(net, x, layer=layer, nodes=[3]).weight, rtol=1e-4, atol=1e-5)
    plain = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    assert fold_batch_norm(plain) is plain
    odd = torch.nn.Sequential(torch.nn.BatchNorm1d(64), torch.nn.Linear(64, 10)).eval()
    assert fold_batch_norm(odd) is odd               # batch norm before any Linear: left to the engine


def test_user_frames_of_a_toy_dataset_tagged_by_source():
    """A class made only of the user's frames is shown whole on every side (more than max_samples),
    a mixed class keeps every user frame even where a net gets it wrong, and the note says so."""
    from slt_widgets.datasets import FrameDataset
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.array([0] * 20 + [1] * 12 + [0] * 8)      # class a: 20 corpus frames and 8 of yours
    src = np.array([0] * 20 + [1] * 20, np.int8)     # class b: 12 frames, all yours
    ds = FrameDataset.from_arrays(x, y, ["a", "b"], (1, 4))
    ds.meta.update(source_code=src, source_names=("corpus", "you"))
    torch.manual_seed(0)
    nets = {n: torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2)) for n in "pq"}
    st = CompareState(nets, ds, cls="b", max_samples=5)
    np.testing.assert_array_equal(st.selection.indices, np.arange(20, 32))      # all 12 yours, > max_samples
    assert st.selection.n_yours == 12
    note = st.class_samples(1)[1]
    assert note.startswith("no corpus frames of 'b'") and "all 12 of yours kept (misclassified by p " in note
    s = st.select(cls="a")
    mine = np.flatnonzero((y == 0) & (src == 1))
    assert np.isin(mine, s.indices).all() and s.n_yours == len(mine) == 8
    assert s.n == 8 + 3                              # at least 3 corpus frames next to yours
    with pytest.raises(ValueError, match="holds no frames from source 'corpus'"):
        st.select(cls="b", source="corpus")
    assert st.selection is s
