"""The Explorer in a real browser: JupyterLab 4 and Voilà in headless Debian Chromium.

As a user clicks: picks a class in the dropdown, clicks every coloured cluster of the dendrogram
(each selects its cluster and leaves the cut alone), picks HL1 in the layer dropdown and t-SNE in
the embedding dropdown (the title follows), checks the template heading redrew with the new count
and that the kernel's ``explorer.selection`` agrees (read with a second kernel client), and
screenshots each view into docs/screenshots/.
"""
from __future__ import annotations

import re
import time

import pytest
expect = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright").expect


from .pages import (brush_embedding, click_tree_cluster, count_in, explorer_state, open_lab_notebook, open_voila, pick_class,
                    screenshot_views,
                    wait_heading, wait_idle)
from .servers import REPO, kernel_client, kernel_eval

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"


def _pick_and_click(page, kc):
    pick_class(page, "7")
    text = wait_heading(page, r"^7 · output node 7 · whole class — \d+ samples")
    st = explorer_state(kc)
    assert st["cls"] == "7" and st["cluster"] is None and count_in(text) == st["n"]
    assert 2 <= len(st["clusters"]) <= 12, st
    cut = st["cut"]
    # click every coloured cluster: the middle of its box, or just under the cut over its root
    for i, (k, n) in enumerate(st["clusters"]):
        click_tree_cluster(page, k, where="root" if i % 2 else "centre")
        text = wait_heading(page, rf"cluster {k} — \d+ samples")
        st = explorer_state(kc)
        assert st["cluster"] == k and st["n"] == n == st["sizes"][k] == count_in(text), (st, text)
        assert st["cut"] == cut, "a click on a cluster must not move the cut"
    if st["cluster"] != 1:                                  # a click on the selected cluster would clear it
        click_tree_cluster(page, 1)
        wait_heading(page, r"cluster 1 — \d+ samples")
    st = explorer_state(kc)
    assert st["cluster"] == 1 and not st["errors"]
    return st


def _tsne_and_hl1(page, kc):
    """t-SNE from the embedding dropdown (the title says so), then HL1 from the layer dropdown."""
    page.locator(".slt-method-picker select").first.select_option(label="t-SNE")
    expect(page.locator(".slt-embedding-figure").first).to_contain_text("t-SNE of SLTs", timeout=120_000)
    wait_idle(page)
    st = explorer_state(kc)
    assert st["title"].startswith("t-SNE of SLTs · 7") and not st["errors"], st
    page.locator(".slt-layer-picker select").first.select_option(label="HL1")
    wait_heading(page, r"^7 · HL1 node \d+ · whole class — \d+ samples")
    wait_idle(page)
    st = explorer_state(kc)
    assert st["layer"] == 1 and not st["errors"], st
    # t-SNE still chosen; where the node's SLTs take < 4 values the title says MDS was drawn instead
    assert st["title"].startswith("t-SNE of SLTs · 7") or (st["title"].startswith("MDS of SLTs · 7")
                                                           and "t-SNE needs" in st["title"]), st
    expect(page.locator(".slt-embedding-figure").first).to_contain_text(st["title"])
    page.locator(".slt-method-picker select").first.select_option(label="MDS")
    expect(page.locator(".slt-embedding-figure").first).to_contain_text("MDS of SLTs")


CONTRAST_JS = """(sels) => {
  const lum = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (m) {
      const [r, g, b, a] = m[1].split(',').map(Number);
      return {rgb: [r, g, b], a: a === undefined ? 1 : a};
    }
    // color-mix(in srgb, …) computes to color(srgb r g b [/ a]), channels in 0…1
    const s = c.match(/color\\(srgb\\s+([^)]+)\\)/); if (!s) return null;
    const [r, g, b, a] = s[1].split(/[\\s\\/]+/).filter(Boolean).map(Number);
    return {rgb: [255 * r, 255 * g, 255 * b], a: a === undefined ? 1 : a};
  };
  const rel = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (e) => {
    for (let x = e; x; x = x.parentElement) {
      const c = lum(getComputedStyle(x).backgroundColor);
      if (c && c.a > 0.5) return c.rgb;
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const sel of sels) {
    const e = document.querySelector(sel);
    if (!e) { out[sel] = null; continue; }
    const cs = getComputedStyle(e), bg = background(e), c = lum(e instanceof SVGElement ? cs.fill : cs.color);
    if (!c) { out[sel] = null; continue; }                          // unreadable colour: the assert fails on it
    const fg = c.rgb.map((v, i) => c.a * v + (1 - c.a) * bg[i]);       // text colours may be translucent
    const [L1, L2] = [rel(fg), rel(bg)].sort((a, b) => b - a);
    out[sel] = (L1 + 0.05) / (L2 + 0.05);
  }
  return out;
}"""
TREE_TEXT = [".slt-explorer-tree .slt-ct-cut-label", ".slt-explorer-tree .slt-ct-legend-other",
             ".slt-explorer-tree .slt-ct-title", ".slt-explorer-tree .slt-ct-legend-item",
             ".slt-explorer-tree text.slt-ct-leaf:not(.slt-ct-leaf-other)", ".slt-explorer-tree text.slt-ct-leaf-other",
             ".slt-embedding-legend span[style*='font-color2']"]


def _dark_theme_contrast(page):
    """JupyterLab Dark: the tree's grey "other" line, its red cut label and the embedding's
    "+ N small clusters" line read their colours from --jp-* variables and reach 4.5 : 1."""
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=60_000)
    time.sleep(1.0)
    ratios = page.evaluate(CONTRAST_JS, TREE_TEXT[:6])
    assert all(r is not None and r >= 4.5 for r in ratios.values()), ratios
    page.locator(".slt-explorer").first.screenshot(path=str(SHOTS / "lab_dark_explorer.png"))
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=60_000)
    ratios = page.evaluate(CONTRAST_JS, TREE_TEXT[:6])
    assert all(r is not None and r >= 4.5 for r in ratios.values()), ratios
    return ratios


def test_explorer_in_jupyterlab(lab_server, page):
    open_lab_notebook(page, lab_server, "explorer.ipynb")
    kernel_id = lab_server.api("/api/sessions")[0]["kernel"]["id"]
    kc = kernel_client(lab_server, kernel_id)
    try:
        st = explorer_state(kc)
        assert st["cls"] == "3" and count_in(page.locator(".slt-explorer-templates .slt-tp-heading").first
                                             .inner_text()) == st["n"]
        _pick_and_click(page, kc)
        # the spectra gained the cluster's line (its own widget message: wait for it)
        expect(page.locator(".slt-spectrum-legend").first).to_contain_text(re.compile(r"cluster 1 \(n=\d+\) · AUC"))
        screenshot_views(page, SHOTS, "lab")
        # the same state drawn without a browser (to_png, matplotlib): next to the screenshots
        pngs = {"explorer.tree": "cluster_tree_to_png.png", "explorer.templates": "template_panel_to_png.png",
                "explorer": "explorer_to_png.png"}
        kernel_eval(kc, "\n".join(f"{v}.to_png({str(SHOTS / f)!r})" for v, f in pngs.items()))
        for f in pngs.values():
            assert (SHOTS / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f
        _dark_theme_contrast(page)
        _tsne_and_hl1(page, kc)
    finally:
        kc.stop_channels()


def test_explorer_in_voila(voila_server, page):
    open_voila(page, voila_server)
    kc = kernel_client(voila_server)
    try:
        _pick_and_click(page, kc)
        wait_idle(page)
        screenshot_views(page, SHOTS, "voila")
        _tsne_and_hl1(page, kc)
        page.locator(".slt-layer-picker select").first.select_option(label="output")
        wait_heading(page, r"^7 · output node 7 · whole class")
        wait_idle(page)
        # brushing points in the embedding makes them the selection
        brush_embedding(page)
        text = wait_heading(page, r"brushed points — \d+ samples")
        st = explorer_state(kc)
        assert st["cluster"] == "brush" and st["n"] == count_in(text) > 0, (st, text)
        page.locator(".slt-explorer-tree .slt-ct-legend-all").first.click()       # back to the whole class
        wait_heading(page, r"· whole class — \d+ samples")
        assert kernel_eval(kc, "print(explorer.state.brush is None, explorer.embedding.scatter.selected is None)"
                           ).split() == ["True", "True"]
        for sel, name in ((".slt-confusion-pairs", "confusion_pairs"), (".slt-layer-summary", "layer_summary")):
            loc = page.locator(sel).first
            loc.scroll_into_view_if_needed()
            loc.screenshot(path=str(SHOTS / f"voila_{name}.png"))
        assert "LDA acc." in page.locator(".slt-layer-table").first.inner_text()
    finally:
        kc.stop_channels()
