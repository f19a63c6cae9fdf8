"""The Explorer in Notebook 7 (``jupyter notebook``), headless Chromium (issue 17 §1).

Runs the notebook, picks a class in the dropdown and clicks a dendrogram cluster; after each
step the template heading must have redrawn with the count the kernel's ``explorer.selection``
holds (read with a second kernel client). Screenshots at 1024 and 1600 px.
"""
from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
pytest.importorskip("notebook", reason="Notebook 7 is not installed (pip install notebook)")

from .pages import (EXPLORER, HEADING, click_tree_cluster, count_in, explorer_state, open_lab_notebook, pick_class,
                    wait_heading, wait_idle)
from .servers import REPO, kernel_client

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"


def test_explorer_in_notebook7(notebook7_server, page):
    open_lab_notebook(page, notebook7_server, "explorer.ipynb", app="notebook")
    assert "/notebooks/" in page.url and page.locator("#jp-top-panel, .jp-NotebookPanel").count() >= 1
    kc = kernel_client(notebook7_server, notebook7_server.api("/api/sessions")[0]["kernel"]["id"])
    try:
        st = explorer_state(kc)
        assert st["cls"] == "3" and count_in(page.locator(HEADING).first.inner_text()) == st["n"]
        pick_class(page, "7")
        text = wait_heading(page, r"^7 · output node 7 · whole class — \d+ samples")
        st = explorer_state(kc)
        assert st["cls"] == "7" and st["cluster"] is None and count_in(text) == st["n"]
        click_tree_cluster(page, 1)
        text = wait_heading(page, r"cluster 1 — \d+ samples")
        st = explorer_state(kc)
        assert st["cluster"] == 1 and st["n"] == st["sizes"][1] == count_in(text), (st, text)
        assert not st["errors"], st["errors"]
        wait_idle(page)
        for width in (1024, 1600):
            page.set_viewport_size({"width": width, "height": 1100})
            page.wait_for_timeout(400)
            page.locator(EXPLORER).first.scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"notebook7_{width}.png"))
    finally:
        kc.stop_channels()
