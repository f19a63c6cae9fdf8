"""Every writer of the package: a symlink planted at any path it writes is never followed, and a
failure leaves the old file (or nothing), never half a file (issue 15, "Unsafe").

The attacker's move: before the victim writes ``out/report.md`` (or ``x.npz``, or the
temporary ``x.npz.partial.npz`` an older version used), plant a symlink there pointing at a file
they want overwritten. Each writer must replace the link itself (``mkstemp`` + ``os.replace``)
and leave the pointed-at file byte for byte as it was.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from slt_widgets._files import atomic_open, atomic_write_bytes
from slt_widgets.datasets import FrameDataset, load_digits_dataset
from slt_widgets.models import load_checkpoint, mlp, save_checkpoint

VICTIM_TEXT = b"precious: must never be overwritten\n"


@pytest.fixture()
def victim(tmp_path):
    v = tmp_path / "victim" / "precious.txt"
    v.parent.mkdir()
    v.write_bytes(VICTIM_TEXT)
    return v


def plant(link: Path, victim: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    return link


def untouched(victim: Path) -> bool:
    return victim.read_bytes() == VICTIM_TEXT


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name or p.name.startswith("."))


def small_ds():
    ds = load_digits_dataset("eval")
    return ds.subset(np.arange(60))


def test_frame_dataset_save_never_follows_a_planted_link(tmp_path, victim):
    out = tmp_path / "data" / "split.npz"
    # the old predictable temporary name, and the target itself
    plant(out.with_name(out.name + ".partial.npz"), victim)
    plant(out, victim)
    ds = small_ds()
    ds.save(out)
    assert untouched(victim)
    assert not out.is_symlink() and FrameDataset.load(out).labels.tolist() == ds.labels.tolist()
    assert leftovers(out.parent) == [out.name + ".partial.npz"]      # only the planted link, still a link


def test_checkpoint_save_never_follows_a_planted_link(tmp_path, victim):
    out = tmp_path / "ck" / "net.pt"
    plant(out, victim)
    plant(out.with_name(out.name + ".partial"), victim)
    save_checkpoint(out, mlp(6, (5,), 3), ["a", "b", "c"], (2, 3))
    assert untouched(victim) and not out.is_symlink()
    assert load_checkpoint(out)[1]["class_names"] == ("a", "b", "c")


def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    out = tmp_path / "f.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_open(out) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk full")
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    atomic_write_bytes(out, b"new")
    assert out.read_bytes() == b"new" and (out.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_widget_pngs_never_follow_a_planted_link(tmp_path, victim):
    from slt_widgets.reproduce import train_toy_mlp
    from slt_widgets.widgets import Explorer, LayerSummary
    ds = small_ds()
    model = train_toy_mlp(ds, hidden=(12,), steps=20, seed=0)
    ex = Explorer(model, ds, cls=ds.class_names[int(ds.labels[0])], max_samples=60)
    targets = {"explorer": lambda p: ex.to_png(p), "tree": lambda p: ex.tree.to_png(p),
               "templates": lambda p: ex.templates.to_png(p), "spectra": lambda p: ex.spectra.to_png(p),
               "embedding": lambda p: ex.embedding.to_png(p),
               "summary": lambda p: LayerSummary(model, ds, node_samples=40, max_train=60,
                                                 max_eval=60).to_png(p)}
    for name, write in targets.items():
        p = plant(tmp_path / "png" / f"{name}.png", victim)
        write(p)
        assert untouched(victim), name
        assert not p.is_symlink() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert leftovers(tmp_path / "png") == []


# --------------------------------------------------------------------------------- reproduce
def _fake_stages(monkeypatch, stages):
    import slt_widgets.reproduce as R
    monkeypatch.setattr(R, "STAGES", stages)


def _stage_ok(ctx):
    from slt_widgets.reproduce.figures import plt, save
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ctx.doc.img(save(fig, ctx.out, ctx.fig("ok.png")), "a figure")
    ctx.res["ok"] = 1
    return [("Fig. 1", "a claim", "measured", 0.5, "holds")]


def _stage_sklearn_error(ctx):
    raise ValueError("n_components cannot be larger than min(n_features, n_classes - 1)")


def _stage_needs(ctx):
    return [("Fig. 9", "needs lda", str(ctx.res["lda"]), 0.1, "holds")]


def _source():
    from slt_widgets.reproduce import Source
    from slt_widgets.reproduce.stages import Budget
    ds = small_ds()
    return Source("toy", torch.nn.Linear(64, 10), ds, ds, budget=Budget())


def test_report_never_follows_planted_links_and_marks_failed_stages(tmp_path, victim, monkeypatch):
    from slt_widgets.reproduce import build_report
    _fake_stages(monkeypatch, [("ok", _stage_ok, "all"), ("lda", _stage_sklearn_error, "all"),
                               ("needs lda", _stage_needs, "all")])
    out = tmp_path / "report"
    for name in ("report.md", "report.html", "claims.csv", "claims.md", "toy_ok.png"):
        plant(out / name, victim)
    res = build_report([_source()], out)
    assert untouched(victim)
    for name in ("report.md", "report.html", "claims.csv", "claims.md", "toy_ok.png"):
        assert (out / name).is_file() and not (out / name).is_symlink(), name
    md = (out / "report.md").read_text()
    assert "a claim" in md                                   # the stage that could finish did
    assert "not measured (ValueError: n_components cannot be larger" in md
    assert "not measured (it needs the result of lda, which failed)" in md
    assert [f.split(":")[0] for f in res["failed"]] == ["lda on toy", "needs lda on toy"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []


def test_interrupted_report_leaves_no_partial_folder(tmp_path, monkeypatch):
    from slt_widgets.reproduce import build_report

    def interrupted(ctx):
        raise KeyboardInterrupt
    _fake_stages(monkeypatch, [("ok", _stage_ok, "all"), ("stop", interrupted, "all")])
    with pytest.raises(KeyboardInterrupt):
        build_report([_source()], tmp_path / "new_report")
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # neither the folder nor its work folder
    # a rerun that finishes creates it whole, readable by others as a normal folder is
    _fake_stages(monkeypatch, [("ok", _stage_ok, "all")])
    res = build_report([_source()], tmp_path / "new_report")
    assert res["report"] == tmp_path / "new_report" / "report.md" and res["report"].is_file()
    assert ((tmp_path / "new_report").stat().st_mode & 0o777) == 0o777 & ~_umask()


def test_reproduce_cli_exits_non_zero_when_a_stage_failed(tmp_path, monkeypatch, capsys):
    from slt_widgets import __main__ as cli
    import slt_widgets.reproduce as R
    _fake_stages(monkeypatch, [("ok", _stage_ok, "all"), ("lda", _stage_sklearn_error, "all")])
    monkeypatch.setattr(R, "resolve_sources", lambda args: [_source()])
    assert cli.main(["reproduce", "--out", str(tmp_path / "r"), "--digits"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("slt_widgets")]   # not tqdm
    assert err == ["slt_widgets reproduce: not measured: lda on toy: ValueError: n_components cannot be larger "
                   "than min(n_features, n_classes - 1)"]
    assert (tmp_path / "r" / "report.md").is_file()


def test_control_cache_checkpoint_never_follows_a_planted_link(tmp_path, victim):
    from slt_widgets.reproduce import controls
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("train", "dev", "eval"):
        small_ds().save(corpus / f"{name}.npz")
    cache = plant(tmp_path / "cache" / "net_clean_seed0.pt", victim)
    controls._train_on(corpus, mlp(64, (6,), 10), 0, 1, 30.0, cache)
    assert untouched(victim) and not cache.is_symlink() and load_checkpoint(cache)[1]["feature_shape"] == (8, 8)


def test_report_shows_markup_in_class_names_as_text(tmp_path, monkeypatch):
    from slt_widgets.reproduce import build_report
    evil = '<img src=x onerror="alert(1)">'

    def stage(ctx):
        from slt_widgets.reproduce.figures import plt, save
        fig, ax = plt.subplots()
        ax.set_title("class $\\foo$")                # mathtext would fail to parse: drawn as text
        ctx.doc.img(save(fig, ctx.out, ctx.fig("dollar.png")), "dollars")
        ctx.doc.h(f"SLT clusters of /{evil}/", 3)
        ctx.doc.p(f"class {evil} | with a pipe")
        return [("Fig. 6", f"clusters of {evil}", evil, 0.5, "holds")]
    _fake_stages(monkeypatch, [("evil", stage, "all")])
    build_report([_source()], tmp_path / "r")
    for name in ("report.md", "claims.md", "report.html"):
        text = (tmp_path / "r" / name).read_text()
        assert "<img src=x" not in text and "&lt;img" in text, name
    assert "class &lt;img src=x" in (tmp_path / "r" / "report.md").read_text()
    assert (tmp_path / "r" / "toy_dollar.png").read_bytes()[:4] == b"\x89PNG"
