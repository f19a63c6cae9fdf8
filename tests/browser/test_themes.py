"""JupyterLab light and dark (issue 17 §2): every text element of every view — Explorer,
SelectivityMap, ConfusionPairs, LayerSummary, the error banner and the callback error area —
reaches a contrast of 4.5 : 1 against its background, measured in the page. Screenshots of both
themes at 1024 and 1600 px go to docs/screenshots/.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from .contrast import measure
from .pages import EXPLORER, open_lab_notebook
from .servers import REPO, explorer_notebook, kernel_client, kernel_eval, start_lab

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"
MIN_RATIO = 4.5

EVERY_VIEW = """
from IPython.display import display
from slt_widgets import analysis as A
c = A.node_cluster_counts(model, dataset)
smap = slt_widgets.SelectivityMap(c.csv[c.layers[0]], [dataset.class_names[k] for k in c.classes],
                                  co=c.co[c.layers[0]], layer_title="HL1", selected_class=2)
pairs = slt_widgets.ConfusionPairs(model, dataset, '3', '5')
summary = slt_widgets.LayerSummary(model, dataset, node_samples=300, max_train=900, max_eval=900)
explorer.select(cluster=1)
display(explorer, smap, pairs, summary)
pairs.templates.error = "ignored a value from the browser: a demo error banner"
explorer.error_area.report(ValueError("a demo error raised in a callback"), "_on_demo")
"""

#: Text that fails today in views the Explorer branch rewrites: the embedding legend's grey
#: "+ N small clusters" line and the tree's red cut label (issue 17 §2 names both), and — found
#: by this test, in the light theme — the tree's leaf labels drawn in their cluster's colour
#: (orange #ff7f0e on white is 2.5 : 1). They are reported as a warning, not failed, until that
#: branch is merged — THEN EMPTY THIS TUPLE so the test asserts every element. Anything else
#: below 4.5 : 1 fails the test now.
@pytest.fixture(scope="module", params=["JupyterLab Light", "JupyterLab Dark"])
def themed_lab(request, tmp_path_factory, model_file):
    root = tmp_path_factory.mktemp("theme_root")
    explorer_notebook(root / "views.ipynb", model_file, cls="3", extra=EVERY_VIEW)
    server = start_lab(root, tmp_path_factory.mktemp("theme_env"), theme=request.param)
    yield request.param, server
    server.stop()


def test_every_text_element_is_readable(themed_lab, page):
    theme, server = themed_lab
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_lab_notebook(page, server, "views.ipynb")
    page.wait_for_function("() => document.querySelector('.slt-layer-summary .bqplot.figure') && "
                           "document.querySelector('.slt-errors') && document.querySelector('.slt-error')")
    page.wait_for_timeout(1500)                       # bqplot draws its axes after the first frame
    is_dark = page.evaluate("() => document.body.dataset.jpThemeLight === 'false'")
    assert is_dark == (theme == "JupyterLab Dark"), f"the theme did not apply ({theme})"
    items = measure(page)
    texts = " | ".join(i["text"] for i in items)
    for must in ("UPGMA of SLT shapes", "mean SLT", "dim 1", "σᵢ / σ₁", "HL1", "confusable pair", "LDA acc.",
                 "a demo error banner", "a demo error raised in a callback"):
        assert must in texts, f"{must!r} was not measured — the view did not render in {theme}"
    low = [i for i in items if i["ratio"] < MIN_RATIO]
    print(f"\n{theme}: {len(items)} text elements, {len(items) - len(low)} reach {MIN_RATIO}:1")
    assert not low, json.dumps(low, indent=1, ensure_ascii=False)
    # nothing left the machine, and bqplot's front end came from its installed lab extension
    outside = sorted({u for u in requests if not u.startswith(server.url) and not u.startswith(("data:", "blob:"))})
    assert not outside, outside
    assert any("/lab/extensions/bqplot/static/" in u for u in requests), "bqplot's extension was not loaded"
    assert any("/lab/extensions/anywidget/static/" in u for u in requests)
    slug = "dark" if is_dark else "light"
    for width in (1024, 1600):
        page.set_viewport_size({"width": width, "height": 1100})
        page.wait_for_timeout(500)
        page.locator(f".jp-OutputArea-output {EXPLORER}").first.scroll_into_view_if_needed()
        # the pickers stay one line: the hidden busy note used to wrap onto a line of its own (an empty band)
        rows = page.evaluate(f"() => [...document.querySelector('{EXPLORER}').children].slice(0, 2)"
                             ".map(r => r.getBoundingClientRect().height)")
        assert rows[0] < 40, f"at {width} px the pickers' row is {rows[0]:.0f} px tall: something wrapped"
        page.screenshot(path=str(SHOTS / f"lab_{slug}_{width}.png"))
        page.locator(".jp-OutputArea-output .slt-layer-summary").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"lab_{slug}_views_{width}.png"))


def test_selectivity_map_from_the_keyboard_alone(themed_lab, page):
    """Tab into the heatmap from the Explorer's class picker, move with the arrows, select with
    Enter: the kernel's ``smap`` has the class and node of that cell (in clustered order)."""
    theme, server = themed_lab
    if theme != "JupyterLab Light":
        pytest.skip("keyboard operation does not depend on the theme: checked once")
    open_lab_notebook(page, server, "views.ipynb")
    page.locator(".slt-selectivity-map .slt-sm-box").first.wait_for(state="visible")
    page.locator(".slt-class-picker select").first.focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.matches('.slt-sm-box')"):
            break
    else:
        raise AssertionError("Tab never reached the selectivity map")
    for k in ("ArrowDown", "ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight", "Enter"):
        page.keyboard.press(k)
    readout = page.locator(".slt-sm-readout").first.inner_text()
    kc = kernel_client(server, server.api("/api/sessions")[0]["kernel"]["id"])
    try:
        code = "import json; print(json.dumps([int(smap.selected_class), int(smap.selected_node), " \
               "int(smap.row_order[2]), int(smap.col_order[3]), smap.class_names[int(smap.row_order[2])]]))"
        for _ in range(40):
            cls, node, want_cls, want_node, name = json.loads(kernel_eval(kc, code).strip().splitlines()[-1])
            if (cls, node) == (want_cls, want_node):
                break
            page.wait_for_timeout(250)
        assert (cls, node) == (want_cls, want_node), (cls, node, want_cls, want_node)
        assert readout.startswith(f"class {name} · node {want_node} "), readout
        assert page.evaluate("() => document.activeElement.matches('.slt-sm-box')"), "the redraw lost the focus"
        page.keyboard.press("ArrowRight")            # the cursor one cell right of the selection
        page.locator(".slt-selectivity-map").first.screenshot(path=str(SHOTS / "lab_selectivity_map_keyboard.png"))
        kernel_eval(kc, f"smap.to_png({str(SHOTS / 'selectivity_map_to_png.png')!r})")    # the same state, no browser
        assert (SHOTS / "selectivity_map_to_png.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        kc.stop_channels()
