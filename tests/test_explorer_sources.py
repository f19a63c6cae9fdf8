"""The Explorer on a dataset joined by `with_source`: the user's frames next to the corpus's.

A few utterances of the shipped eval split stand in for the user's recordings (no aligner needed),
the first 4000 frames of the dev split for the corpus.
"""
from __future__ import annotations

import numpy as np
import pytest

from slt_widgets import load_demo
from slt_widgets.analysis import predict
from slt_widgets.datasets import FrameDataset
from slt_widgets.datasets.recordings import with_source
from slt_widgets.widgets import EmbeddingView, Explorer
from slt_widgets.widgets._class_view import class_samples

MAX = 60


@pytest.fixture(scope="module")
def joined():
    model, dev = load_demo("small", "dev")
    ev = FrameDataset.load(_data("eval.npz"))
    user = ev.subset(np.flatnonzero(ev._utt_of_sample < 4), name="mine")
    return model, with_source(user, dev.subset(np.arange(4000)))


def _data(name):
    from pathlib import Path
    import slt_widgets
    return Path(slt_widgets.__file__).parent / "data" / name


@pytest.fixture(scope="module")
def explorer(joined):
    model, both = joined
    return Explorer(model, both, cls="S", max_samples=MAX, correct_only=True)


def _truth(joined, cls="S"):
    model, both = joined
    k = both.class_index(cls)
    code = both.meta["source_code"]
    mine = np.flatnonzero((both.labels == k) & (code == 1))
    corpus = np.flatnonzero((both.labels == k) & (code == 0))
    return k, mine, corpus


def test_every_user_frame_is_kept_and_only_the_corpus_is_subsampled(joined, explorer):
    model, both = joined
    k, mine, corpus = _truth(joined)
    idx = explorer.state.view.index
    assert np.isin(mine, idx).all()                                   # all 35 of yours, misclassified too
    wrong = (predict(model, both, index=mine) != k).sum()
    assert wrong > 0                                                   # the case correct_only must not drop
    rest = np.setdiff1d(idx, mine)
    assert np.isin(rest, corpus).all() and len(rest) == MAX - len(mine)
    assert (predict(model, both, index=rest) == k).all()              # the corpus's are correct only
    assert len(idx) == MAX
    assert f"all {len(mine)} of yours kept ({wrong} misclassified)" in explorer.state.view.note


def test_status_and_heading_split_the_count(explorer, joined):
    _, mine, _ = _truth(joined)
    explorer.select(cls="S")
    s = explorer.selection
    assert s.n == MAX and s.n_yours == len(mine)
    assert f"{MAX} frames ({len(mine)} yours)" in explorer.status.value
    assert explorer.templates.title.endswith(f"whole class — {MAX} frames ({len(mine)} yours)")
    assert explorer.templates.count is None                            # no second, unsplit count


def test_embedding_marks_exactly_the_user_frames(explorer, joined):
    _, mine, _ = _truth(joined)
    explorer.select(cls="S")
    view = explorer.state.view
    marked = explorer.embedding.marked
    assert marked is not None and marked.shape == (view.n,)
    np.testing.assert_array_equal(view.index[marked], mine)
    col = np.asarray(explorer.embedding.scatter.color)
    assert (col[marked] == col.max()).all() and (col[~marked] < col.max()).all()   # their own colour
    assert f"you (n={len(mine)})" in explorer.embedding.legend.value
    labels = explorer.state.frame.labels                               # cluster entries add up to the tree's
    k0, k0_mine = int((labels == 0).sum()), int(((labels == 0) & marked).sum())
    assert f"cluster 0 ({k0 - k0_mine}, +{k0_mine} you)" in explorer.embedding.legend.value
    png = explorer.embedding.to_bytes(60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_source_you_is_exactly_the_user_frames_of_the_class(explorer, joined):
    _, mine, corpus = _truth(joined)
    s = explorer.select(cls="S", source="you")
    np.testing.assert_array_equal(s.indices, mine)
    assert s.source == "you" and s.n_yours == s.n == len(mine)
    assert explorer.source_picker.value == "you"
    assert "only you" in explorer.status.value
    f = explorer.state.frame                                           # your mean SLT against the class's
    np.testing.assert_allclose(f.images[1], f.view.slts[np.isin(f.view.index, mine)].mean(0), rtol=1e-5, atol=1e-6)
    assert f.image_titles[2] == "SLT − whole class" and f.highlight == f"whole class, only you (n={len(mine)})"
    played = explorer.play_exemplars(3)                                # your frames carry their own audio
    assert np.isin(played, mine).all() and len(played) == 3
    # kept while the view stays; a cluster narrows it to the user's frames of that cluster
    labels = explorer.state.frame.labels
    view = explorer.state.view
    c = int(labels[np.searchsorted(view.index, mine[0])])
    s = explorer.select(cluster=c)
    want = view.index[(labels == c) & np.isin(view.index, mine)]
    np.testing.assert_array_equal(s.indices, want)
    s = explorer.select(cls="S", source="corpus")
    assert not np.isin(s.indices, mine).any() and np.isin(s.indices, corpus).all() and s.n_yours == 0
    # a new class clears it, like the cluster; the picker drives the same request
    s = explorer.select(cls="IY")
    assert s.source == "all"
    explorer.source_picker.value = "you"
    assert explorer.selection.source == "you" and explorer.selection.n == explorer.selection.n_yours
    explorer.select(cls="S")


def test_unknown_source_is_refused_with_a_did_you_mean_and_nothing_changes(explorer):
    before = explorer.select(cls="S", source="all")
    with pytest.raises(ValueError, match=r"did you mean 'you'"):
        explorer.select(source="yuo")
    with pytest.raises(ValueError, match="source must be one of 'all', 'corpus', 'you'"):
        explorer.select(source=3)
    with pytest.raises(TypeError, match=r"did you mean 'source'"):
        explorer.select(sorce="you")
    assert explorer.selection is before


def test_a_class_without_user_frames_refuses_source_you_and_the_picker_snaps_back(joined, explorer):
    _, both = joined
    code = both.meta["source_code"]
    k = next(k for k in range(both.n_classes) if not ((both.labels == k) & (code == 1)).any()
             and ((both.labels == k) & (code == 0)).sum() >= 3)
    before = explorer.select(cls=k)
    assert before.n_yours == 0 and not explorer.embedding.marked.any()
    with pytest.raises(ValueError, match="holds no samples from source 'you'"):
        explorer.select(source="you")
    assert explorer.selection is before
    explorer.source_picker.value = "you"                               # the same request from the dropdown
    assert explorer.selection is before and explorer.source_picker.value == "all"
    assert "holds no samples" in str(explorer.error_area.errors[-1])
    explorer.select(cls="S")


def test_untagged_dataset_refuses_source_and_is_unchanged(joined):
    model, both = joined
    plain = both.subset(np.arange(len(both)))
    plain.meta = {}
    ex = Explorer(model, plain, cls="S", max_samples=MAX)
    assert ex.selection.n_yours is None and ex.state.frame.user is None and ex.embedding.marked is None
    assert "yours" not in ex.status.value and ex.source_picker.layout.display == "none"
    k = both.class_index("S")
    idx, _ = class_samples(model, plain, k, MAX)
    np.testing.assert_array_equal(ex.state.view.index, idx)           # the untagged subsample, as before
    with pytest.raises(ValueError, match="with_source"):
        ex.select(source="you")
    assert ex.select(source="all").source == "all"


def test_class_samples_keeps_a_class_made_only_of_user_frames():
    ds = FrameDataset.from_arrays(np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32),
                                  np.array([0] * 6 + [1] * 4), ["a", "b"], (1, 4))
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    src = np.array([0] * 6 + [1] * 4, np.int8)
    idx, note = class_samples(model, ds, 1, 3, source=src)
    np.testing.assert_array_equal(idx, [6, 7, 8, 9])                  # more than max_samples: all kept
    assert "all 4 of yours kept" in note


def test_embedding_view_rejects_a_bad_mark():
    v = EmbeddingView()
    with pytest.raises(ValueError, match="marked must be"):
        v.set_points(np.zeros((3, 2)), [0, 0, 0], marked=[1, 0, 1])
    v.set_points(np.zeros((3, 2)), [0, 0, 0], ["<b>c</b>"], marked=np.array([True, False, False]),
                 marked_name="<i>me</i>")
    assert "&lt;i&gt;me&lt;/i&gt; (n=1)" in v.legend.value and "<i>" not in v.legend.value
