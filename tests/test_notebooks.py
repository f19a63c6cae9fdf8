"""The notebooks (issue 6): stored clean, and every one runs top to bottom on a fresh kernel.

Execution uses nbclient with ``allow_errors=False``: any cell that raises fails the test with the
cell's traceback. Each notebook must stay within 3 minutes on 2 cores: its kernel may use at most
``2 × NOTEBOOK_BUDGET_S`` CPU seconds (both cores busy for 3 minutes). CPU time, not wall time, is
asserted because CI machines are shared; override with ``SLT_NOTEBOOK_BUDGET_S``.

``SLT_DEMO_DATA_DIR=/path`` runs the notebooks against demo files written by
``python -m slt_widgets.models.train_demo --out /path`` instead of the package data (a setup
cell, not part of the notebook, points ``slt_widgets.demo`` there).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXPECTED = ("01_quickstart.ipynb", "02_reproduce_the_paper.ipynb", "03_your_own_model.ipynb",
            "04_classroom.ipynb", "05_your_own_corpus.ipynb", "06_compare.ipynb", "07_your_own_speech.ipynb")
NEEDS_DEMO = {"01_quickstart.ipynb", "02_reproduce_the_paper.ipynb", "04_classroom.ipynb",
              "05_your_own_corpus.ipynb", "06_compare.ipynb", "07_your_own_speech.ipynb"}
NOTEBOOK_BUDGET_S = float(os.environ.get("SLT_NOTEBOOK_BUDGET_S", 180))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _load(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def _code(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _src(cell: dict) -> str:
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


# ----------------------------------------------------------------------------- stored form (fast)
def test_the_notebooks_are_there():
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(EXPECTED), f"notebooks/ holds {found}; expected {EXPECTED}"


@pytest.mark.parametrize("name", EXPECTED)
def test_stored_without_outputs_and_with_a_python3_kernelspec(name):
    nb = _load(name)
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for c in _code(nb):
        assert c["outputs"] == [] and c["execution_count"] is None, \
            f"{name}: a code cell was saved with outputs; clear them (Edit → Clear Outputs of All Cells)"
    ids = [c.get("id") for c in nb["cells"]]
    assert all(ids) and len(set(ids)) == len(ids), f"{name}: cell ids missing or repeated"


def test_quickstart_is_at_most_three_code_cells_on_the_demo():
    cells = _code(_load("01_quickstart.ipynb"))
    assert 1 <= len(cells) <= 3
    code = "\n".join(_src(c) for c in cells)
    assert "load_demo(" in code and "Explorer(" in code


def test_classroom_has_exercises_with_hidden_solutions():
    nb = _load("04_classroom.ipynb")
    hidden = [c for c in _code(nb) if c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert len(hidden) >= 3, "each exercise needs a collapsed solution cell"
    assert all("solution" in c["metadata"].get("tags", []) for c in hidden)
    answers = [c for c in nb["cells"] if c["cell_type"] == "markdown" and "<details>" in _src(c)]
    assert len(answers) == len(hidden), "one <details> answer per hidden solution cell"
    text = "\n".join(_src(c) for c in nb["cells"])
    for topic in ("flap", "/z/", "HL1"):
        assert topic in text


def test_paper_notebook_covers_every_table_and_figure():
    text = "\n".join(_src(c) for c in _load("02_reproduce_the_paper.ipynb")["cells"])
    for item in ("Table 1", "Table 2", "Fig. 2", "Fig. 3", "Fig. 4", "Fig. 5", "Fig. 6", "Fig. 7", "Fig. 8A",
                 "Fig. 8B", "Fig. 8C", "WSJ", "cross-engine", "python -m slt_widgets reproduce"):
        assert item in text, f"02_reproduce_the_paper.ipynb does not mention {item!r}"


def test_notebooks_link_only_to_notebooks_that_exist():
    for name in EXPECTED:
        text = "\n".join(_src(c) for c in _load(name)["cells"] if c["cell_type"] == "markdown")
        for target in re.findall(r"\]\(([^)#]+\.ipynb)\)", text):
            assert (NOTEBOOKS / target).is_file(), f"{name} links to missing {target}"


# ----------------------------------------------------------------------------- execution (slow)
def _demo_dir() -> Path | None:
    return Path(os.environ["SLT_DEMO_DATA_DIR"]) if os.environ.get("SLT_DEMO_DATA_DIR") else None


def _require_demo(name: str) -> None:
    if name not in NEEDS_DEMO:
        return
    folder = _demo_dir() or REPO / "slt_widgets" / "data"
    missing = [f for f in ("demo_small.pt", "demo_wide.pt", "dev.npz", "eval.npz", "xeng.npz", "table1.json")
               if not (folder / f).is_file()]
    if missing:
        pytest.fail(f"{name} needs the demo package data; {folder} lacks {missing}. Build it with "
                    "`python -m slt_widgets.models.train_demo` (or point SLT_DEMO_DATA_DIR at a train_demo --out folder)")


def execute(path: Path, workdir: Path):
    """Run the notebook at ``path`` on a fresh python3 kernel in ``workdir``; returns (executed nb, seconds).

    Raises ``nbclient.exceptions.CellExecutionError`` at the first cell that raises."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    if _demo_dir() is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(
            "import slt_widgets.demo as _demo, pathlib as _pl\n"
            f"_demo.demo_data_dir = lambda: _pl.Path({str(_demo_dir())!r})"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import resource as _r\n"
        "print('KERNEL_CPU_S', sum(u.ru_utime + u.ru_stime for u in (_r.getrusage(_r.RUSAGE_SELF), "
        "_r.getrusage(_r.RUSAGE_CHILDREN))))"))
    client = nbclient.NotebookClient(nb, timeout=int(2 * NOTEBOOK_BUDGET_S), kernel_name="python3",
                                     allow_errors=False, resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t0


@pytest.fixture
def kernel_env(monkeypatch):
    """The kernel imports slt_widgets from this checkout, draws figures off-screen and runs one
    compute thread: on a shared CI machine two OpenMP/BLAS threads per kernel ran the SLT spectra
    6–9× slower than one (spinning threads fighting for the cores)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom(name, tmp_path, kernel_env):
    _require_demo(name)
    nb, seconds = execute(NOTEBOOKS / name, tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    # every notebook shows at least one live widget (a real widget view, not just text)
    views = [o for o in outputs if WIDGET_MIME in o.get("data", {})]
    assert views, f"{name} displayed no widget"
    cpu = float(next(o["text"].split("KERNEL_CPU_S", 1)[1] for o in outputs
                     if o.get("output_type") == "stream" and "KERNEL_CPU_S" in o.get("text", "")))
    print(f"{name}: {seconds:.1f} s wall, {cpu:.1f} s kernel CPU")
    assert cpu <= 2 * NOTEBOOK_BUDGET_S, \
        f"{name} used {cpu:.0f} CPU seconds: more than 3 minutes of both cores (budget {2 * NOTEBOOK_BUDGET_S:.0f} s)"


def test_a_failing_cell_fails_the_run(tmp_path, kernel_env):
    """The harness itself: an exception in any cell stops the run with that cell's error."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise RuntimeError('cell two broke')"),
                nbformat.v4.new_code_cell("open('reached', 'w').write('no')")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(CellExecutionError, match="cell two broke"):
        execute(path, tmp_path)
    assert not (tmp_path / "reached").exists(), "cells after the failing one must not run"
