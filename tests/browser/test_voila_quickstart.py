"""The quickstart notebook as a classroom app: ``voila notebooks/01_quickstart.ipynb`` in headless Chromium.

Voilà runs the notebook itself (the demo network from the package data). As a student would: the
page opens on the class the code names (/T/), with nothing but prose and the widget; a click on
each coloured cluster selects it and leaves the cut alone (clicks right under the cut included);
the keyboard alone selects a cluster; HL1 comes from the layer dropdown; at 1024 px every view
lies inside its container. Each state is checked against the kernel's ``explorer`` (a second
kernel client). A second server runs the documented classroom command and shows that the kernel
of a closed page goes away. Screenshots: docs/screenshots/voila_quickstart{,_1600,_1024}.png.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")


from .pages import EXPLORER, click_tree_cluster, count_in, explorer_state, pick_class, wait_heading, wait_idle
from .servers import REPO, connection_files, kernel_client, start_voila

pytestmark = pytest.mark.browser
QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
SHOTS = REPO / "docs" / "screenshots"
# the classroom command of docs/notebooks.md, with short times so the test does not wait long
CULL = ["--MappingKernelManager.cull_idle_timeout=6", "--MappingKernelManager.cull_interval=2"]


def _demo_ready() -> str | None:
    folder = Path(os.environ["SLT_DEMO_DATA_DIR"]) if os.environ.get("SLT_DEMO_DATA_DIR") else \
        REPO / "slt_widgets" / "data"
    return None if (folder / "demo_small.pt").is_file() else str(folder)


def _copy_quickstart(root: Path) -> Path:
    nb_path = root / QUICKSTART.name
    shutil.copy(QUICKSTART, nb_path)
    if os.environ.get("SLT_DEMO_DATA_DIR"):          # run against a train_demo --out build (see test_notebooks)
        nb = json.loads(nb_path.read_text())
        nb["cells"].insert(0, {"cell_type": "code", "id": "demo-dir", "metadata": {}, "execution_count": None,
                               "outputs": [], "source": "import slt_widgets.demo as _d, pathlib as _p\n"
                               f"_d.demo_data_dir = lambda: _p.Path({os.environ['SLT_DEMO_DATA_DIR']!r})"})
        nb_path.write_text(json.dumps(nb))
    return nb_path


@pytest.fixture(scope="module")
def quickstart_server(tmp_path_factory):
    missing = _demo_ready()
    if missing:
        pytest.fail(f"the quickstart needs the demo package data (no demo_small.pt in {missing}); build it with "
                    "`python -m slt_widgets.models.train_demo`")
    nb_path = _copy_quickstart(tmp_path_factory.mktemp("quickstart"))
    server = start_voila(nb_path, tmp_path_factory.mktemp("voila_quickstart_env"))
    yield server
    server.stop()


def _views_inside(page) -> list[str]:
    """Every view's box inside the Explorer's box and the viewport; their parts inside the view."""
    return page.evaluate("""() => {
      const bad = [], W = document.documentElement.clientWidth;
      const box = (e) => e.getBoundingClientRect();
      const inside = (a, b, name) => {
        if (a.left < b.left - 1 || a.right > b.right + 1 || a.top < b.top - 1 || a.bottom > b.bottom + 1)
          bad.push(`${name}: [${a.left|0},${a.top|0},${a.right|0},${a.bottom|0}] outside [${b.left|0},${b.top|0},${b.right|0},${b.bottom|0}]`);
      };
      const ex = document.querySelector('.slt-explorer');
      if (box(ex).right > W + 1) bad.push(`explorer wider than the page (${box(ex).right} > ${W})`);
      const views = {'.slt-explorer-tree': ['.slt-ct-svg', '.slt-ct-legend', '.slt-ct-head'],
                     '.slt-explorer-templates': ['.slt-tp-panel', '.slt-tp-heading'],
                     '.slt-embedding-view': ['.slt-embedding-figure', '.slt-embedding-legend'],
                     '.slt-spectrum-view': ['.slt-spectrum-figure', '.slt-spectrum-legend']};
      for (const [sel, parts] of Object.entries(views)) {
        const v = ex.querySelector(sel);
        if (!v) { bad.push(`${sel} missing`); continue; }
        inside(box(v), box(ex), sel);
        for (const p of parts) for (const e of v.querySelectorAll(p)) inside(box(e), box(v), `${sel} ${p}`);
      }
      // the cut label and every title are visible: nothing drawn over them
      for (const t of ex.querySelectorAll('.slt-ct-title, .slt-ct-cut-label, .slt-tp-heading')) {
        const r = box(t), hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        if (hit && !t.contains(hit) && !hit.contains(t)) bad.push(`${t.className} covered by ${hit.className}`);
      }
      return bad;
    }""")


def test_quickstart_in_voila(quickstart_server, page):
    page.set_viewport_size({"width": 1600, "height": 1200})
    page.goto(f"{quickstart_server.url}/?token={quickstart_server.token}")
    page.locator(EXPLORER).first.wait_for(state="visible", timeout=180_000)
    wait_idle(page, timeout=180)
    kc = kernel_client(quickstart_server)
    try:
        # it opens on the class its code names, the whole class, nothing else printed
        text = wait_heading(page, r"^T · output node \d+ · whole class — \d+ frames", timeout=120)
        st = explorer_state(kc)
        assert st["cls"] == "T" and st["cluster"] is None and st["layer"] == "output"
        assert count_in(text) == st["n"]
        body = page.locator("body").inner_text()
        assert "Run the cells" not in body and "load_demo(" not in body
        outputs = page.locator(".jp-OutputArea-output")
        assert outputs.count() == 1 and outputs.first.locator(EXPLORER).count() == 1
        assert 2 <= len(st["clusters"]) <= 12
        time.sleep(1)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "voila_quickstart_1600.png"), full_page=True)
        # a click on each drawn cluster selects it; the cut stays; clicks just under the cut too
        cut = st["cut"]
        for i, (k, n) in enumerate(st["clusters"]):
            click_tree_cluster(page, k, where="root" if i % 2 else "centre")
            text = wait_heading(page, rf"^T · output node \d+ · cluster {k} — \d+ frames")
            st = explorer_state(kc)
            assert st["cluster"] == k and st["n"] == n == count_in(text) and st["cut"] == cut, st
        page.mouse.move(0, 0)
        time.sleep(0.5)
        page.screenshot(path=str(SHOTS / "voila_quickstart.png"), full_page=True)   # the README's picture
        # the legend's "whole class" resets; the keyboard alone selects a cluster
        page.locator(".slt-explorer-tree .slt-ct-legend-all").click()
        wait_heading(page, r"· whole class — ")
        page.locator(".slt-node-picker select").focus()
        for _ in range(30):                                   # Tab into the tree
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement && document.activeElement.matches('svg.slt-ct-svg')"):
                break
        else:
            pytest.fail("Tab never reached the dendrogram")
        page.keyboard.press("ArrowRight")
        want = int(page.evaluate("() => document.getElementById(document.activeElement"
                                 ".getAttribute('aria-activedescendant')).getAttribute('data-cluster')"))
        page.keyboard.press("Enter")
        wait_heading(page, rf"· cluster {want} — \d+ frames")
        assert explorer_state(kc)["cluster"] == want and explorer_state(kc)["cut"] == cut
        # HL1 from the layer dropdown: two groups (weight row or zero), said in words
        page.locator(".slt-layer-picker select").first.select_option(label="HL1")
        wait_heading(page, r"^T · HL1 node \d+ · whole class — \d+ frames")
        wait_idle(page)
        st = explorer_state(kc)
        assert st["layer"] == 1 and not st["errors"] and len(st["clusters"]) <= 2
        assert "weight row" in page.locator(".slt-explorer .slt-status").inner_text()
        # a class from the dropdown, then 1024 px: every view inside its container
        pick_class(page, "S")
        wait_heading(page, r"^S · HL1 node \d+ · whole class")
        page.locator(".slt-layer-picker select").first.select_option(label="output")
        wait_heading(page, r"^S · output node \d+ · whole class")
        wait_idle(page)
        page.set_viewport_size({"width": 1024, "height": 1200})
        time.sleep(1.5)
        bad = _views_inside(page)
        assert bad == [], "\n".join(bad)
        page.screenshot(path=str(SHOTS / "voila_quickstart_1024.png"), full_page=True)
        page.locator(EXPLORER).first.screenshot(path=str(SHOTS / "voila_explorer_1024.png"))
        page.set_viewport_size({"width": 1600, "height": 1200})
        time.sleep(1.5)
        bad = _views_inside(page)
        assert bad == [], "\n".join(bad)
        assert not explorer_state(kc)["errors"]
    finally:
        kc.stop_channels()


def test_classroom_server_frees_the_kernel_of_a_closed_page(tmp_path, browser_context):
    """The documented classroom command culls the kernels of closed pages (no 550 MB left behind)."""
    docs = (REPO / "docs" / "notebooks.md").read_text()
    assert "--MappingKernelManager.cull_idle_timeout=" in docs and "--MappingKernelManager.cull_interval=" in docs
    nb_path = _copy_quickstart(tmp_path)
    server = start_voila(nb_path, tmp_path / "env", extra_args=CULL)
    try:
        page = browser_context.new_page()
        # Voilà fires "load" once every cell ran (demo + Explorer): on a loaded machine past 30 s
        page.goto(f"{server.url}/?token={server.token}", timeout=180_000)
        page.locator(EXPLORER).first.wait_for(state="visible", timeout=180_000)
        files = connection_files(server.runtime_dir)
        assert len(files) == 1 and files[0].exists()
        kernel_id = re.search(r"kernel-(.+)\.json", files[0].name).group(1)
        page.close()
        t0 = time.time()
        while files[0].exists() and time.time() - t0 < 90:
            time.sleep(1)
        assert not files[0].exists(), "the closed page's kernel is still running"
        assert re.search(rf"Kernel shutdown: {kernel_id}", server.log()) or "Culling kernel" in server.log()
    finally:
        server.stop()
