"""Package-level rules: the engine stays free of widget code; public names resolve."""
import ast
import pathlib
import subprocess
import sys

import slt_widgets

ROOT = pathlib.Path(slt_widgets.__file__).parent
WIDGET_MODULES = {"ipywidgets", "anywidget", "traitlets", "bqplot", "IPython"}


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_engine_and_analysis_import_no_widget_code():
    offenders = []
    for sub in ("engine", "analysis"):
        for path in (ROOT / sub).rglob("*.py"):
            bad = WIDGET_MODULES.intersection(_imports(path))
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, "engine/analysis must not import widget code:\n" + "\n".join(offenders)


def test_importing_the_engine_loads_no_widget_library():
    code = ("import sys, slt_widgets, slt_widgets.engine; "
            f"print(sorted(m for m in {sorted(WIDGET_MODULES)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_public_names_resolve():
    for name in slt_widgets.__all__:
        assert getattr(slt_widgets, name) is not None, name
