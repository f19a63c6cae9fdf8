"""Saved and exported notebooks for the browser tests: the quickstart executed and saved with its
widget state (as ``jupyter nbconvert --execute`` and JupyterLab's "save widget state" write it),
its size broken down, and its HTML export.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from .servers import REPO, kernel_env

QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

#: the command docs/notebooks.md gives for an HTML file that shows every view offline: the widget
#: state is dropped, so nbconvert writes each view's picture instead of a widget placeholder that
#: needs the widget manager from a CDN (cell metadata — hidden solutions, tags — is kept)
HTML_PICTURES = ["--to", "html", "--ClearMetadataPreprocessor.enabled=True",
                 "--ClearMetadataPreprocessor.clear_cell_metadata=False"]


def demo_missing() -> str | None:
    folder = Path(os.environ["SLT_DEMO_DATA_DIR"]) if os.environ.get("SLT_DEMO_DATA_DIR") else \
        REPO / "slt_widgets" / "data"
    return None if (folder / "demo_small.pt").is_file() else str(folder)


def copy_quickstart(dest: Path, extra_cells: list[str] = ()) -> Path:
    """The quickstart in ``dest`` (with a cell pointing at ``SLT_DEMO_DATA_DIR`` when set, and
    ``extra_cells`` appended)."""
    nb = json.loads(QUICKSTART.read_text())
    if os.environ.get("SLT_DEMO_DATA_DIR"):
        nb["cells"].insert(0, {"cell_type": "code", "id": "demo-dir", "metadata": {}, "execution_count": None,
                               "outputs": [], "source": "import slt_widgets.demo as _d, pathlib as _p\n"
                               f"_d.demo_data_dir = lambda: _p.Path({os.environ['SLT_DEMO_DATA_DIR']!r})"})
    for i, src in enumerate(extra_cells):
        nb["cells"].append({"cell_type": "code", "id": f"extra-{i}", "metadata": {}, "execution_count": None,
                            "outputs": [], "source": src})
    dest.write_text(json.dumps(nb, indent=1))
    return dest


def nbconvert(args: list[str], cwd: Path, timeout: float = 600) -> None:
    """``jupyter nbconvert ARGS`` in ``cwd`` with the test kernel environment; raises with its log."""
    out = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", *args], cwd=cwd, env=kernel_env(),
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"nbconvert {' '.join(args)} failed:\n{out.stderr[-4000:]}")


def execute_saved(src: Path, out_name: str) -> Path:
    """Execute ``src`` and save it WITH widget state (``nbconvert --execute``'s default)."""
    nbconvert(["--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600", "--output", out_name,
               src.name], cwd=src.parent)
    return src.parent / out_name


def size_breakdown(path: Path) -> dict:
    """Where the bytes of a saved notebook go: ``total``, ``widget_state`` (the metadata entry),
    ``pictures`` (base64 image/png outputs), ``esm`` / ``css`` (anywidget front-end code, summed
    over instances), ``buffers`` (binary arrays, base64), ``models`` (count per model class),
    ``per_model`` (bytes per model class), ``esm_per_instance`` ({class: [bytes …]})."""
    raw = path.read_text()
    nb = json.loads(raw)
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    per_model, models, esm_per = Counter(), Counter(), {}
    esm = css = buffers = 0
    for m in state.values():
        st = m["state"]
        name = st.get("_anywidget_id") or f"{m['model_module']}.{m['model_name']}"
        models[name] += 1
        per_model[name] += len(json.dumps(m))
        if "_esm" in st:
            esm += len(st["_esm"])
            esm_per.setdefault(name, []).append(len(st["_esm"]))
        css += len(st.get("_css", ""))
        buffers += sum(len(b["data"]) for b in m.get("buffers", []))
    pictures = sum(len(o.get("data", {}).get("image/png", "")) for c in nb["cells"] for o in c.get("outputs", []))
    return {"total": len(raw.encode()), "widget_state": len(json.dumps(nb["metadata"].get("widgets", {}))),
            "pictures": pictures, "esm": esm, "css": css, "buffers": buffers, "models": dict(models),
            "per_model": dict(per_model.most_common()), "esm_per_instance": esm_per}


def widget_outputs(path: Path) -> list[dict]:
    """Every output of the saved notebook that holds a widget view."""
    nb = json.loads(path.read_text())
    return [o for c in nb["cells"] for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]


def copy_to(src: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / src.name))
