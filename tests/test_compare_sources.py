"""Compare on your own speech: a synthesised "recording", aligned by `load_recordings`, joined to the
corpus with `with_source`, shown on both demo nets the way the Explorer shows it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("pocketsphinx")
pytest.importorskip("espeakng_loader")
pytest.importorskip("kaldi_native_fbank")

from slt_widgets import load_demo, slt  # noqa: E402
from slt_widgets.analysis import cut_labels, predict  # noqa: E402
from slt_widgets.datasets import load_recordings, with_source  # noqa: E402
from slt_widgets.widgets import Compare  # noqa: E402
from slt_widgets.widgets.spectrum_view import normalised_spectrum  # noqa: E402

from test_recordings import speak, write  # noqa: E402

TEXT = "She sells sea shells by the shore."
MAX = 60


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    d = tmp_path_factory.mktemp("mine")
    wave, rate, _ = speak(TEXT, seed=1)
    write(d, "take0", wave, rate, TEXT)
    user = load_recordings(d, progress=False)
    small, ev = load_demo("small", "eval")
    wide, _ = load_demo("wide", "eval")
    return {"small": small, "wide": wide}, with_source(user, ev.subset(np.arange(4000)))


@pytest.fixture(scope="module")
def cmp_(joined):
    nets, both = joined
    return Compare(nets, both, cls="S", max_samples=MAX)


@pytest.fixture()
def cmp(cmp_):
    cmp_.select(cls="S", layer="output", source="all")
    return cmp_


def _mine(both, cls="S"):
    k = both.class_index(cls)
    code = both.meta["source_code"]
    return k, np.flatnonzero((both.labels == k) & (code == 1)), np.flatnonzero((both.labels == k) & (code == 0))


def test_every_user_frame_is_kept_on_every_side_and_only_the_corpus_is_filtered(cmp, joined):
    nets, both = joined
    k, mine, corpus = _mine(both)
    assert len(mine) >= 5                                                 # the recording has /s/ frames
    s = cmp.selection
    assert np.isin(mine, s.indices).all() and s.n == MAX and s.n_yours == len(mine)
    rest = np.setdiff1d(s.indices, mine)
    assert np.isin(rest, corpus).all() and len(rest) == MAX - len(mine)
    for name, m in nets.items():
        assert (predict(m, both, index=rest) == k).all()                  # correct_by="all" on the corpus only
        np.testing.assert_array_equal(cmp.state.view(name).index, s.indices)
    wrong = {n: int((predict(m, both, index=mine) != k).sum()) for n, m in nets.items()}
    _, note = cmp.state.class_samples(k)
    assert f"all {len(mine)} of yours kept (misclassified by small {wrong['small']}, wide {wrong['wide']})" in note
    assert f"{MAX} frames ({len(mine)} yours)" in cmp.status.value
    assert cmp.templates.title.endswith(f"whole class — {MAX} frames ({len(mine)} yours)")
    assert cmp.templates.count is None                                    # no second, unsplit count
    assert cmp.source_picker.layout.display is None and list(cmp.source_picker.options) == ["all", "corpus", "you"]


def test_each_side_says_where_your_frames_sit_and_how_it_classifies_them(cmp, joined):
    nets, both = joined
    k, mine, _ = _mine(both)
    for name, m in nets.items():
        v = cmp.state.view(name)
        rows = np.isin(v.index, mine)
        lab = cut_labels(v.linkage, cmp.selection.cuts[name])[rows]
        where = cmp.state.where_yours(name)
        assert where["clusters"] == {int(c): int((lab == c).sum()) for c in np.unique(lab)}
        assert where["n"] == len(mine) and sum(where["clusters"].values()) == len(mine)
        assert where["correct"] == int((predict(m, both, index=mine) == k).sum())
        line = cmp.sides[name].yours.value
        assert f"you: {len(mine)} frames in cluster" in line
        assert f"{name} classifies {where['correct']} of {len(mine)} correctly" in line
        # the side's spectra: the class and your frames of it, highlighted
        key = f"you (n={len(mine)})"
        sp = cmp.sides[name].spectra
        assert sp.names == (f"class S (n={MAX})", key) and sp.highlight == key
        want = np.linalg.svd(v.slts[rows].astype(np.float64), compute_uv=False)
        np.testing.assert_allclose(sp.curves[key], normalised_spectrum(want), rtol=1e-4, atol=1e-6)


def test_source_you_shows_exactly_your_frames_on_every_side_with_their_templates(cmp, joined):
    nets, both = joined
    k, mine, corpus = _mine(both)
    s = cmp.select(source="you")
    np.testing.assert_array_equal(s.indices, mine)
    assert s.source == "you" and s.n == s.n_yours == len(mine) and cmp.source_picker.value == "you"
    assert "whole class, only you" in cmp.status.value
    x = torch.from_numpy(both.features_at(mine))
    for i, (name, m) in enumerate(nets.items()):               # each side's mean SLT of your frames, exact
        want = slt(m, x, layer="output", nodes=[k]).weight[:, 0, :].double().mean(0).numpy()
        np.testing.assert_allclose(cmp.templates.images[1 + i].ravel(), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cmp.templates.images[0].ravel(), both.features_at(mine).mean(0), atol=1e-5)
    # a cluster of one side narrows it to your frames of that cluster, on every side
    v = cmp.state.view("wide")
    lab = cut_labels(v.linkage, s.cuts["wide"])
    c = int(lab[np.searchsorted(v.index, mine[0])])
    s = cmp.select(cluster=c, side="wide")
    np.testing.assert_array_equal(s.indices, v.index[(lab == c) & np.isin(v.index, mine)])
    s = cmp.select(cluster=None, source="corpus")
    assert s.n_yours == 0 and np.isin(s.indices, corpus).all() and s.n == MAX - len(mine)
    # a new class clears it (as in the Explorer); the dropdown sends the same request
    assert cmp.select(cls="IY").source == "all"
    cmp.source_picker.value = "you"
    assert cmp.selection.source == "you" and cmp.selection.n == cmp.selection.n_yours


def test_bad_sources_are_refused_and_nothing_changes(cmp, joined):
    nets, both = joined
    before = cmp.selection
    with pytest.raises(ValueError, match=r"did you mean 'you'"):
        cmp.select(source="yuo")
    with pytest.raises(TypeError, match=r"did you mean 'source'"):
        cmp.select(sorce="you")
    assert cmp.selection is before
    code = both.meta["source_code"]
    k = next(k for k in range(both.n_classes) if not ((both.labels == k) & (code == 1)).any()
             and ((both.labels == k) & (code == 0)).sum() >= 3)
    before = cmp.select(cls=k)
    assert before.n_yours == 0 and "No frames from you" in cmp.sides["small"].yours.value
    with pytest.raises(ValueError, match="holds no frames from source 'you'"):
        cmp.select(source="you")
    assert cmp.selection is before
    cmp.source_picker.value = "you"                                   # from the dropdown: shown, snapped back
    assert cmp.selection is before and cmp.source_picker.value == "all"
    assert "holds no frames" in str(cmp.error_area.errors[-1])


def test_untagged_dataset_has_no_source_and_refuses_one(joined):
    nets, both = joined
    plain = both.subset(np.arange(len(both)))
    plain.meta = {}
    c = Compare(nets, plain, cls="S", max_samples=MAX)
    assert c.selection.n_yours is None and c.state.yours() is None and c.state.where_yours("small") is None
    assert c.source_picker.layout.display == "none" and c.sides["small"].yours.layout.display == "none"
    assert "yours" not in c.status.value and c.templates.count == MAX
    with pytest.raises(ValueError, match="with_source"):
        c.select(source="you")
    assert c.select(source="all").source == "all"


def test_png_names_your_frames(cmp, tmp_path):
    cmp.select(cls="S")
    path = cmp.to_png(tmp_path / "mine.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
