"""Compare in Voilà (headless Debian Chromium): one selection drives every side.

Picks a class in the dropdown and a cluster in the second side's tree, checks that every side
shows the same frames (its spectrum legend names the cluster with the kernel's count, and its
mean-SLT panel is the mean of that side's SLTs over the kernel's indices), then clicks a layer
column in a profile plot and checks that every side moved to that layer. Screenshots Compare at
1024 and 1600 px into docs/screenshots/, light and (Voilà ``--theme=dark``) dark, where every
text element of Compare must reach 4.5 : 1 contrast.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from .contrast import measure
from .servers import REPO, kernel_client, kernel_eval, one_cell_notebook, start_voila  # noqa: E402

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"
ROOT = ".slt-compare"
HEADING = ".slt-compare-templates .slt-tp-heading"

NOTEBOOK = """\
import torch, slt_widgets
from slt_widgets.datasets import load_digits_dataset
from slt_widgets.reproduce import train_toy_mlp
dataset = load_digits_dataset('all')
from slt_widgets.models import load_checkpoint
mlp, _info = load_checkpoint(MODEL)
deep = train_toy_mlp(dataset, hidden=(64, 48, 32), steps=80, lr=1e-2, seed=1)
compare = slt_widgets.Compare({'mlp': mlp, 'deep': deep}, dataset, cls='3', max_samples=150,
                              profile_options=dict(max_train=600, max_eval=500, node_samples=120, inc_cor_samples=60),
                              profiles=True)
compare
"""

# a point on cluster `id` in the tree of side `side`: the middle of its click box (its whole subtree)
_CLUSTER_POINT_JS = """([side, id]) => {
  const root = document.querySelector(`.slt-compare-side-${side} .slt-compare-tree`);
  const box = root && root.querySelector(`rect.slt-ct-cluster[data-cluster="${id}"]`);
  if (!box) return null;
  const r = box.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}"""


def _server(tmp_path_factory, model_file, extra_args=None):
    root = tmp_path_factory.mktemp("compare_root")
    path = one_cell_notebook(root / "compare.ipynb", NOTEBOOK.replace("MODEL", repr(str(model_file))))
    return start_voila(path, tmp_path_factory.mktemp("compare_env"), extra_args)


@pytest.fixture(scope="module")
def compare_server(tmp_path_factory, model_file):
    server = _server(tmp_path_factory, model_file)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def compare_dark_server(tmp_path_factory, model_file):
    server = _server(tmp_path_factory, model_file, ["--theme=dark"])
    yield server
    server.stop()


def _wait_idle(page, timeout: float = 120.0) -> None:
    page.wait_for_function(
        """([root, head]) => { const r = document.querySelector(root);
             if (!r) return false;
             const busy = [...r.querySelectorAll('.slt-busy')];
             const h = r.querySelector(head);
             return busy.length && busy.every(b => getComputedStyle(b).visibility === 'hidden') &&
                    h && /\\d+ (samples|frames)/.test(h.textContent); }""",
        arg=[ROOT, HEADING], timeout=timeout * 1000)


def _wait_text(page, selector: str, pattern: str, every: bool = True, timeout: float = 90.0) -> list[str]:
    page.wait_for_function(
        """([sel, pat, every]) => { const els = [...document.querySelectorAll(sel)];
             const ok = (e) => new RegExp(pat).test(e.textContent);
             return els.length && (every ? els.every(ok) : els.some(ok)); }""",
        arg=[selector, pattern, every], timeout=timeout * 1000)
    return page.locator(selector).all_inner_texts()


def _shoot(page, width: int, name: str) -> None:
    """Screenshot Compare whole at ``width``: Voilà scrolls inside a panel as tall as the window and
    paints nothing below it, so the window is made as tall as Compare first (then set back)."""
    page.set_viewport_size({"width": width, "height": 1300})
    page.wait_for_timeout(500)
    bottom = page.locator(ROOT).first.evaluate("e => e.getBoundingClientRect().height + e.getBoundingClientRect().top")
    page.set_viewport_size({"width": width, "height": max(1300, int(bottom) + 60)})
    page.wait_for_timeout(800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(ROOT).first.screenshot(path=str(SHOTS / name))
    page.set_viewport_size({"width": width, "height": 1300})


def _state(kc) -> dict:
    code = ("import json, numpy as np\n"
            "s = compare.selection; st = compare.state\n"
            "means = {}\n"
            "for i, n in enumerate(st.names):\n"
            "    w = slt_widgets.slt(st.sides[n].model, torch.from_numpy(dataset.features_at(np.sort(s.indices))),\n"
            "                        layer=s.layer, nodes=[s.nodes[n]]).weight[:, 0, :].double().mean(0).numpy()\n"
            "    means[n] = float(np.abs(compare.templates.images[1 + i].ravel() - w).max())\n"
            "print(json.dumps({'cls': s.cls, 'layer': s.layer, 'cluster': s.cluster, 'side': s.side, 'n': s.n,\n"
            "  'indices': [int(i) for i in s.indices], 'mean_err': means,\n"
            "  'titles': {n: compare.sides[n].tree.title for n in st.names},\n"
            "  'errors': [str(e) for e in compare.error_area.errors]}))")
    return json.loads(kernel_eval(kc, code, timeout=60).strip().splitlines()[-1])


def test_compare_in_voila(compare_server, page):
    page.set_viewport_size({"width": 1600, "height": 1300})
    page.goto(f"{compare_server.url}/?token={compare_server.token}")
    page.locator(ROOT).first.wait_for(state="visible")
    _wait_idle(page)
    kc = kernel_client(compare_server)
    try:
        # 1. a class from the dropdown: both sides show it
        page.locator(f"{ROOT} .slt-class-picker select").first.select_option(label="7")
        _wait_text(page, HEADING, r"^7 · output · whole class — \d+ samples")
        _wait_text(page, f"{ROOT} .slt-compare-tree .slt-ct-title", r"· 7 · output node 7")
        st = _state(kc)
        assert st["cls"] == "7" and st["cluster"] is None and not st["errors"], st
        # 2. a cluster clicked in the second side's tree: every side shows those frames
        handle = page.wait_for_function(_CLUSTER_POINT_JS, arg=["deep", 1], timeout=60_000)
        x, y = handle.json_value()
        page.mouse.click(x, y)
        text = _wait_text(page, HEADING, r"cluster 1 of deep — \d+ samples")[0]
        st = _state(kc)
        assert st["cluster"] == 1 and st["side"] == "deep", st
        assert f"— {st['n']} samples" in text
        legends = _wait_text(page, f"{ROOT} .slt-spectrum-legend", rf"cluster 1 of deep \(n={st['n']}\)")
        assert len(legends) == 2
        assert all(err < 1e-5 for err in st["mean_err"].values()), st["mean_err"]
        # the second side's own tree marks the cluster; the first side's shows none
        sel = kernel_eval(kc, "print(compare.sides['deep'].tree.selected, compare.sides['mlp'].tree.selected)")
        assert sel.split() == ["1", "-1"]
        _shoot(page, 1600, "compare_voila_1600.png")
        # 3. a layer clicked in a profile: every side moves to it
        col = page.locator(f"{ROOT} .slt-profile-slt-auc rect.slt-lp-col[data-layer='HL2']").first
        col.scroll_into_view_if_needed()
        box = col.bounding_box()
        page.mouse.click(box["x"] + box["width"] - 2, box["y"] + 3)     # near the column's edge
        titles = _wait_text(page, f"{ROOT} .slt-compare-tree .slt-ct-title", r"· 7 · HL2 node \d+")
        assert len(titles) == 2
        _wait_text(page, HEADING, r"^7 · HL2 · whole class — \d+ samples")
        st = _state(kc)
        assert st["layer"] == 2 and st["cluster"] is None and not st["errors"], st
        assert all("HL2 node" in t for t in st["titles"].values())
        assert all(err < 1e-5 for err in st["mean_err"].values()), st["mean_err"]
        picked = page.locator(f"{ROOT} .slt-lp-col.slt-lp-selected").evaluate_all(
            "els => els.map(e => e.getAttribute('data-layer'))")
        assert picked and set(picked) == {"HL2"}, picked          # every profile marks it
        page.locator(f"{ROOT} .slt-layer-picker select").first.wait_for()
        assert page.locator(f"{ROOT} .slt-layer-picker select").first.evaluate(
            "s => s.options[s.selectedIndex].textContent") == "HL2"
        # 4. narrow window: still usable, screenshot
        _shoot(page, 1024, "compare_voila_1024.png")
    finally:
        kc.stop_channels()


def test_compare_dark_every_text_readable(compare_dark_server, page):
    page.set_viewport_size({"width": 1600, "height": 1300})
    page.goto(f"{compare_dark_server.url}/?token={compare_dark_server.token}")
    page.locator(ROOT).first.wait_for(state="visible")
    _wait_idle(page)
    page.wait_for_function("() => document.querySelector('.slt-compare .slt-lp-col')")   # profiles drawn
    page.wait_for_timeout(1500)                       # bqplot draws its axes after the first frame
    bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    lum = sum(int(v) for v in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3])
    assert lum < 3 * 80, f"Voilà's dark theme did not apply (body background {bg})"
    items = measure(page, ROOT)
    texts = " | ".join(i["text"] for i in items)
    for must in ("UPGMA of SLTs", "mean SLT", "σᵢ / σ₁", "LDA accuracy", "whole class"):
        assert must in texts, f"{must!r} was not measured: Compare did not render"
    low = [i for i in items if i["ratio"] < 4.5]
    assert not low, json.dumps(low, indent=1, ensure_ascii=False)
    for width in (1600, 1024):
        _shoot(page, width, f"compare_voila_dark_{width}.png")
