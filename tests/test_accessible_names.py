"""Every view has an accessible name (issue 17 §5), headless: the views built from ipywidgets
boxes and bqplot figures (Explorer, EmbeddingView, SpectrumView, ConfusionPairs, LayerSummary)
carry an :class:`AriaLabel` child whose ``label`` states what the view shows and follows the
selection. The browser test (tests/browser/test_accessible_names_browser.py) reads the names
from Chromium's accessibility tree."""
from __future__ import annotations

import numpy as np
import pytest

from slt_widgets.widgets import ConfusionPairs, EmbeddingView, LayerSummary, SpectrumView
from slt_widgets.widgets._static import describe, picture
from slt_widgets.widgets.aria_label import AriaLabel


def _labels(box) -> list[AriaLabel]:
    return [c for c in box.children if isinstance(c, AriaLabel)]


def test_every_box_view_of_the_explorer_is_named_from_the_selection(explorer):
    for view, role in ((explorer, "region"), (explorer.embedding, "figure"), (explorer.spectra, "figure")):
        tags = _labels(view)
        assert len(tags) == 1 and tags[0] is view.aria and view.aria.role == role, type(view).__name__
    s = explorer.select(cls="7", layer="output")
    assert explorer.aria.label == f"SLT explorer: 7 · output node 7 · whole class — {s.n} samples"
    assert explorer.embedding.aria.label == explorer.embedding.alt_text()
    assert explorer.embedding.aria.label.startswith("embedding MDS of SLTs · 7")
    assert f"{len(explorer.embedding.xy)} points" in explorer.embedding.aria.label
    assert explorer.spectra.aria.label == explorer.spectra.alt_text() and " 7" in explorer.spectra.aria.label
    k, n = explorer.clusters[0]
    explorer.select(cluster=k)
    assert explorer.aria.label == f"SLT explorer: 7 · output node 7 · cluster {k} — {n} samples"
    assert f"cluster {k} (n={n})" in explorer.spectra.aria.label
    explorer.select(embedding="tsne")
    assert explorer.embedding.aria.label.startswith(("embedding t-SNE of SLTs · 7", "embedding MDS of SLTs · 7"))
    assert explorer.embedding.aria.label == explorer.embedding.alt_text()
    explorer.select(embedding="mds")
    # a failed request leaves the names as they were, like every other view
    before = (explorer.aria.label, explorer.embedding.aria.label, explorer.spectra.aria.label)
    with pytest.raises(KeyError):
        explorer.select(cls="no such class")
    assert (explorer.aria.label, explorer.embedding.aria.label, explorer.spectra.aria.label) == before


def test_the_labeller_draws_nothing_and_changes_no_picture(explorer):
    """The hidden child leaves the pictures and their alt text as they were without it."""
    spectra = explorer.spectra
    assert spectra.aria.layout.display == "none" and picture(spectra.aria) is None
    kids = spectra.children
    with_tag = (picture(spectra), describe(spectra))
    spectra.children = tuple(c for c in kids if not isinstance(c, AriaLabel))
    try:
        assert (picture(spectra), describe(spectra)) == with_tag
    finally:
        spectra.children = kids


def test_standalone_plots_are_named_and_follow_their_data():
    sv = SpectrumView("layer spectra")
    assert sv.aria.label == "spectra layer spectra: nothing drawn yet"
    sv.set_spectra({"HL1": np.array([3.0, 2.0, 1.0]), "HL2": np.array([2.0, 1.0, 0.5])}, highlight="HL2")
    assert sv.aria.label == f"spectra layer spectra: {sv.label('HL1')}, {sv.label('HL2')}"
    sv.title = "renamed"
    assert sv.aria.label.startswith("spectra renamed: HL1 · AUC")
    ev = EmbeddingView("t-SNE of my points")
    ev.set_points(np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 3, ["a", "b", "c"])
    assert ev.aria.label == "embedding t-SNE of my points: 30 points in 3 colours"
    ev.set_colors(np.zeros(30, np.int64), ["a"])
    assert ev.aria.label == "embedding t-SNE of my points: 30 points in 1 colours"


def test_composed_views_are_named(model, digits):
    cp = ConfusionPairs(model, digits, "3", "5", max_samples=200)
    assert cp.aria.role == "region"
    assert cp.aria.label == (f"confusable pair 3 / 5: mean SLTs of output nodes 3 and 5 and their difference, "
                             f"to {cp.result.n[0]} samples of 3 and {cp.result.n[1]} of 5")
    cp.set_pair("8", "1")
    assert cp.aria.label.startswith("confusable pair 8 / 1: ")
    ls = LayerSummary(model, digits, node_samples=60, max_train=400, max_eval=400)
    assert ls.aria.label.startswith("layer summary of input, HL1, HL2: LDA explained variance")
    for v in (ls.evr_view, ls.within_view, ls.node_view):
        assert v.aria.label.startswith(f"spectra {v.title}: input · AUC" if v is not ls.node_view
                                       else f"spectra {v.title}: HL1 · AUC")


def test_a_bad_role_is_refused():
    with pytest.raises(ValueError, match="role must be one of 'region', 'figure', 'img', 'group'"):
        AriaLabel("x", role="button")
