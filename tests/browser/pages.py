"""Playwright steps on a page that shows an Explorer (JupyterLab or Voilà); shared with the benchmark."""
from __future__ import annotations

import re
import time
from pathlib import Path

EXPLORER = ".slt-explorer"
HEADING = ".slt-explorer-templates .slt-tp-heading"

# a point on cluster `color` in the dendrogram: the middle of a link (the U's horizontal bar), or
# for a one-sample cluster (no link of its own) the centre of its leaf label
_CLUSTER_POINT_JS = """(id) => {
  const root = document.querySelector('.slt-explorer-tree');
  if (!root) return null;
  const link = root.querySelector(`path.slt-ct-link[data-cluster="${id}"]`);
  if (link) {
    const p = link.getPointAtLength(link.getTotalLength() / 2);
    const q = new DOMPoint(p.x, p.y).matrixTransform(link.getScreenCTM());
    return [q.x, q.y];
  }
  const leaf = [...root.querySelectorAll(`text.slt-ct-leaf[data-cluster="${id}"]`)]
    .find(t => t.getAttribute('display') !== 'none');
  if (!leaf) return null;
  const r = leaf.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}"""


def open_lab_notebook(page, server, name: str) -> None:
    """Open ``name`` in JupyterLab, run all cells and wait for the Explorer to render."""
    page.goto(f"{server.url}/lab/tree/{name}?token={server.token}&reset")
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget && "
                           "window.jupyterapp.shell.currentWidget.sessionContext && "
                           "window.jupyterapp.shell.currentWidget.sessionContext.session")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(f".jp-OutputArea-output {EXPLORER}").first.wait_for(state="visible")
    wait_idle(page)


def open_voila(page, server) -> None:
    page.goto(f"{server.url}/?token={server.token}")
    page.locator(EXPLORER).first.wait_for(state="visible")
    wait_idle(page)


def wait_idle(page, timeout: float = 90.0) -> None:
    """Wait until the Explorer's busy indicator is hidden and the heading has a count."""
    page.wait_for_function(
        """() => { const b = document.querySelector('.slt-explorer .slt-busy');
                   const h = document.querySelector('%s');
                   return b && getComputedStyle(b).visibility === 'hidden' && h && /\\d+ (samples|frames)/.test(h.textContent); }"""
        % HEADING, timeout=timeout * 1000)


def heading(page) -> str:
    return page.locator(HEADING).first.inner_text()


def pick_class(page, name: str) -> None:
    """Choose class ``name`` in the Explorer's class dropdown (a real <select> change)."""
    page.locator(".slt-class-picker select").first.select_option(label=name)


def click_tree_cluster(page, cluster: int, timeout: float = 60.0) -> None:
    """Mouse-click cluster ``cluster`` in the dendrogram: one of its links, or its leaf label when
    the cluster is a single sample (colours repeat past the palette, ids don't)."""
    handle = page.wait_for_function(_CLUSTER_POINT_JS, arg=int(cluster), timeout=timeout * 1000)
    x, y = handle.json_value()
    page.mouse.click(x, y)


def wait_heading(page, pattern: str, timeout: float = 90.0) -> str:
    """Wait until the template heading matches the regex ``pattern``; return the text."""
    page.wait_for_function(
        "([sel, pat]) => { const h = document.querySelector(sel); return h && new RegExp(pat).test(h.textContent); }",
        arg=[HEADING, pattern], timeout=timeout * 1000)
    return heading(page)


def count_in(text: str) -> int:
    m = re.search(r"— (\d+) (samples|frames)", text)
    if not m:
        raise AssertionError(f"no count in heading {text!r}")
    return int(m.group(1))


def screenshot_views(page, outdir: Path, prefix: str) -> list[Path]:
    """Screenshot the whole Explorer and each of its views into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    shots = []
    for sel, name in ((EXPLORER, "explorer"), (".slt-explorer-tree", "cluster_tree"),
                      (".slt-explorer-templates", "templates"), (".slt-embedding-view", "embedding"),
                      (".slt-spectrum-view", "spectra")):
        loc = page.locator(sel).first
        loc.scroll_into_view_if_needed()
        p = outdir / f"{prefix}_{name}.png"
        loc.screenshot(path=str(p))
        shots.append(p)
    return shots


def wait_until(fn, timeout: float = 30.0, interval: float = 0.2):
    t0 = time.time()
    while True:
        v = fn()
        if v:
            return v
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not met")
        time.sleep(interval)


def brush_embedding(page, frac=(0.15, 0.15, 0.6, 0.6)) -> None:
    """Drag a brush rectangle over the embedding plot (fractions of the figure's box)."""
    box = page.locator(".slt-embedding-figure").first.bounding_box()
    x0, y0 = box["x"] + frac[0] * box["width"], box["y"] + frac[1] * box["height"]
    x1, y1 = box["x"] + frac[2] * box["width"], box["y"] + frac[3] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(x0 + (x1 - x0) * i / 8, y0 + (y1 - y0) * i / 8)
    page.mouse.up()
