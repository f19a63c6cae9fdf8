"""A class name that is an HTML payload stays text in JupyterLab and in Voilà (issue 15, "Unsafe").

The dataset comes from an ``.npz`` written with ``FrameDataset.save`` whose first class is named
``<img src=x onerror="window.__pwned=1">`` (and another ``<script>…</script>``); the model is a
``save_checkpoint`` file read with the safe loader. The page must never set ``window.__pwned``,
must hold no ``<img src="x">`` or injected ``<script>`` element under the widgets, and must show
the name, character for character, as text (status line, class dropdown, template heading).
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from .pages import EXPLORER, HEADING, open_lab_notebook, open_voila, wait_idle
from .servers import REPO, start_lab, start_voila

pytestmark = pytest.mark.browser
EVIL = '<img src=x onerror="window.__pwned=1">'
EVIL2 = "<script>window.__pwned=2</script>"
SHOTS = REPO / "docs" / "screenshots"


def _write_evil_dataset(path):
    from slt_widgets.datasets import FrameDataset, load_digits_dataset
    ds = load_digits_dataset("all")
    names = (EVIL,) + tuple(str(k) for k in range(1, 9)) + (EVIL2,)
    FrameDataset.from_arrays(ds.features, ds.labels, names, feature_shape=ds.feature_shape).save(path)
    return path


def _notebook(path, model_path, data_path):
    src = ("import slt_widgets, slt_widgets.models\n"
           f"model, _info = slt_widgets.models.load_checkpoint({str(model_path)!r})\n"
           f"dataset = slt_widgets.FrameDataset.load({str(data_path)!r})\n"
           "explorer = slt_widgets.Explorer(model, dataset, cls=0, max_samples=400)\n"
           "pairs = slt_widgets.ConfusionPairs(model, dataset, 0, 9, max_samples=200)\n"
           "from IPython.display import display\n"
           "display(explorer, pairs)")
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "language_info": {"name": "python"}},
          "cells": [{"cell_type": "code", "id": "xss", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": src}]}
    path.write_text(json.dumps(nb, indent=1))
    return path


@pytest.fixture(scope="module")
def xss_root(tmp_path_factory, model_file):
    root = tmp_path_factory.mktemp("xss_root")
    _notebook(root / "xss.ipynb", model_file, _write_evil_dataset(root / "evil.npz"))
    return root


def _assert_inert_and_shown(page, scope: str):
    # give a broken image time to fire its onerror (it would, at once, on a 404)
    page.wait_for_timeout(1500)
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate(f"""() => document.querySelectorAll(
        '{scope} img[src="x"], {scope} img[onerror], {scope} .slt-explorer script').length""") == 0
    status = page.locator(f"{scope} .slt-status").first.inner_text()
    assert EVIL in status, status
    assert page.locator(f"{scope} {HEADING}").first.inner_text().startswith(EVIL + " · ")
    # ipywidgets' Dropdown shows spaces in option labels as no-break spaces
    options = [o.replace("\xa0", " ") for o in
               page.locator(f"{scope} .slt-class-picker select option").all_inner_texts()]
    assert EVIL in options and EVIL2 in options, options
    # the <script> class: picking it re-renders every view with that name
    page.locator(f"{scope} .slt-class-picker select").first.select_option(label=EVIL2)
    page.wait_for_function("([sel, name]) => { const h = document.querySelector(sel); "
                           "return h && h.textContent.startsWith(name); }",
                           arg=[HEADING, EVIL2 + " · "], timeout=90_000)
    wait_idle(page)
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__pwned") is None
    assert EVIL2 in page.locator(f"{scope} .slt-status").first.inner_text()


def test_evil_class_names_are_text_in_jupyterlab(xss_root, tmp_path_factory, page):
    server = start_lab(xss_root, tmp_path_factory.mktemp("xss_lab_env"))
    try:
        open_lab_notebook(page, server, "xss.ipynb")
        _assert_inert_and_shown(page, ".jp-OutputArea-output")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(EXPLORER).first.screenshot(path=str(SHOTS / "xss_lab.png"))
    finally:
        server.stop()


def test_evil_class_names_are_text_in_voila(xss_root, tmp_path_factory, page):
    server = start_voila(xss_root / "xss.ipynb", tmp_path_factory.mktemp("xss_voila_env"))
    try:
        open_voila(page, server)
        _assert_inert_and_shown(page, "body")
    finally:
        server.stop()
