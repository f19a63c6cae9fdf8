"""The Explorer in a real browser: JupyterLab 4 and Voilà in headless Debian Chromium.

Picks a class in the dropdown, clicks a dendrogram branch, checks the template heading redrew
with the new count and that the kernel's ``explorer.selection`` agrees (read with a second
kernel client), and screenshots each view into docs/screenshots/.
"""
from __future__ import annotations

import json
import re

import pytest
expect = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright").expect


from .pages import (brush_embedding, click_tree_cluster, count_in, open_lab_notebook, open_voila, pick_class, screenshot_views,
                    wait_heading, wait_idle)
from .servers import REPO, kernel_client, kernel_eval

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"


def _state(kc) -> dict:
    code = ("import json; s = explorer.selection; t = explorer.tree\n"
            "print(json.dumps({'cls': s.cls, 'cluster': s.cluster, 'n': s.n, 'layer': s.layer,\n"
            "  'sizes': [int((t.labels == k).sum()) for k in range(t.n_clusters)],\n"
            "  'errors': [str(e) for e in explorer.error_area.errors]}))")
    return json.loads(kernel_eval(kc, code).strip().splitlines()[-1])


def _pick_and_click(page, kc):
    pick_class(page, "7")
    text = wait_heading(page, r"^7 · output node 7 · whole class — \d+ samples")
    st = _state(kc)
    assert st["cls"] == "7" and st["cluster"] is None and count_in(text) == st["n"]
    assert len(st["sizes"]) >= 2, st
    # click a branch of cluster 1 (second largest) in the dendrogram
    click_tree_cluster(page, 1)
    text = wait_heading(page, r"cluster 1 — \d+ samples")
    st = _state(kc)
    assert st["cluster"] == 1 and st["n"] == st["sizes"][1] == count_in(text), (st, text)
    assert not st["errors"], st["errors"]
    return st


def test_explorer_in_jupyterlab(lab_server, page):
    open_lab_notebook(page, lab_server, "explorer.ipynb")
    kernel_id = lab_server.api("/api/sessions")[0]["kernel"]["id"]
    kc = kernel_client(lab_server, kernel_id)
    try:
        st = _state(kc)
        assert st["cls"] == "3" and count_in(page.locator(".slt-explorer-templates .slt-tp-heading").first
                                             .inner_text()) == st["n"]
        _pick_and_click(page, kc)
        # the spectra gained the cluster's line (its own widget message: wait for it)
        expect(page.locator(".slt-spectrum-legend").first).to_contain_text(re.compile(r"cluster 1 \(n=\d+\) · AUC"))
        screenshot_views(page, SHOTS, "lab")
    finally:
        kc.stop_channels()


def test_explorer_in_voila(voila_server, page):
    open_voila(page, voila_server)
    kc = kernel_client(voila_server)
    try:
        _pick_and_click(page, kc)
        wait_idle(page)
        screenshot_views(page, SHOTS, "voila")
        # brushing points in the embedding makes them the selection
        brush_embedding(page)
        text = wait_heading(page, r"brushed points — \d+ samples")
        st = _state(kc)
        assert st["cluster"] == "brush" and st["n"] == count_in(text) > 0, (st, text)
        for sel, name in ((".slt-confusion-pairs", "confusion_pairs"), (".slt-layer-summary", "layer_summary")):
            loc = page.locator(sel).first
            loc.scroll_into_view_if_needed()
            loc.screenshot(path=str(SHOTS / f"voila_{name}.png"))
        assert "LDA acc." in page.locator(".slt-layer-table").first.inner_text()
    finally:
        kc.stop_channels()
