"""The Explorer in Notebook 7 (``jupyter notebook``), headless Chromium (issue 17 §1).

Runs the notebook, picks a class in the dropdown and clicks a dendrogram cluster; after each
step the template heading must have redrawn with the count the kernel's ``explorer.selection``
holds (read with a second kernel client). Screenshots at 1024 and 1600 px.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
pytest.importorskip("notebook", reason="Notebook 7 is not installed (pip install notebook)")

from .pages import EXPLORER, HEADING, click_tree_cluster, count_in, pick_class, wait_heading, wait_idle
from .servers import REPO, explorer_notebook, kernel_client, kernel_eval, start_lab

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory, model_file):
    root = tmp_path_factory.mktemp("nb7_root")
    explorer_notebook(root / "explorer.ipynb", model_file, cls="3")
    server = start_lab(root, tmp_path_factory.mktemp("nb7_env"), app="notebook")
    yield server
    server.stop()


def _state(kc) -> dict:
    code = ("import json; s = explorer.selection; t = explorer.tree\n"
            "print(json.dumps({'cls': s.cls, 'cluster': s.cluster, 'n': s.n,\n"
            "  'sizes': [int((t.labels == k).sum()) for k in range(t.n_clusters)],\n"
            "  'errors': [str(e) for e in explorer.error_area.errors]}))")
    return json.loads(kernel_eval(kc, code).strip().splitlines()[-1])


def test_explorer_in_notebook7(notebook7, page):
    page.goto(f"{notebook7.url}/notebooks/explorer.ipynb?token={notebook7.token}")
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell') && "
                           "window.jupyterapp.shell.currentWidget && "
                           "window.jupyterapp.shell.currentWidget.sessionContext && "
                           "window.jupyterapp.shell.currentWidget.sessionContext.session")
    assert "/notebooks/" in page.url and page.locator("#jp-top-panel, .jp-NotebookPanel").count() >= 1
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(f".jp-OutputArea-output {EXPLORER}").first.wait_for(state="visible")
    wait_idle(page)
    kc = kernel_client(notebook7, notebook7.api("/api/sessions")[0]["kernel"]["id"])
    try:
        st = _state(kc)
        assert st["cls"] == "3" and count_in(page.locator(HEADING).first.inner_text()) == st["n"]
        pick_class(page, "7")
        text = wait_heading(page, r"^7 · output node 7 · whole class — \d+ samples")
        st = _state(kc)
        assert st["cls"] == "7" and st["cluster"] is None and count_in(text) == st["n"]
        click_tree_cluster(page, 1)
        text = wait_heading(page, r"cluster 1 — \d+ samples")
        st = _state(kc)
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
