"""notebooks/marimo_explorer.py under ``marimo run``, in headless Chromium (issue 17 §4).

A click on a tree cluster redraws the templates (through the Explorer's own link); the class and
layer pickers (marimo dropdowns) give a new tree and templates; the embedding and spectra
pictures are redrawn on each selection. Screenshots at 1024 and 1600 px.
"""
from __future__ import annotations

import re
import secrets
import subprocess
import sys

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
pytest.importorskip("marimo", reason="marimo is not installed (pip install marimo)")

from .saved import demo_missing
from .servers import REPO, Server, _wait_port, free_port, kernel_env

pytestmark = pytest.mark.browser
APP = REPO / "notebooks" / "marimo_explorer.py"
SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory):
    if demo_missing():
        pytest.fail(f"the marimo app needs the demo package data (no demo_small.pt in {demo_missing()})")
    tmp = tmp_path_factory.mktemp("marimo")
    port, token = free_port(), secrets.token_hex(8)
    log = tmp / "marimo.log"
    env = kernel_env({"HOME": str(tmp), "MARIMO_SKIP_UPDATE_CHECK": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "marimo", "run", str(APP), "--headless", "--host", "127.0.0.1",
                             "--port", str(port), "--token-password", token, "--no-sandbox", "--no-skew-protection"],
                            cwd=tmp, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    _wait_port(proc, port, log)
    server = Server(proc, f"http://127.0.0.1:{port}", token, tmp, "marimo", log)
    yield server
    server.stop()


def _heading(page) -> str:
    loc = page.locator(".slt-tp-heading").first
    loc.wait_for(state="visible", timeout=180_000)
    return loc.inner_text()


def _wait_heading(page, pattern: str, timeout: float = 120.0) -> str:
    loc = page.locator(".slt-tp-heading").first
    for _ in range(int(timeout * 4)):
        text = loc.inner_text()
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"the templates heading never matched {pattern!r}; it reads {loc.inner_text()!r}")


def _pictures(page) -> list[str]:
    return page.evaluate("""() => { const out = [];
        const walk = (root) => { for (const i of root.querySelectorAll('img')) out.push(i.src.slice(-64));
                                 for (const e of root.querySelectorAll('*')) if (e.shadowRoot) walk(e.shadowRoot); };
        walk(document); return out; }""")


def _click_cluster(page, cluster: int) -> None:
    """Click the middle of drawn cluster ``cluster``'s box (its whole subtree is the target)."""
    box = page.locator(f'rect.slt-ct-cluster[data-cluster="{cluster}"]').first
    box.wait_for(state="attached")
    r = box.bounding_box()
    page.mouse.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)


def _status(page) -> str:
    return page.locator(".slt-marimo-status").first.inner_text()


def test_marimo_explorer(marimo_app, page):
    page.goto(f"{marimo_app.url}/?access_token={marimo_app.token}")
    text = _heading(page)
    assert text.startswith("T · output node") and "whole class" in text, text
    page.locator("rect.slt-ct-cluster").first.wait_for(state="attached", timeout=120_000)
    status = _status(page)
    n_class = int(re.search(r"whole class: (\d+) frames", status).group(1))
    assert re.search(rf"— {n_class} frames", text), (status, text)
    before = _pictures(page)
    assert len(before) >= 2, "the embedding and spectra pictures are missing"
    # a click on cluster 1 in the tree: the templates redraw with that cluster's count
    _click_cluster(page, 1)
    text = _wait_heading(page, r"cluster 1 — \d+ frames")
    n1 = int(re.search(r"— (\d+) frames", text).group(1))
    assert 0 < n1 < n_class
    page.wait_for_function("""(n) => { const f = (r) => [...r.querySelectorAll('*')].some(e =>
        (e.classList && e.classList.contains('slt-marimo-status') && e.textContent.includes('cluster 1: ' + n)) ||
        (e.shadowRoot && f(e.shadowRoot))); return f(document); }""", arg=str(n1), timeout=120_000)
    after = _pictures(page)
    assert after != before, "the embedding and spectra pictures were not redrawn for the cluster"
    # the class picker: a new class, a new tree, its whole class
    page.locator("select").filter(has=page.locator("option", has_text="AA")).first.select_option(label="S")
    text = _wait_heading(page, r"^S · output node \d+ · whole class — \d+ frames")
    # the layer picker
    page.locator("select").filter(has=page.locator("option", has_text="HL1")).first.select_option(label="HL2")
    text = _wait_heading(page, r"^S · HL2 node \d+ · whole class — \d+ frames")
    for _ in range(240):                     # the status cell re-runs after the tree cell
        if re.match(r"S · HL2 node \d+ · the whole class: \d+ frames", _status(page)):
            break
        page.wait_for_timeout(250)
    assert re.match(r"S · HL2 node \d+ · the whole class: \d+ frames", _status(page)), _status(page)
    for width in (1024, 1600):
        page.set_viewport_size({"width": width, "height": 1100})
        page.wait_for_timeout(600)
        page.screenshot(path=str(SHOTS / f"marimo_{width}.png"), full_page=True)
