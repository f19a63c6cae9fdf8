"""Every displayed view has an accessible name (issue 17 §5), read from Chromium's own
accessibility tree (DevTools ``Accessibility.getPartialAXTree``) in JupyterLab.

One notebook displays an Explorer and a Compare. For every view — the Explorer box, its tree,
templates, embedding and spectra; Compare's box, each side's tree and spectra, its templates —
the element that names the view must have a role that takes a name (region, figure, listbox, …)
and a computed name that states what it shows. A class picked in the Explorer's dropdown must
change the names of the Explorer's views to the new class.
"""
from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from .pages import EXPLORER, open_lab_notebook, pick_class, wait_heading, wait_idle  # noqa: E402
from .servers import explorer_notebook, start_lab  # noqa: E402

pytestmark = pytest.mark.browser

COMPARE = """
from IPython.display import display
from slt_widgets.reproduce import train_toy_mlp
deep = train_toy_mlp(dataset, hidden=(64, 48, 32), steps=60, lr=1e-2, seed=1)
compare = slt_widgets.Compare({'mlp': model, 'deep': deep}, dataset, cls='5', max_samples=150)
display(explorer, compare)
"""

#: (what, CSS selector of the element that carries the view's name, regex its name must match);
#: "{cls}" is the Explorer's class. The anywidget views name an element of their own (the tree
#: its listbox svg, the templates their figure); the box views are named on the box itself.
EXPLORER_VIEWS = [
    ("Explorer", f".jp-OutputArea-output {EXPLORER}",
     r"^SLT explorer: {cls} · output node {cls} · whole class — \d+ samples$"),
    ("Explorer tree", ".slt-explorer-tree svg.slt-ct-svg", r"^UPGMA of SLT shapes · {cls}.*: \d+ clusters? in colour"),
    ("Explorer templates", ".slt-explorer-templates .slt-template-panel",
     r"^Templates {cls} · output node {cls} · whole class — \d+ samples: mean features, "),
    ("Explorer embedding", f"{EXPLORER} .slt-embedding-view", r"^embedding MDS of SLTs · {cls}\b.*: \d+ points in \d+ colours$"),
    ("Explorer spectra", f"{EXPLORER} .slt-spectrum-view", r"^spectra .*\b{cls}\b.*: .* · AUC \d"),
]
COMPARE_VIEWS = [
    ("Compare", ".slt-compare", r"^Compare mlp, deep: 5 · output · whole class — \d+ samples$"),
    ("Compare mlp tree", ".slt-compare-side-mlp svg.slt-ct-svg", r": \d+ clusters? in colour"),
    ("Compare deep tree", ".slt-compare-side-deep svg.slt-ct-svg", r": \d+ clusters? in colour"),
    ("Compare mlp spectra", ".slt-compare-side-mlp .slt-spectrum-view", r"^spectra mlp · SLT spectra · output node 5: class 5"),
    ("Compare deep spectra", ".slt-compare-side-deep .slt-spectrum-view", r"^spectra deep · SLT spectra · output node 5: class 5"),
    ("Compare templates", ".slt-compare-templates .slt-template-panel", r"^Templates 5 · output · whole class — \d+ samples: "),
]
NAMED_ROLES = {"region", "figure", "listbox", "img", "group", "application"}


@pytest.fixture(scope="module")
def named_lab(tmp_path_factory, model_file):
    root = tmp_path_factory.mktemp("a11y_root")
    explorer_notebook(root / "views.ipynb", model_file, cls="3", extra=COMPARE)
    server = start_lab(root, tmp_path_factory.mktemp("a11y_env"))
    yield server
    server.stop()


def ax_node(cdp, selector: str) -> dict:
    """Chromium's accessibility node of the first element matching ``selector``:
    ``{role, name, ignored}`` (the name as the browser computes it for assistive technology)."""
    nodes = cdp.send("Accessibility.getPartialAXTree", {"objectId": _object_id(cdp, selector),
                                                        "fetchRelatives": False})["nodes"]
    n = nodes[0]
    return {"role": n.get("role", {}).get("value"), "name": n.get("name", {}).get("value", ""),
            "ignored": n.get("ignored", False)}


def _object_id(cdp, selector: str) -> str:
    res = cdp.send("Runtime.evaluate", {"expression": f"document.querySelector({json.dumps(selector)})"})
    oid = res["result"].get("objectId")
    if oid is None:
        raise AssertionError(f"no element {selector!r} on the page")
    return oid


def _names(cdp, page, views) -> dict[str, dict]:
    out = {}
    for what, sel, _ in views:
        page.locator(sel).first.wait_for(state="attached")
        out[what] = ax_node(cdp, sel)
    return out


def _check(names: dict, views, cls=None) -> None:
    bad = []
    for what, _sel, pattern in views:
        n = names[what]
        want = pattern.replace("{cls}", re.escape(cls)) if cls is not None else pattern
        if n["ignored"] or n["role"] not in NAMED_ROLES or not re.search(want, n["name"]):
            bad.append(f"{what}: role {n['role']!r}, name {n['name']!r} does not match {want!r}")
    assert not bad, "\n".join(bad)


def test_every_view_has_a_name_that_follows_the_selection(named_lab, page, browser_context):
    open_lab_notebook(page, named_lab, "views.ipynb")
    page.locator(".slt-compare .slt-compare-templates .slt-tp-heading").first.wait_for(state="visible")
    page.wait_for_function("() => document.querySelectorAll('.slt-compare-side svg.slt-ct-svg').length >= 2")
    cdp = browser_context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("Accessibility.enable")
    before = _names(cdp, page, EXPLORER_VIEWS + COMPARE_VIEWS)
    _check(before, EXPLORER_VIEWS, cls="3")
    _check(before, COMPARE_VIEWS)
    print("\n" + "\n".join(f"{k}: {v['role']} {v['name']!r}" for k, v in before.items()))
    # a class from the dropdown: every Explorer view's name now speaks of class 7
    pick_class(page, "7")
    wait_heading(page, r"^7 · output node 7 · whole class — \d+ samples")
    wait_idle(page)
    page.wait_for_function("() => /^SLT explorer: 7 /.test(document.querySelector('.slt-explorer').getAttribute('aria-label'))")
    page.wait_for_timeout(500)                         # the embedding and spectra names travel as their own messages
    after = _names(cdp, page, EXPLORER_VIEWS)
    _check(after, EXPLORER_VIEWS, cls="7")
    for what, _s, _p in EXPLORER_VIEWS:
        assert after[what]["name"] != before[what]["name"], what
    # Compare is a selection of its own: the Explorer's class change left its names alone
    _check(_names(cdp, page, COMPARE_VIEWS), COMPARE_VIEWS)
    cdp.detach()
