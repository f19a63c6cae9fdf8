"""One dependency order inside slt_widgets: no module imports one that imports it back, at any
level — an import inside a function that dodges a cycle at load time counts like any other."""
from __future__ import annotations

import ast
from pathlib import Path

import slt_widgets

PACKAGE = Path(slt_widgets.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set) -> set:
    """Modules of the package that ``path`` imports anywhere in its body (resolved, package-relative)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:          # `from .x import name` → the module x
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: _imports(p, set(files)) for m, p in files.items()}


def _cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def _without_package_inits(graph: dict) -> dict:
    """A package's ``__init__`` re-exports its submodules; a submodule importing a sibling through
    the package (``from . import x``) resolves to that sibling, not to the ``__init__``."""
    inits = {m for m in graph if any(k.startswith(m + ".") for k in graph)}
    return {m: {n for n in deps if not (n in inits and m.startswith(n + "."))} for m, deps in graph.items()}


def test_no_import_cycle_inside_the_package():
    graph = _without_package_inits(_graph())
    assert "slt_widgets.engine.slt" in graph and graph["slt_widgets.engine.slt"]
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_and_function_level_imports():
    src = "def f():\n    from .b import g\n"
    tmp = {"p.a": {"p.b"}, "p.b": {"p.a"}}
    assert _cycle(tmp) == ["p.a", "p.b", "p.a"]
    assert "b" in {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}


def test_the_engine_never_imports_widget_code():
    graph = _graph()
    for m, deps in graph.items():
        if m.startswith("slt_widgets.engine"):
            assert not {d for d in deps if d.startswith("slt_widgets.widgets")}, m


def test_every_error_the_engine_raises_is_an_slt_input_error():
    import slt_widgets.engine.errors as errors
    ours = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.SLTInputError)}
    bad = []
    for path in list((PACKAGE / "engine").glob("*.py")) + [PACKAGE / "distributed.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                name = node.exc.func.id
                if not name.startswith("_") and name not in ours and name != "ImportError":
                    bad.append(f"{path.name}:{node.lineno} raises {name}")
    assert not bad, bad


def _private_imports(path: Path, modules: set) -> list[str]:
    """``from <package module> import _name`` statements of ``path`` (any level), as text."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        if base not in modules:
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__") and f"{base}.{alias.name}" not in modules:
                out.append(f"{name}:{node.lineno} imports {base}.{alias.name}")
    return out


def test_no_module_imports_a_private_name_of_the_engine():
    """The engine's modules talk through public names only (the model's reading and its verbs);
    nothing else in the package reaches into the engine's private names either."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    bad = []
    for m, p in files.items():
        for line in _private_imports(p, set(files)):
            target = line.split(" imports ")[1]
            if m.startswith("slt_widgets.engine") or target.startswith("slt_widgets.engine"):
                bad.append(line)
    assert not bad, bad


def test_the_private_import_finder_finds_relative_and_absolute_imports(tmp_path):
    pkg = tmp_path / "slt_widgets" / "engine"
    pkg.mkdir(parents=True)
    path = pkg / "a.py"
    path.write_text("def f():\n    from .b import _hidden, shown\nfrom slt_widgets.engine.b import _other\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "slt_widgets"
    try:
        found = _private_imports(path, {"slt_widgets.engine.a", "slt_widgets.engine.b"})
    finally:
        PACKAGE = saved
    assert sorted(found) == ["slt_widgets.engine.a:2 imports slt_widgets.engine.b._hidden",
                     "slt_widgets.engine.a:3 imports slt_widgets.engine.b._other"]
