"""The quickstart notebook as a classroom app: ``voila notebooks/01_quickstart.ipynb`` in headless Chromium.

Voilà runs the notebook itself (the demo network from the package data). The test waits for the
Explorer, checks the page shows the state the notebook's last cell selected, then picks another
class in the dropdown and clicks a dendrogram branch, each time checking that the template
heading redrew and that the kernel's ``explorer.selection`` agrees (a second kernel client).
The page ends up in ``docs/screenshots/voila_quickstart.png``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")


from .pages import EXPLORER, click_tree_cluster, count_in, pick_class, wait_heading, wait_idle
from .servers import REPO, kernel_client, kernel_eval, start_voila

pytestmark = pytest.mark.browser
QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
SHOTS = REPO / "docs" / "screenshots"


def _demo_ready() -> str | None:
    folder = Path(os.environ["SLT_DEMO_DATA_DIR"]) if os.environ.get("SLT_DEMO_DATA_DIR") else \
        REPO / "slt_widgets" / "data"
    return None if (folder / "demo_small.pt").is_file() else str(folder)


@pytest.fixture(scope="module")
def quickstart_server(tmp_path_factory):
    missing = _demo_ready()
    if missing:
        pytest.fail(f"the quickstart needs the demo package data (no demo_small.pt in {missing}); build it with "
                    "`python -m slt_widgets.models.train_demo`")
    root = tmp_path_factory.mktemp("quickstart")
    nb_path = root / QUICKSTART.name
    shutil.copy(QUICKSTART, nb_path)
    if os.environ.get("SLT_DEMO_DATA_DIR"):          # run against a train_demo --out build (see test_notebooks)
        nb = json.loads(nb_path.read_text())
        nb["cells"].insert(0, {"cell_type": "code", "id": "demo-dir", "metadata": {}, "execution_count": None,
                               "outputs": [], "source": "import slt_widgets.demo as _d, pathlib as _p\n"
                               f"_d.demo_data_dir = lambda: _p.Path({os.environ['SLT_DEMO_DATA_DIR']!r})"})
        nb_path.write_text(json.dumps(nb))
    server = start_voila(nb_path, tmp_path_factory.mktemp("voila_quickstart_env"))
    yield server
    server.stop()


def _selection(kc) -> dict:
    code = ("import json; s = explorer.selection; t = explorer.tree\n"
            "print(json.dumps({'cls': s.cls, 'cluster': s.cluster, 'n': s.n, 'layer': s.layer,\n"
            "  'sizes': [int((t.labels == k).sum()) for k in range(t.n_clusters)],\n"
            "  'errors': [str(e) for e in explorer.error_area.errors]}))")
    return json.loads(kernel_eval(kc, code).strip().splitlines()[-1])


def test_quickstart_in_voila(quickstart_server, page):
    page.goto(f"{quickstart_server.url}/?token={quickstart_server.token}")
    page.locator(EXPLORER).first.wait_for(state="visible", timeout=180_000)
    wait_idle(page, timeout=180)
    # the notebook's last cell selected /S/, cluster 0; its printed summary is on the page too
    text = wait_heading(page, r"^S · output node \d+ · cluster 0 — \d+ frames", timeout=120)
    kc = kernel_client(quickstart_server)
    try:
        st = _selection(kc)
        assert st["cls"] == "S" and st["cluster"] == 0 and st["layer"] == "output"
        assert count_in(text) == st["n"] == st["sizes"][0]
        assert page.get_by_text(f"cluster 0: {st['n']} frames").count() >= 1
        # a student picks another class in the dropdown …
        pick_class(page, "Z")
        text = wait_heading(page, r"^Z · output node \d+ · whole class — \d+ frames")
        st = _selection(kc)
        assert st["cls"] == "Z" and st["cluster"] is None and count_in(text) == st["n"]
        assert len(st["sizes"]) >= 2, st
        # … and clicks the second-largest cluster in the dendrogram
        click_tree_cluster(page, 1)
        text = wait_heading(page, r"^Z · .* · cluster 1 — \d+ frames")
        st = _selection(kc)
        assert st["cluster"] == 1 and st["n"] == st["sizes"][1] == count_in(text), (st, text)
        assert not st["errors"], st["errors"]
        # Voilà shows outputs only: no code cell source on the page
        assert "load_demo(" not in page.locator("body").inner_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "voila_quickstart.png"), full_page=True)
        for width in (1024, 1600):                # the host at both screen widths (issue 17)
            page.set_viewport_size({"width": width, "height": 1100})
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / f"voila_quickstart_{width}.png"))
    finally:
        kc.stop_channels()
