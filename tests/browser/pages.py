"""Playwright steps on a page that shows an Explorer (JupyterLab or Voilà); shared with the benchmark."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .servers import kernel_eval

EXPLORER = ".slt-explorer"
HEADING = ".slt-explorer-templates .slt-tp-heading"

# the box of drawn cluster `id` in the dendrogram (its whole subtree is the click target)
_CLUSTER_BOX_JS = """(id) => {
  const root = document.querySelector('.slt-explorer-tree');
  const box = root && root.querySelector(`rect.slt-ct-cluster[data-cluster="${id}"]`);
  if (!box) return null;
  const r = box.getBoundingClientRect();
  return [r.x, r.y, r.width, r.height];
}"""


def open_lab_notebook(page, server, name: str, app: str = "jupyterlab") -> None:
    """Open ``name`` in JupyterLab (``app="notebook"``: in Notebook 7), run all cells and wait for
    the Explorer to render."""
    where = "lab/tree" if app == "jupyterlab" else "notebooks"
    page.goto(f"{server.url}/{where}/{name}?token={server.token}" + ("&reset" if app == "jupyterlab" else ""))
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


_STATE_CODE = ("import json; s = explorer.selection; t = explorer.tree\n"
               "print(json.dumps({'cls': s.cls, 'cluster': s.cluster, 'n': s.n, 'layer': s.layer, 'node': s.node,\n"
               "  'cut': s.cut, 'sizes': [int((t.labels == k).sum()) for k in range(t.n_clusters)],\n"
               "  'clusters': explorer.clusters, 'tree_selected': t.selected, 'title': explorer.embedding.title,\n"
               "  'errors': [str(e) for e in explorer.error_area.errors]}))")


def explorer_state(kc) -> dict:
    """The kernel's ``explorer`` as the tests check it (read with a second kernel client): its
    selection (``cls``, ``cluster``, ``n``, ``layer``, ``node``, ``cut``), the tree's cluster
    ``sizes``, ``clusters`` (drawn, largest first), ``tree_selected``, the embedding ``title`` and
    the callback ``errors``."""
    return json.loads(kernel_eval(kc, _STATE_CODE).strip().splitlines()[-1])


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


def cluster_box(page, cluster: int, timeout: float = 60.0) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` on the page of drawn cluster ``cluster``'s click target."""
    handle = page.wait_for_function(_CLUSTER_BOX_JS, arg=int(cluster), timeout=timeout * 1000)
    return tuple(handle.json_value())


def click_tree_cluster(page, cluster: int, where: str = "centre", timeout: float = 60.0) -> None:
    """Mouse-click drawn cluster ``cluster`` in the dendrogram: the middle of its box, or
    ``where="root"``: 2 px inside its top edge, just above its root and right under the cut —
    where a click used to catch the cut handle."""
    x, y, w, h = cluster_box(page, cluster, timeout)
    page.mouse.click(x + w / 2, y + 2 if where == "root" else y + h / 2)


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
