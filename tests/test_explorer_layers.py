"""Every layer of every class works in the Explorer: both demo nets and the digits set.

For each (class, layer) the Explorer must draw a tree whose default cut shows 2–12 coloured
clusters, each ≥ 2 % of the samples (at most two groups at HL1, where a node's SLT is its weight
row or zero), the templates of the whole class, and a click on each coloured cluster selects it.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from slt_widgets import slt
from slt_widgets.analysis.clustering import cut_labels, prototype_cut, prototype_linkage, upgma
from slt_widgets.datasets import load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp
from slt_widgets.widgets import Explorer

try:
    from slt_widgets.demo import load_demo
    load_demo("small")
    HAVE_DEMO = True
except Exception:  # noqa: BLE001 - a checkout without the built package data
    HAVE_DEMO = False


def _check_every_class_and_layer(ex, layers):
    ds = ex.dataset
    for name in ds.class_names:
        for layer in layers:
            sel = ex.select(cls=name, layer=layer)
            st, f = ex.state, ex.state.frame
            assert sel.cls == name and sel.cluster is None and sel.n == f.view.n
            clusters = ex.clusters
            sizes = [n for _, n in clusters]
            assert sizes == sorted(sizes, reverse=True)
            assert ex.tree.n_drawn == len(clusters) and ex.tree.cut == sel.cut
            if layer in (1, "HL1"):
                groups = len(np.unique(f.view.slts, axis=0))
                assert len(clusters) == min(groups, 2) and groups <= 2, (name, clusters)
                zero = int((np.abs(f.view.slts).max(1) == 0).sum())
                assert sorted(sizes) == sorted(s for s in (zero, sel.n - zero) if s), (name, sizes)
            elif sel.n >= 50:
                assert 2 <= len(clusters) <= 12, (name, layer, clusters)
                assert min(sizes) >= 0.02 * sel.n, (name, layer, clusters)
            assert ex.templates.count == sel.n and not ex.error_area.errors
            for k, n in clusters[:3]:                    # what a click on a drawn cluster sets
                ex.tree.selected = k
                assert ex.selection.cluster == k and ex.selection.n == n and ex.selection.cut == sel.cut


def test_digits_every_class_every_layer():
    ds = load_digits_dataset("all")
    model = train_toy_mlp(ds, hidden=(48, 32), steps=80, lr=1e-2, seed=0)
    ex = Explorer(model, ds, cls="0", max_samples=150)
    _check_every_class_and_layer(ex, ["HL1", "HL2", "output"])


@pytest.mark.slow          # 40 classes × 6 layers: ~1 min (small), ~8 min (wide) on a loaded 2-core machine
@pytest.mark.skipif(not HAVE_DEMO, reason="demo package data not built (python -m slt_widgets.models.train_demo)")
@pytest.mark.parametrize("net", ["small", "wide"])
def test_demo_every_class_every_layer(net):
    model, ds = load_demo(net, "eval")
    ex = Explorer(model, ds, cls="T", max_samples=120)
    L = ex.chain.n_hidden
    _check_every_class_and_layer(ex, [f"HL{i}" for i in range(1, L + 1)] + ["output"])


@pytest.mark.skipif(not HAVE_DEMO, reason="demo package data not built")
def test_hl1_of_t_shows_its_two_groups_plainly():
    """The crash of issue 14: HL1 /T/ (fcluster returned fewer clusters than asked)."""
    model, ds = load_demo("small", "eval")
    ex = Explorer(model, ds, cls="T", max_samples=400)
    ex.layer_picker.value = 1                               # the dropdown, as a user picks it
    assert not ex.error_area.errors
    sel = ex.selection
    assert sel.layer == 1 and ex.node_picker.value == sel.node
    w = ex.state.view.slts
    W1 = model[0].weight.detach().numpy()[sel.node]
    active = np.abs(w).max(1) > 0
    np.testing.assert_allclose(w[active], np.broadcast_to(W1, w[active].shape), rtol=1e-5, atol=1e-6)
    assert sorted(n for _, n in ex.clusters) == sorted(s for s in (int(active.sum()), int((~active).sum())) if s)
    assert "weight row" in ex.status.value and "at most two groups" in ex.status.value


def test_prototype_cut_on_planted_templates():
    """Three templates at random gains plus a few outliers: the unit-normalised tree cuts into the
    three templates (the raw Euclidean tree would split by gain), outliers grey."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=(3, 40))
    lab = np.repeat([0, 1, 2], [300, 200, 100])
    gain = rng.uniform(0.2, 5.0, size=600)
    x = t[lab] * gain[:, None] + 0.05 * rng.normal(size=(600, 40)) * gain[:, None]
    x = np.vstack([x, rng.normal(size=(6, 40)) * 3])
    Z = prototype_linkage(x)
    cut, n_drawn = prototype_cut(Z)
    got = cut_labels(Z, cut)
    assert n_drawn == 3
    for k in range(3):                                      # each template is one drawn cluster, its own
        assert (got[:600][lab == k] == k).all()
    assert (np.bincount(got)[:3] - [300, 200, 100] <= 6).all()   # at most the outliers join them
    # the raw Euclidean tree splits by gain instead: its top two clusters mix templates
    raw = cut_labels(upgma(x), float(np.sort(upgma(x)[:, 2])[-2]) / 2 + float(upgma(x)[-1, 2]) / 2)
    assert any(len(np.unique(lab[(raw[:600] == k)])) > 1 for k in range(raw.max() + 1))


def test_prototype_cut_identical_groups_and_degenerate_trees():
    w = np.zeros((50, 5))
    w[:47] = [1, 2, 3, 4, 5]                                  # an HL1 node: weight row or zero
    cut, n = prototype_cut(prototype_linkage(w))
    assert n == 2 and np.bincount(cut_labels(prototype_linkage(w), cut)).tolist() == [47, 3]
    same = np.ones((20, 4))
    assert prototype_cut(prototype_linkage(same)) == (0.0, 1)
    with pytest.raises(Exception, match="monotone"):
        prototype_cut(np.array([[0, 1, 2.0, 2], [2, 3, 1.0, 3]]))


def test_slts_are_the_engines(monkeypatch):
    """The tree clusters exactly the engine's SLTs of the shown node (not a recomputation)."""
    ds = load_digits_dataset("all")
    model = train_toy_mlp(ds, hidden=(24,), steps=40, lr=1e-2, seed=1)
    ex = Explorer(model, ds, cls="4", max_samples=80, layer="HL1")
    sel = ex.selection
    w = slt(model, torch.from_numpy(ds.features_at(sel.indices)), layer=1, nodes=[sel.node]).weight[:, 0].numpy()
    np.testing.assert_allclose(ex.state.view.slts, w, atol=1e-6)
