"""No widget module reaches the network at run time, and bqplot's front end is the one its
Python package installed (issue 17 §6: what can be checked for VS Code, Colab and JupyterHub
without running them). The browser side — no request leaves the JupyterLab server — is in
tests/browser/test_themes.py.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from slt_widgets.widgets import ClusterTree, SelectivityMap, TemplatePanel
from slt_widgets.widgets._anywidget_base import STATIC

#: XML namespaces are identifiers, not fetched
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml", "http://www.w3.org/1999/xlink"}
NETWORK_CALLS = re.compile(r"\bfetch\s*\(|XMLHttpRequest|\bimport\s*\(|new\s+WebSocket|EventSource|sendBeacon|"
                           r"importScripts|\.src\s*=|<script|<link")
URL = re.compile(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s"'`)]*""", re.I)


def _modules():
    shipped = sorted(STATIC.glob("*.js")) + sorted(STATIC.glob("*.css"))
    assert len(shipped) >= 6
    yield from ((p.name, p.read_text(encoding="utf-8")) for p in shipped)
    for cls in (TemplatePanel, ClusterTree, SelectivityMap):            # what the browser gets
        yield f"{cls.__name__}._esm", str(cls._esm)
        yield f"{cls.__name__}._css", str(cls._css)


@pytest.mark.parametrize("name,src", list(_modules()), ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_no_widget_module_fetches_anything(name, src):
    code = "\n".join(line for line in src.splitlines() if not line.strip().startswith(("//", "*", "/*")))
    calls = NETWORK_CALLS.findall(code)
    assert not calls, f"{name} calls {calls}: widget code must not load anything at run time"
    urls = {u for u in URL.findall(code) if u not in NAMESPACES}
    assert not urls, f"{name} names {urls}"
    imports = re.findall(r"""^\s*import\s.*?from\s+["']([^"']+)["']""", src, re.M)
    assert all(i.startswith("./") for i in imports), f"{name} imports {imports}: only package-local modules"
    if name.endswith("._esm"):
        assert not imports, f"{name} is bundled: it must not import at all (anywidget loads it from a string)"


def test_bqplot_front_end_is_its_installed_extension():
    import bqplot
    import bqscales
    for pkg, model in (("bqplot", bqplot.Figure), ("bqscales", bqscales.LinearScale)):
        ext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / pkg / "package.json"
        assert ext.is_file(), f"{pkg}'s JupyterLab extension is not installed in {ext.parent}"
        version = json.loads(ext.read_text())["version"]
        want = model.class_traits()["_model_module_version"].default_value
        major_minor = want.lstrip("^~").split(".")[:2]
        assert version.split(".")[:2] == major_minor, f"{pkg} front end {version} does not satisfy {want}"
