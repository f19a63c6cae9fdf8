"""Every displayed view leaves a static ``image/png`` next to its widget view (issue 17 §3), and
the Explorer runs in a plain ipykernel with no front end (issue 17 §6). No browser needed.

The composed views (Explorer, ConfusionPairs, LayerSummary, a ``Tab`` of views) leave ONE
picture: their views' own pictures, pixel for pixel, laid out as their boxes are.
"""
from __future__ import annotations

import base64
import io
import json
import logging

import ipywidgets as W
import numpy as np
import pytest
from PIL import Image

from slt_widgets import analysis as A
from slt_widgets.widgets import (ClusterTree, ConfusionPairs, EmbeddingView, LayerSummary, SelectivityMap,
                                 SpectrumView, TemplatePanel)
from slt_widgets.widgets._static import _box_picture, compose_pngs, picture, register_box_pictures

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, format="png")
    return buf.getvalue()


def _find(big: np.ndarray, small: np.ndarray) -> tuple[int, int] | None:
    """Top-left ``(y, x)`` where ``small [h, w, 3]`` sits pixel-exactly inside ``big``, or None."""
    h, w = small.shape[:2]
    # search on the small picture's most varied row, then check the whole block
    r = int(np.argmax([len(np.unique(row.reshape(-1, 3), axis=0)) for row in small]))
    needle = small[r].tobytes()
    for y in range(big.shape[0] - h + 1):
        hay = big[y + r].tobytes()
        start = hay.find(needle)
        while start >= 0:
            if start % 3 == 0:
                x = start // 3
                if x + w <= big.shape[1] and np.array_equal(big[y:y + h, x:x + w], small):
                    return y, x
            start = hay.find(needle, start + 1)
    return None


def _bundle(widget) -> tuple[dict, bytes]:
    b = widget._repr_mimebundle_()
    data = b[0] if isinstance(b, tuple) else b
    assert data[WIDGET_MIME]["model_id"] == widget.model_id, "the live view must still be in the bundle"
    assert "text/plain" in data
    assert "image/png" in data, f"{type(widget).__name__} left no picture next to its widget view"
    png = base64.b64decode(data["image/png"])
    assert png[:8] == PNG_MAGIC
    meta = b[1] if isinstance(b, tuple) else {}
    assert meta["image/png"]["alt"].strip(), "the picture needs a text alternative"
    assert data["text/plain"] == f"{type(widget).__name__}: {meta['image/png']['alt']}"
    return data, png


# --------------------------------------------------------------------------- fixtures
def _template_panel(model, digits):
    rng = np.random.default_rng(0)
    return TemplatePanel(rng.normal(size=(3, 8, 8)).astype(np.float32), titles=["a", "b", "c"], origin="upper")


def _cluster_tree(model, digits):
    x = np.random.default_rng(1).normal(size=(60, 5))
    return ClusterTree(A.upgma(x, "euclidean"), title="toy tree")


def _selectivity_map(model, digits):
    c = A.node_cluster_counts(model, digits)
    layer = c.layers[0]
    return SelectivityMap(c.csv[layer], [digits.class_names[k] for k in c.classes], co=c.co[layer])


def _spectrum_view(model, digits):
    v = SpectrumView("toy spectra")
    v.set_spectra({"a": np.linspace(3, 0.1, 20), "b": np.linspace(2, 0.5, 20)}, highlight="b")
    return v


def _embedding_view(model, digits):
    v = EmbeddingView("toy embedding")
    v.set_points(np.random.default_rng(2).normal(size=(50, 2)), np.arange(50) % 3, ["x", "y", "z"])
    return v


def _confusion_pairs(model, digits):
    return ConfusionPairs(model, digits, "3", "5", max_samples=200)


def _layer_summary(model, digits):
    return LayerSummary(model, digits, node_samples=200, max_train=600, max_eval=600)


VIEWS = {"TemplatePanel": _template_panel, "ClusterTree": _cluster_tree, "SelectivityMap": _selectivity_map,
         "SpectrumView": _spectrum_view, "EmbeddingView": _embedding_view, "ConfusionPairs": _confusion_pairs,
         "LayerSummary": _layer_summary}


# ------------------------------------------------------------------------------ tests
def test_compose_pngs_copies_pixels_side_by_side_and_stacked():
    a = np.zeros((10, 20, 3), np.uint8) + [200, 10, 10]
    b = np.zeros((30, 5, 3), np.uint8) + [10, 10, 200]
    h = _rgb(compose_pngs([_png(a), _png(b)], "horizontal", gap=4))
    assert h.shape == (30, 20 + 4 + 5, 3)
    assert np.array_equal(h[:10, :20], a) and np.array_equal(h[:, 24:], b)
    assert (h[10:, :20] == 255).all() and (h[:, 20:24] == 255).all()      # white padding and gap
    v = _rgb(compose_pngs([_png(a), _png(b)], "vertical", gap=4))
    assert v.shape == (10 + 4 + 30, 20, 3)
    assert np.array_equal(v[:10], a) and np.array_equal(v[14:, :5], b)
    with pytest.raises(ValueError, match="direction"):
        compose_pngs([_png(a)], "diagonal")
    with pytest.raises(ValueError, match="at least one"):
        compose_pngs([])


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_leaves_a_picture_next_to_its_widget_view(name, model, digits):
    w = VIEWS[name](model, digits)
    _, png = _bundle(w)
    img = _rgb(png)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20, "the picture is blank"
    if name == "ConfusionPairs":           # its picture is its template grid
        assert np.array_equal(img, _rgb(picture(w.templates)))
    w.embed_png = False
    data = w._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "image/png" not in data and WIDGET_MIME in data


def test_the_explorer_leaves_one_picture_of_all_its_views(explorer):
    explorer.select(cls="3")
    explorer.select(cluster=1)
    data, png = _bundle(explorer)
    alt = explorer._repr_mimebundle_()[1]["image/png"]["alt"]
    assert "cluster 1 selected" in alt and "templates 3 · output node 3 · cluster 1" in alt, alt
    big = _rgb(png)
    spots = {}
    for view in (explorer.tree, explorer.templates, explorer.embedding, explorer.spectra):
        spot = _find(big, _rgb(picture(view)))
        assert spot is not None, f"the Explorer's picture lacks its {type(view).__name__}"
        spots[type(view).__name__] = spot
    # laid out as the boxes are: tree left of the templates, embedding left of the spectra, below
    assert spots["ClusterTree"][1] < spots["TemplatePanel"][1]
    assert spots["EmbeddingView"][1] < spots["SpectrumView"][1]
    assert spots["EmbeddingView"][0] > spots["ClusterTree"][0]


def test_the_tree_picture_draws_clusters_as_the_live_tree_does(explorer):
    """A truncated tree's leaves stand at min(merge height, cut) with a wedge in their cluster's
    colour (grey: "other"), labelled "#id · n", on an axis zoomed to the leaves — not a comb of
    black links down to 0 with only the labels in colour."""
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_hex
    from slt_widgets.widgets.cluster_tree import cluster_color

    explorer.select(cls="3")
    explorer.select(cluster=1)
    t = explorer.tree
    ax = t._figure().axes[0]
    counts, leaf = np.asarray(t._leaf_counts), t.leaf_clusters()
    wedges = [c for c in ax.collections if isinstance(c, PolyCollection)]
    many = counts >= 2
    assert len(wedges) == 1 and len(wedges[0].get_paths()) == int(many.sum()) > 0
    want = [cluster_color(int(c)) if 0 <= c < t.drawn else "#aaaaaa" for c in leaf[many]]
    assert [to_hex(f) for f in wedges[0].get_facecolor()] == want
    tops = [float(p.vertices[0, 1]) for p in wedges[0].get_paths()]
    np.testing.assert_allclose(tops, np.minimum(np.asarray(t._leaf_heights), t.cut)[many])
    sizes = np.bincount(t.labels)
    labels = {lab.get_text() for lab in ax.get_xticklabels()}
    whole = [c for c in range(t.drawn) if any((leaf == c) & (counts == sizes[c]))]
    assert whole and all(f"#{c} · {sizes[c]}" in labels for c in whole), labels
    other = t.n_clusters - t.drawn
    assert ax.get_title().endswith(f"cut {t.cut:.3g} · {t.drawn} clusters" + (f" + {other} small" if other else ""))
    low = float(np.minimum(np.asarray(t._leaf_heights), t.cut).min())
    assert ax.get_ylim()[0] == pytest.approx(max(0.0, low - 0.25 * (t.root_height - low)) if low > 0 else 0.0)


def test_a_picture_that_fails_leaves_the_live_view(explorer, monkeypatch, caplog):
    def broken(dpi):
        raise RuntimeError("no fonts")
    monkeypatch.setattr(explorer.tree, "_static_png", broken)
    with caplog.at_level(logging.WARNING):
        b = explorer._repr_mimebundle_()
    data = b[0] if isinstance(b, tuple) else b
    assert WIDGET_MIME in data and "image/png" not in data
    assert "no fonts" in caplog.text


def test_a_tab_of_views_gets_the_picture_of_its_views(explorer):
    from IPython.core.formatters import DisplayFormatter

    class Shell:
        display_formatter = DisplayFormatter()

    ip = Shell()
    assert register_box_pictures(ip)
    a, b = _template_panel(None, None), _cluster_tree(None, None)
    tab = W.Tab(children=[a, b])
    data, meta = ip.display_formatter.format(tab)
    assert WIDGET_MIME in data and "image/png" in data
    assert meta["image/png"]["alt"].startswith("templates") and "cluster tree toy tree" in meta["image/png"]["alt"]
    big = _rgb(base64.b64decode(data["image/png"]) if isinstance(data["image/png"], str) else data["image/png"])
    assert _find(big, _rgb(picture(a))) is not None and _find(big, _rgb(picture(b))) is not None
    # a box of plain ipywidgets gets no picture; our own views are pictured once, by their bundle
    data, _ = ip.display_formatter.format(W.HBox([W.Button(description="x")]))
    assert "image/png" not in data
    assert _box_picture(explorer) is None
    data, _ = ip.display_formatter.format(explorer)
    assert "image/png" in data


PLAIN_KERNEL = r"""
import json, numpy as np
from IPython.display import display
from slt_widgets.datasets import load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp
from slt_widgets.widgets import Explorer
ds = load_digits_dataset("all")
model = train_toy_mlp(ds, hidden=(48, 32), steps=80, lr=1e-2, seed=0)
ex = Explorer(model, ds, cls="3")
display(ex)
ex.class_picker.value = "7"                 # what a dropdown change from a browser does
ex.tree.selected = 1                        # a cluster click
ex.cut_slider.value = ex.cut_slider.max / 2
ex.layer_picker.value = 1
ex.embedding.selected = np.arange(5)        # a brush
ex.select(cls="0", layer="output", cluster=0)
ex.play_button.click() if ex.play_button.layout.display != "none" else None
print(json.dumps({"errors": [repr(e) for e in ex.error_area.errors], "cls": ex.selection.cls,
                  "cluster": ex.selection.cluster}))
"""


def test_the_explorer_runs_in_a_plain_kernel_without_a_front_end():
    """nbclient is a bare kernel client: no widget manager answers the comms."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PLAIN_KERNEL)]
    nbclient.NotebookClient(nb, timeout=300, allow_errors=False, kernel_name="python3").execute()
    outs = nb.cells[0].outputs
    errors = [o for o in outs if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"
                                                                 and "Traceback" in o.text)]
    assert not errors, errors
    shown = [o for o in outs if o.output_type == "display_data"]
    assert len(shown) == 1 and WIDGET_MIME in shown[0].data and "image/png" in shown[0].data
    res = json.loads([o for o in outs if o.output_type == "stream" and o.name == "stdout"][-1].text.strip()
                     .splitlines()[-1])
    assert res == {"errors": [], "cls": "0", "cluster": 0}


def test_bundles_leave_out_whole_line_comments_only():
    from slt_widgets.widgets._anywidget_base import strip_comments
    src = ("// a comment\n/** doc\n * more\n */\nconst a = 1; // kept\n\n"
           "const t = `line one\n// inside a template literal\n`;\n/* one line */\nexport default a;\n")
    assert strip_comments(src) == ("const a = 1; // kept\nconst t = `line one\n// inside a template literal\n`;\n"
                                   "export default a;\n")


def test_default_cut_survives_tied_merges():
    """Tied merges (two groups of identical SLTs, as at an HL1 node) once made the default cut
    raise IndexError when the Explorer switched layer; the prototype cut draws both groups."""
    x = np.repeat(np.array([[0.0], [1.0]]), 10, axis=0)     # two groups of identical points
    Z = A.upgma(x, "euclidean")
    cut, n_drawn = A.prototype_cut(Z)
    assert 0.0 < cut < Z[:, 2].max() and n_drawn == 2
    assert sorted(np.bincount(A.cut_labels(Z, cut))) == [10, 10]
