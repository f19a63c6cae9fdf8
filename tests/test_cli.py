"""`python -m slt_widgets`: help, subcommands and the reproduce hook."""
from __future__ import annotations

import subprocess
import sys
import tomllib
import types
from importlib import import_module
from pathlib import Path

import pytest

import slt_widgets
from slt_widgets import __main__ as cli
from slt_widgets.demo import demo_data_dir

ROOT = Path(__file__).resolve().parent.parent


def test_module_help_runs_in_a_fresh_interpreter():
    r = subprocess.run([sys.executable, "-m", "slt_widgets", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    for word in ("summary", "explore", "reproduce", "train-demo", "--name", "--split"):
        assert word in r.stdout


def test_console_script_points_at_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    mod, func = scripts["slt-widgets"].split(":")
    assert getattr(import_module(mod), func) is cli.main


def test_explore_prints_working_instructions(capsys):
    assert cli.main(["explore", "--name", "wide", "--cls", "S"]) == 0
    out = capsys.readouterr().out
    assert 'load_demo("wide", "eval")' in out and 'cls="S"' in out and "jupyter lab" in out
    assert callable(slt_widgets.load_demo) and "Explorer" in slt_widgets.__all__


def test_bad_choice_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--name", "huge"])
    assert e.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


def _fake_reproduce(monkeypatch, with_parser=True):
    calls = {}
    mod = types.ModuleType("slt_widgets.reproduce")
    mod.__doc__ = "fake reproduce"
    if with_parser:
        def add_arguments(p):
            p.add_argument("--out", required=True)
            p.add_argument("--seed", type=int, default=0)
            return p

        def run_cli(args):
            calls["args"] = args
            return 7
        mod.add_arguments, mod.run_cli = add_arguments, run_cli
    else:
        def main(argv):
            calls["argv"] = argv
            return 5
        mod.main = main
    monkeypatch.setitem(sys.modules, "slt_widgets.reproduce", mod)
    return calls


def test_reproduce_hook_forwards_arguments(monkeypatch, capsys):
    calls = _fake_reproduce(monkeypatch)
    assert cli.main(["reproduce", "--out", "rep", "--seed", "3"]) == 7
    assert calls["args"].out == "rep" and calls["args"].seed == 3
    with pytest.raises(SystemExit) as e:
        cli.main(["reproduce", "--help"])            # help comes from the reproduce module's own options
    assert e.value.code == 0 and "--out" in capsys.readouterr().out
    calls = _fake_reproduce(monkeypatch, with_parser=False)
    assert cli.main(["reproduce", "--anything", "x"]) == 5 and calls["argv"] == ["--anything", "x"]


def test_train_demo_subcommand_forwards_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train-demo", "--help"])
    assert e.value.code == 0 and "--wide-width" in capsys.readouterr().out


def test_summary_without_data_says_how_to_rebuild(monkeypatch, tmp_path, capsys):
    import slt_widgets.demo as demo
    monkeypatch.setattr(demo, "demo_data_dir", lambda: tmp_path)
    assert cli.main([]) == 1
    assert "python -m slt_widgets.models.train_demo" in capsys.readouterr().err


@pytest.mark.skipif(not (demo_data_dir() / "demo_small.pt").is_file(), reason="package demo data not built yet")
def test_summary_with_demo_data(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "hidden layers" in out and "frame accuracy on eval" in out and "SIL" in out
    assert "Table 1 analogue" in out and "Explorer(model, dataset" in out
