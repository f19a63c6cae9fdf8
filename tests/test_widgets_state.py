"""Widget state without a browser: binary codec, trait round-trips, cut → labels, truncation,
validation, static PNG export and the display bundle (TemplatePanel, ClusterTree, SelectivityMap)."""
from __future__ import annotations

import base64
import io
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _put_buffers, _remove_buffers
from matplotlib.image import imread
from scipy.cluster.hierarchy import dendrogram, fcluster, leaves_list

from slt_widgets.analysis.clustering import upgma
from slt_widgets.widgets._anywidget_base import bundle_esm
from slt_widgets.widgets._codec import CodecError, array_from_json, array_to_json
from slt_widgets.widgets._static_png import color_limits, dendrogram_layout, js_colors, panel_limits
from slt_widgets.widgets.cluster_tree import CLUSTER_COLORS, ClusterTree, truncate_linkage
from slt_widgets.widgets.selectivity_map import SelectivityMap
from slt_widgets.widgets.template_panel import TemplatePanel

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def wire_roundtrip(state: dict) -> dict:
    """Pass a get_state() dict through the real ipywidgets buffer split (what goes on the wire)."""
    st, paths, buffers = _remove_buffers(state)
    assert len(buffers) == len(paths)
    buffers = [memoryview(bytes(b)) for b in buffers]  # the kernel receives fresh bytes
    _put_buffers(st, paths, buffers)
    return st


# -- codec ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32"])
def test_codec_roundtrips_shape_dtype_and_values_exactly(dtype):
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    enc = array_to_json(a)
    assert isinstance(enc["view"], memoryview) and enc["dtype"] == dtype and enc["shape"] == [3, 4, 5]
    out = array_from_json({**enc, "view": bytes(enc["view"])})
    assert out.dtype == np.dtype(dtype) and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


def test_codec_makes_contiguous_little_endian_and_handles_empty_and_none():
    a = np.arange(12, dtype=">f4").reshape(3, 4).T  # big-endian, not contiguous
    enc = array_to_json(a)
    assert bytes(enc["view"])[:4] == np.float32(0).tobytes() and enc["shape"] == [4, 3]
    np.testing.assert_array_equal(array_from_json(enc), a)
    e = array_from_json(array_to_json(np.zeros((0, 4))))
    assert e.shape == (0, 4)
    assert array_to_json(None) is None and array_from_json(None) is None


def test_codec_rejects_bad_values_with_messages():
    with pytest.raises(CodecError, match="astype"):
        array_to_json(np.zeros(3, dtype=np.int64))
    with pytest.raises(CodecError, match="bytes cannot hold"):
        array_from_json({"view": b"\0" * 8, "dtype": "float32", "shape": [3]})
    with pytest.raises(CodecError, match="unsupported dtype"):
        array_from_json({"view": b"\0" * 8, "dtype": "complex64", "shape": [1]})
    with pytest.raises(CodecError, match="expected an encoded array"):
        array_from_json([1.0, 2.0])


# -- TemplatePanel ----------------------------------------------------------------------------
def template(**kw):
    rng = np.random.default_rng(0)
    imgs = rng.normal(size=(3, 23, 11)).astype(np.float32)
    return TemplatePanel(imgs, titles=["a", "b", "c"], kinds=["slt", "diff", "features"], title="/t/ cluster 2",
                         count=314, **kw)


def test_template_panel_state_roundtrips_through_binary_buffers():
    w = template(shared_scale=True)
    state = w.get_state()
    assert isinstance(state["images"]["view"], memoryview)  # binary, never a list of floats
    _, paths, buffers = _remove_buffers(state)
    assert ["images", "view"] in paths and sum(b.nbytes for b in buffers) >= 3 * 23 * 11 * 4
    w2 = TemplatePanel(np.zeros((1, 2, 2)))
    w2.set_state(wire_roundtrip(state))
    assert w2.images.dtype == np.float32
    np.testing.assert_array_equal(w2.images, w.images)
    assert (w2.titles, w2.kinds, w2.shared_scale, w2.count) == (["a", "b", "c"], ["slt", "diff", "features"], True, 314)
    assert w2.heading() == "/t/ cluster 2 — 314 frames"
    assert w2.error == ""


def test_template_panel_defaults_and_other_shapes():
    digits = np.zeros((2, 8, 8)); digits[0, 0, 0] = -1
    w = TemplatePanel(digits, x_label="column", y_label="row")
    assert w.kinds == ["slt", "features"] and w.titles == ["", ""]
    w.set_panels(np.ones((5, 28, 28)), titles=list("abcde"), count=5, count_unit="images")
    assert w.n_panels == 5 and w.heading() == "5 images"
    one = TemplatePanel(np.ones((23, 11)))  # a single [H, W] image is one panel
    assert one.images.shape == (1, 23, 11)


def test_template_panel_validation_messages():
    w = template()
    with pytest.raises(traitlets.TraitError, match="3-D"):
        w.images = np.zeros((4, 5))
    with pytest.raises(traitlets.TraitError, match="NaN"):
        w.images = np.full((3, 2, 2), np.nan)
    with pytest.raises(traitlets.TraitError, match="set_panels"):
        w.images = np.zeros((5, 2, 2))  # titles/kinds still have 3 entries
    with pytest.raises(traitlets.TraitError, match="one of"):
        w.kinds = ["slt", "slt", "weights"]
    with pytest.raises(traitlets.TraitError, match="x_ticks needs 11"):
        w.x_ticks = [0, 1]
    with pytest.raises(TypeError, match="did you mean 'title'"):
        TemplatePanel(np.zeros((1, 2, 2)), titel="x")
    np.testing.assert_array_equal(w.images.shape, (3, 23, 11))  # unchanged after the errors


def test_template_panel_to_png_pixel_colour_sign(tmp_path):
    img = np.zeros((1, 4, 6), np.float32)
    img[0, :, :3] = 1.0   # left half positive → red
    img[0, :, 3:] = -1.0  # right half negative → blue
    w = TemplatePanel(img, titles=["SLT"], kinds=["slt"])
    figs = []
    make = w._figure
    w._figure = lambda: figs.append(make()) or figs[-1]
    path = w.to_png(tmp_path / "t.png", dpi=60)
    assert path.read_bytes()[:8] == PNG_MAGIC
    px = imread(path)[..., :3]
    ax = figs[0].axes[0]
    pos = ax.get_position()
    Hpx, Wpx = px.shape[:2]

    def cell(band, frame):
        x = (pos.x0 + (frame + 0.5) / 6 * pos.width) * Wpx
        y = (1 - (pos.y0 + (band + 0.5) / 4 * pos.height)) * Hpx
        return px[int(y), int(x)]

    r, g, b = cell(0, 1)
    assert r > b + 0.15, (r, g, b)
    r, g, b = cell(3, 4)
    assert b > r + 0.15, (r, g, b)
    # band 0 is at the bottom: a single hot band must show up in the lowest row of the axes
    img2 = np.zeros((1, 4, 6), np.float32); img2[0, 0] = 1.0
    w2 = TemplatePanel(img2, kinds=["slt"])
    figs.clear()
    make2 = w2._figure
    w2._figure = lambda: figs.append(make2()) or figs[-1]
    px = imread(w2.to_png(tmp_path / "t2.png", dpi=60))[..., :3]
    pos = figs[0].axes[0].get_position()
    Hpx, Wpx = px.shape[:2]
    r, g, b = cell(0, 2)
    assert r > b + 0.15
    r, g, b = cell(3, 2)
    assert abs(r - b) < 0.1  # 0 → the white centre of the diverging map


def test_colour_limits_rules():
    assert color_limits([-1, 3], True) == (-3, 3)
    assert color_limits([2, 5], False) == (2, 5)
    imgs = np.stack([np.full((2, 2), 1.0), np.full((2, 2), -4.0), np.arange(4.0).reshape(2, 2)])
    lims = panel_limits(imgs, ["slt", "slt", "features"], shared_scale=True)
    np.testing.assert_array_equal(lims, [[-4, 4], [-4, 4], [0, 3]])
    lims = panel_limits(imgs, ["slt", "slt", "features"], shared_scale=False)
    np.testing.assert_array_equal(lims[0], [-1, 1])


# -- ClusterTree ------------------------------------------------------------------------------
def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6, size=(4, 3))
    return centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 3))


def same_partition(a, b) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_cluster_tree_labels_follow_the_cut_like_fcluster():
    Z = upgma(blobs())
    w = ClusterTree(Z, cut=5.0)
    ref = fcluster(Z, t=5.0, criterion="distance")
    assert same_partition(w.labels, ref)
    sizes = np.bincount(w.labels)
    assert (np.diff(sizes) <= 0).all(), "cluster 0 must be the largest, then by size"
    w.selected = 1
    w.cut = 1.0
    assert same_partition(w.labels, fcluster(Z, t=1.0, criterion="distance"))
    assert w.n_clusters == len(set(fcluster(Z, t=1.0, criterion="distance")))
    assert w.selected == -1  # ids changed with the cut
    # the browser moves the cut: labels are recomputed in Python
    w.set_state(wire_roundtrip({"cut": 8.0}))
    assert same_partition(w.labels, fcluster(Z, t=8.0, criterion="distance"))


def test_cluster_tree_truncation_keeps_counts_and_structure():
    Z = upgma(blobs(500))
    t = truncate_linkage(Z, 40)
    assert t.tree.shape == (39, 4) and t.counts.sum() == 500
    np.testing.assert_allclose(t.tree[:, 2], Z[-39:, 2])  # the top merges, heights unchanged
    assert t.tree[-1, 3] == 500
    # every displayed leaf is one cluster of scipy's "maxclust" cut into 40 clusters
    ref = fcluster(Z, t=40, criterion="maxclust")
    np.testing.assert_array_equal(np.sort(t.counts), np.sort(np.bincount(ref)[1:]))
    w = ClusterTree(Z, cut=3.0, max_leaves=40)
    assert len(w._leaf_labels) == 40 and w._leaf_counts.sum() == 500
    # drawn left to right, the leaves read exactly like scipy's truncated dendrogram
    order, _, _ = dendrogram_layout(w._tree)
    ivl = dendrogram(Z, p=40, truncate_mode="lastp", no_plot=True)["ivl"]
    # (scipy names a single-sample leaf by its row index; without leaf_names the widget writes its
    # count, "(1)", so labels never mix counts with indices)
    assert [w._leaf_labels[i] for i in order] == [l if l.startswith("(") else "(1)" for l in ivl]
    assert all(l.startswith("(") for l, c in zip(w._leaf_labels, w._leaf_counts) if c > 1)
    small = ClusterTree(upgma(blobs(10)), leaf_names=[f"s{i}" for i in range(10)])
    assert sorted(small._leaf_labels) == sorted(f"s{i}" for i in range(10))
    np.testing.assert_array_equal(small._tree, upgma(blobs(10)))


def test_cluster_tree_5000_leaves_is_fast_and_small_on_the_wire():
    Z = upgma(np.random.default_rng(3).normal(size=(5000, 4)))
    t0 = time.perf_counter()
    w = ClusterTree(Z, cut=2.0)
    w.cut = 1.5
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    state = w.get_state()
    assert "linkage" not in state  # only the truncated tree crosses the wire
    assert state["_tree"]["shape"] == [59, 4] and state["labels"]["shape"] == [5000]
    _, _, buffers = _remove_buffers(state)
    assert sum(b.nbytes for b in buffers) < 40_000


def test_cluster_tree_validation_and_bad_front_end_values():
    Z = upgma(blobs(50))
    w = ClusterTree(Z, cut=2.0)
    top = Z[:, 2].max()
    with pytest.raises(traitlets.TraitError, match="root height"):
        w.cut = top + 1
    with pytest.raises(traitlets.TraitError, match="root height"):
        w.cut = float("nan")
    with pytest.raises(traitlets.TraitError, match="cluster id"):
        w.selected = w.n_clusters
    with pytest.raises(traitlets.TraitError, match=r"\[n-1, 4\]"):
        ClusterTree(np.zeros((3, 3)))
    with pytest.raises(traitlets.TraitError, match="valid linkage"):
        ClusterTree(np.array([[0, 0, 1.0, 2], [1, 2, 2.0, 3]]))
    with pytest.raises(traitlets.TraitError, match="max_leaves"):
        w.max_leaves = 1
    labels_before = w.labels.copy()
    # malformed / out-of-range values from the browser: rejected, reported, widget still usable
    w.set_state({"cut": -3.0})
    assert w.cut == 2.0 and "root height" in w.error
    np.testing.assert_array_equal(w.labels, labels_before)
    w.set_state({"selected": "two"})
    assert w.selected == -1 and w.error
    w.set_state({"selected": 1})
    assert w.selected == 1 and w.error == ""
    w.set_state({"cut": 1.0, "selected": 10 ** 6})  # rejected as a whole
    assert w.cut == 2.0


def test_cluster_tree_png_and_mimebundle(tmp_path):
    w = ClusterTree(upgma(blobs(80)), cut=5.0, title="toy")
    path = w.to_png(tmp_path / "tree.png", dpi=60)
    px = (imread(path)[..., :3] * 255).round().astype(int)
    first = np.array([int(CLUSTER_COLORS[0][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(px - first).sum(axis=-1) < 30).sum() > 20  # cluster 0 is drawn in its colour
    data, meta = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"])[:8] == PNG_MAGIC
    w.embed_png = False
    data, _ = w._repr_mimebundle_()
    assert "image/png" not in data


def test_cluster_colors_come_from_the_js_palette():
    assert CLUSTER_COLORS == tuple(js_colors()["CLUSTER_COLORS"]) and len(CLUSTER_COLORS) >= 10
    assert "#7f7f7f" not in CLUSTER_COLORS  # grey is reserved for links above the cut


# -- SelectivityMap ---------------------------------------------------------------------------
def selectivity(K=6, M=30, seed=0):
    rng = np.random.default_rng(seed)
    csv = np.abs(rng.normal(size=(K, M)))
    csv[:, 7] = 0.0  # a dead node
    return csv


def test_selectivity_map_orders_match_the_dendrograms_and_roundtrip():
    csv = selectivity()
    w = SelectivityMap(csv, [f"c{k}" for k in range(6)], layer_title="hidden layer 1")
    assert w.col_order[-1] == 7 and 7 not in w.col_leaves and w.col_labels[7] == -1
    np.testing.assert_array_equal(w.col_leaves[leaves_list(w.col_linkage)], w.col_order[:29])
    np.testing.assert_array_equal(w.row_order, leaves_list(w.row_linkage))
    state = w.get_state()
    assert state["csv"]["dtype"] == "float32"
    w2 = SelectivityMap(selectivity(seed=1), [f"c{k}" for k in range(6)])
    w2.set_state(wire_roundtrip(state))
    assert w2.error == ""
    np.testing.assert_array_equal(w2.csv, w.csv)
    np.testing.assert_array_equal(w2.col_order, w.col_order)
    np.testing.assert_array_equal(w2.col_linkage, w.col_linkage)


def test_selectivity_map_validation():
    csv = selectivity()
    w = SelectivityMap(csv)
    with pytest.raises(traitlets.TraitError, match="node"):
        w.selected_node = 30
    with pytest.raises(traitlets.TraitError, match="class"):
        w.selected_class = -2
    with pytest.raises(traitlets.TraitError, match="permutation"):
        w.row_order = np.zeros(6, dtype=int)
    with pytest.raises(traitlets.TraitError, match="dendrogram order"):
        w.col_order = np.arange(30)
    with pytest.raises(traitlets.TraitError, match="class_names needs 6"):
        w.class_names = ["a"]
    with pytest.raises(traitlets.TraitError, match="NaN"):
        w.csv = np.full((6, 30), np.nan)
    w.set_state({"selected_node": 99})
    assert w.selected_node == -1 and "node" in w.error
    w.set_state({"selected_node": 3, "selected_class": 2})
    assert (w.selected_node, w.selected_class, w.error) == (3, 2, "")


def test_selectivity_map_png_and_bundle(tmp_path):
    w = SelectivityMap(selectivity(), [f"c{k}" for k in range(6)], selected_node=2, selected_class=1)
    assert w.to_png(tmp_path / "sm.png", dpi=50).read_bytes()[:8] == PNG_MAGIC
    data, _ = w._repr_mimebundle_()
    assert base64.b64decode(data["image/png"])[:8] == PNG_MAGIC


# -- ES modules -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["template_panel.js", "cluster_tree.js", "selectivity_map.js", "recorder.js"])
def test_bundled_es_module_is_self_contained(name, tmp_path):
    src = bundle_esm(name)
    assert 'from "./' not in src and "export default" in src
    assert src.count("export function arrayFromJson") == 1
    if shutil.which("node"):
        f = tmp_path / "bundle.mjs"
        f.write_text(src)
        out = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_widgets_ship_their_bundle_and_css():
    from slt_widgets.widgets import Recorder
    for cls, name in ((TemplatePanel, "template_panel"), (ClusterTree, "cluster_tree"), (SelectivityMap, "selectivity_map"),
                      (Recorder, "recorder")):
        root = "slt-" + name.replace("_", "-")
        assert str(cls._esm) == bundle_esm(f"{name}.js") and f'"{root}"' in str(cls._esm)
        css = str(cls._css)
        assert css.startswith(f".{root}") and all(line.startswith(".slt-") for line in css.splitlines() if line)


@pytest.mark.skipif(not shutil.which("node") or not (REPO / "tests/js/node_modules/jsdom").exists(),
                    reason="needs node and `npm ci` in tests/js")
def test_js_unit_tests_pass():
    out = subprocess.run(["node", "--test"], cwd=REPO / "tests/js", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout
