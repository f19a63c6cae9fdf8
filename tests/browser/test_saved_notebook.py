"""Saved and exported notebooks (issue 17 §3), in headless Chromium with no kernel and no network.

The quickstart, plus one cell that displays every other view (a ``Tab`` of a SelectivityMap and
a TemplatePanel, ConfusionPairs, LayerSummary), is executed and saved WITH its widget state, as
``jupyter nbconvert --execute`` (and JupyterLab with "save widget state") writes it. Then:

- its size stays ≤ 2 MB, and the test prints where the bytes go;
- exported with the documented ``nbconvert --to html`` command, the page — opened from a file
  with every network request refused — shows every view as its picture;
- reopened in JupyterLab without running a cell, every output shows a picture (untrusted
  notebook) or the views drawn from the saved widget state (trusted), never an empty box.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from .saved import (HTML_PICTURES, copy_quickstart, copy_to, demo_missing, execute_saved, nbconvert,
                    size_breakdown, widget_outputs)
from .servers import REPO, kernel_env, start_lab

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"
MAX_BYTES = 2_000_000

EVERY_VIEW = """\
import numpy as np, ipywidgets as W
from IPython.display import display
from slt_widgets import analysis as A
few = dataset.subset(np.arange(0, len(dataset), max(1, len(dataset) // 2000)))
counts = A.node_cluster_counts(model, few, layers=[1])
smap = sw.SelectivityMap(counts.csv[1], [dataset.class_names[k] for k in counts.classes], co=counts.co[1],
                         layer_title="HL1")
panel = sw.TemplatePanel(explorer.templates.images[:2], titles=["mean features", "mean SLT"],
                         kinds=["features", "slt"], title="two panels")
pairs = sw.ConfusionPairs(model, dataset, "S", "Z", max_samples=200)
summary = sw.LayerSummary(model, few, node_samples=60, max_train=800, max_eval=800)
display(W.Tab(children=[smap, panel], titles=["selectivity", "templates"]), pairs, summary)
"""
#: what each widget output's picture must describe (its alt text), in notebook order
EXPECTED_ALT = ["cluster tree UPGMA of SLT shapes · T", "selectivity map HL1", "templates confusable pair S / Z",
                "spectra LDA explained variance"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    if demo_missing():
        pytest.fail(f"the quickstart needs the demo package data (no demo_small.pt in {demo_missing()}); "
                    "build it with `python -m slt_widgets.models.train_demo`")
    root = tmp_path_factory.mktemp("saved")
    src = copy_quickstart(root / "quickstart.ipynb", [EVERY_VIEW])
    return execute_saved(src, "quickstart_saved.ipynb")


def test_saved_notebook_stays_small_and_every_view_leaves_a_picture(saved):
    outs = widget_outputs(saved)
    alts = [o.get("metadata", {}).get("image/png", {}).get("alt", "") for o in outs]
    assert len(outs) == len(EXPECTED_ALT), alts
    for o, alt, want in zip(outs, alts, EXPECTED_ALT):
        assert "image/png" in o["data"], f"no picture next to the widget view of {want!r}"
        assert alt.startswith(want), (alt, want)
    b = size_breakdown(saved)
    print("\nsaved quickstart + every view:", json.dumps({k: v for k, v in b.items() if k != "per_model"}),
          "\nbytes per model class:", json.dumps(b["per_model"]))
    assert b["total"] <= MAX_BYTES, b
    # anywidget stores its front-end module once per INSTANCE: keep each one small (the tree's,
    # with truncation, click boxes and keyboard operation, is the largest: 21.8 kB)
    from slt_widgets.widgets import ClusterTree, SelectivityMap, TemplatePanel
    for cls in (ClusterTree, SelectivityMap, TemplatePanel):
        sizes = b["esm_per_instance"][f"{cls.__module__}.{cls.__name__}"]
        assert set(sizes) == {len(str(cls._esm))} and sizes[0] <= 24_000, (cls.__name__, sizes)


def _png_size(b64: str) -> tuple[int, int]:
    import base64
    import struct
    head = base64.b64decode(b64[:64])
    return struct.unpack(">II", head[16:24])


def _offline_page(context, url):
    """Open ``url`` in a page where every http(s) request is refused; returns (page, refused URLs)."""
    refused: list[str] = []
    page = context.new_page()

    def block(route):
        refused.append(route.request.url)
        route.abort()

    page.route("http://**/*", block)
    page.route("https://**/*", block)
    page.goto(url)
    return page, refused


def test_exported_html_shows_every_view_offline(saved, browser_context, tmp_path):
    html_dir = copy_to(saved, tmp_path / "html").parent
    nbconvert([*HTML_PICTURES, "--output", "pictures", saved.name], cwd=html_dir)
    page_file = html_dir / "pictures.html"
    text = page_file.read_text()
    assert "application/vnd.jupyter.widget-view+json" not in text and "html-manager" not in text
    page, refused = _offline_page(browser_context, page_file.as_uri())
    try:
        page.wait_for_load_state("load")
        imgs = page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output img')]
            .map(i => ({src: i.src.slice(0, 22), w: i.naturalWidth, h: i.naturalHeight,
                        shown: i.getBoundingClientRect().width}))""")
        # the pictures of the widget outputs, in order, decoded at their own size
        want = [_png_size(o["data"]["image/png"]) for o in widget_outputs(saved)]
        assert len(want) == len(EXPECTED_ALT)
        views = [i for i in imgs if (i["w"], i["h"]) in want]
        assert [(v["w"], v["h"]) for v in views] == want, imgs
        for v in views:
            assert v["src"].startswith("data:image/png;base64") and v["shown"] > 300, v
        assert not any("jupyter-widgets" in u or "unpkg" in u or "jsdelivr" in u for u in refused), refused
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1600, "height": 1100})
        page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "html_quickstart_1600.png"))
        page.set_viewport_size({"width": 1024, "height": 900})
        page.screenshot(path=str(SHOTS / "html_quickstart_1024.png"))
    finally:
        page.close()
    # without the flags, nbconvert keeps the widget state and loads the widget manager from a CDN
    nbconvert(["--to", "html", "--output", "with_state", saved.name], cwd=html_dir)
    assert "html-manager" in (html_dir / "with_state.html").read_text()


@pytest.fixture(scope="module")
def reopened_lab(saved, tmp_path_factory):
    root = tmp_path_factory.mktemp("reopen")
    trusted = copy_to(saved, root / "trusted")
    # the notary signs content, not paths: the untrusted copy must differ from the signed one
    nb = json.loads(saved.read_text())
    nb["metadata"]["slt_copy"] = "untrusted"
    (root / saved.name).write_text(json.dumps(nb))
    env_dir = tmp_path_factory.mktemp("reopen_env")
    server = start_lab(root, env_dir)
    # sign one copy in the server's own notary database: JupyterLab then trusts its outputs
    env = kernel_env({"JUPYTER_DATA_DIR": str(env_dir / "data")})
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(trusted)], env=env, check=True,
                   capture_output=True, timeout=60)
    yield server
    server.stop()


def _open_without_running(page, server, path):
    page.goto(f"{server.url}/lab/tree/{path}?token={server.token}&reset")
    page.wait_for_function("() => window.jupyterapp && document.querySelectorAll('.jp-OutputArea-output').length")
    page.wait_for_timeout(1500)          # let the widget manager restore (or not) what it can


def _output_report(page):
    return page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output')].map(o => ({
        img: [...o.querySelectorAll('img')].map(i => [i.naturalWidth, i.alt.slice(0, 40)]),
        views: ['.slt-explorer', '.slt-template-panel', '.slt-cluster-tree', '.slt-selectivity-map', '.bqplot.figure'].filter(s => o.querySelector(s)),
        text: o.innerText.slice(0, 80)}))""")


def test_reopened_untrusted_notebook_shows_the_pictures(reopened_lab, page):
    _open_without_running(page, reopened_lab, "quickstart_saved.ipynb")
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                           ".filter(i => i.naturalWidth > 300).length >= 4")
    rep = [r for r in _output_report(page) if r["img"] or r["views"] or "widget" in r["text"].lower()]
    assert len(rep) == len(EXPECTED_ALT), rep
    for r in rep:
        assert r["img"] and r["img"][0][0] > 300, r
        assert "Error displaying widget" not in r["text"] and "Loading widget" not in r["text"], r
    page.set_viewport_size({"width": 1600, "height": 1100})
    page.screenshot(path=str(SHOTS / "lab_reopened_pictures_1600.png"))


def test_reopened_trusted_notebook_draws_the_views_from_the_saved_state(reopened_lab, page):
    _open_without_running(page, reopened_lab, "trusted/quickstart_saved.ipynb")
    page.locator(".jp-OutputArea-output .slt-explorer .slt-tp-heading").first.wait_for(state="visible")
    page.wait_for_function("() => document.querySelectorAll('.jp-OutputArea-output .bqplot.figure').length >= 2")
    heading = page.locator(".slt-explorer .slt-tp-heading").first.inner_text()
    # the state the notebook saved: the quickstart's selection, /T/ whole class (no kernel computed it)
    assert heading.startswith("T · output node") and "whole class" in heading, heading
    for sel in (".slt-explorer-tree svg", ".slt-embedding-view .bqplot.figure", ".slt-spectrum-view .bqplot.figure",
                ".slt-confusion-pairs .slt-tp-heading", ".slt-layer-summary .bqplot.figure"):
        assert page.locator(f".jp-OutputArea-output {sel}").count() >= 1, sel
    page.set_viewport_size({"width": 1600, "height": 1100})
    page.screenshot(path=str(SHOTS / "lab_reopened_state_1600.png"))
