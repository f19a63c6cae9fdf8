"""The analysis package is engine-side: no widget libraries, every public name documented."""
import inspect
import subprocess
import sys

import slt_widgets.analysis as A


def test_analysis_imports_no_widget_library():
    code = ("import sys, slt_widgets.analysis; "
            "bad = [m for m in ('ipywidgets', 'anywidget', 'traitlets', 'bqplot', 'matplotlib') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_public_name_is_exported_and_documented_with_shapes():
    for name in A.__all__:
        obj = getattr(A, name)
        doc = inspect.getdoc(obj) or ""
        assert doc, name
        if inspect.isfunction(obj) and name not in ("fit_lda",):
            # array-returning functions name their shapes as [..]
            assert "[" in doc or "Returns" in doc or ":class:" in doc, name
    assert issubclass(A.AnalysisError, ValueError)
