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


# ------------------------------------------------------------------ hostile / careless input (issue 15)
def _cli(*argv, cwd=None):
    """Run ``python -m slt_widgets ARGV`` in a fresh interpreter: (exit status, stderr lines)."""
    import os
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("SLT_WIDGETS_TRACEBACK", None)
    r = subprocess.run([sys.executable, "-m", "slt_widgets", *argv], cwd=cwd or ROOT, capture_output=True,
                       text=True, timeout=300, env=env)
    return r.returncode, [ln for ln in r.stderr.splitlines() if ln.strip()]


@pytest.mark.parametrize("case", ["file", "proc", "proc-deep"])
def test_reproduce_out_that_cannot_be_written_is_one_line(tmp_path, case):
    target = {"file": tmp_path / "a_file", "proc": Path("/proc/slt_report"),
              "proc-deep": Path("/proc/self/nope/report")}[case]
    if case == "file":
        target.write_text("not a folder")
    rc, err = _cli("reproduce", "--out", str(target), "--digits")
    assert rc == 1 and len(err) == 1, err
    assert "Traceback" not in err[0] and str(target) in err[0] or str(target.parent) in err[0]
    assert ("is a file; give a folder" in err[0]) if case == "file" else ("give --out a folder you can write to" in err[0])


@pytest.mark.parametrize("argv, words", [
    (["--max-frames", "-5"], "argument --max-frames: -5 is too small: give a whole number ≥ 1"),
    (["--max-frames", "0"], "argument --max-frames: 0 is too small"),
    (["--max-frames", "many"], "argument --max-frames: 'many' is not a whole number"),
    (["--control-seeds", "1"], "argument --control-seeds: 1 is too small: give a whole number ≥ 2"),
    (["--control-seconds", "nan"], "argument --control-seconds: nan must be a finite number > 0"),
])
def test_reproduce_bad_numbers_are_one_line(tmp_path, argv, words):
    rc, err = _cli("reproduce", "--out", str(tmp_path / "r"), "--digits", *argv)
    assert rc == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "r").exists()


def test_reproduce_checkpoint_with_splits_of_other_classes_is_refused(tmp_path):
    import numpy as np
    from slt_widgets.datasets import FrameDataset, load_digits_dataset
    from slt_widgets.models import mlp, save_checkpoint
    ds = load_digits_dataset("eval")
    ck = save_checkpoint(tmp_path / "net.pt", mlp(64, (8,), 10), [f"c{k}" for k in range(10)], (8, 8))
    ds.save(tmp_path / "digits.npz")                    # classes "0".."9", not c0..c9
    rc, err = _cli("reproduce", "--out", str(tmp_path / "r"), "--checkpoint", str(ck),
                   "--dev", str(tmp_path / "digits.npz"), "--eval", str(tmp_path / "digits.npz"))
    assert rc == 1 and len(err) == 1, err
    assert "--dev" in err[0] and "differ from the 10 of checkpoint" in err[0] and "only in the data: ['0'" in err[0]
    assert not (tmp_path / "r").exists()
    wide = FrameDataset.from_arrays(np.zeros((20, 65), np.float32), np.arange(20) % 10, [f"c{k}" for k in range(10)])
    wide.save(tmp_path / "wide.npz")
    rc, err = _cli("reproduce", "--out", str(tmp_path / "r"), "--checkpoint", str(ck),
                   "--dev", str(tmp_path / "wide.npz"), "--eval", str(tmp_path / "wide.npz"))
    assert rc == 1 and len(err) == 1 and "65 features per sample but checkpoint" in err[0], err


def test_any_error_is_one_line_without_traceback(tmp_path):
    rc, err = _cli("reproduce", "--out", str(tmp_path / "r"), "--checkpoint", str(tmp_path / "none.pt"),
                   "--dev", "a", "--eval", "b")
    assert rc == 1 and err == [f"python -m slt_widgets reproduce: error: no checkpoint at {tmp_path / 'none.pt'}; "
                               "write one with slt_widgets.models.save_checkpoint"]
    rc, err = _cli("--name", "huge")
    assert rc == 2 and len(err) == 1 and "invalid choice: 'huge'" in err[0]
