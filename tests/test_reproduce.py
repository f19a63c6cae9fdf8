"""The reproduction report end to end on digits (the stand-in for the demo nets)."""
import argparse
import csv

import pytest

from slt_widgets.reproduce import add_arguments, run_cli

FIGURES = ["fig2", "fig3", "fig4", "fig5abc", "fig5def", "fig6", "fig7a", "fig7bcd", "fig8a", "fig8b", "fig8c"]
CLAIMS = [("Table 2", "LDA-separable"), ("Fig. 2D", "raw count"), ("Fig. 2D", "per live node"),
          ("Fig. 3C", "EVR AUC rises"), ("Fig. 3C", "within-class AUC falls"), ("Fig. 5F", "mean ratio"),
          ("Fig. 5F", "share of classes"), ("Fig. 7A", "node SLT AUC"), ("Fig. 7B", "negatively"),
          ("Fig. 7D", "Σ_INC − Σ_COR"), ("Fig. 8A", "centroid"), ("Fig. 8B", "clusters"),
          ("Fig. 8C", "/s/–/z/"), ("Fig. 8C", "/m/–/n/")]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    args = add_arguments(argparse.ArgumentParser()).parse_args(["--out", str(out), "--digits", "--controls"])
    assert run_cli(args) == 0
    return out


def test_every_figure_and_the_report_are_written(report):
    for f in FIGURES:
        p = report / f"digits-5x64_{f}.png"
        assert p.exists() and p.stat().st_size > 5000, f
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    for f in FIGURES:
        assert f"digits-5x64_{f}.png" in html and f"digits-5x64_{f}.png" in md
    assert "http" not in html                                  # nothing fetched from a CDN
    assert "Controls (digits-5x64)" in md and "random init" in md


def test_claims_table_has_every_row_with_a_verdict(report):
    rows = list(csv.reader(open(report / "claims.csv", encoding="utf-8")))
    assert rows[0] == ["network", "figure", "paper claim", "measured", "ρ / r", "verdict"]
    body = rows[1:]
    for fig, words in CLAIMS:
        hit = [r for r in body if r[1] == fig and words in r[2]]
        assert len(hit) == 1, (fig, words)
        verdict = hit[0][5]
        assert verdict.startswith(("holds", "does not hold", "qualitative", "not measured")), verdict
    # digits lacks phonemes: the speech-only pairs are reported as skipped, not silently dropped
    assert all(r[5].startswith("not measured") for r in body if r[1] == "Fig. 8C")
    assert "holds" in (report / "report.md").read_text().split("## Network")[0]


def test_control_nets_are_cached_and_reused(tmp_path, monkeypatch):
    """--control-cache: the first run trains and saves the control net, a rerun loads it untrained."""
    import torch
    from slt_widgets.datasets import load_digits_dataset
    from slt_widgets.models import mlp
    from slt_widgets.reproduce import controls
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split, name in (("train", "train"), ("eval", "dev"), ("eval", "eval")):
        load_digits_dataset(split).save(corpus / f"{name}.npz")
    spec_model = mlp(64, (8, 8), 10)
    cache = tmp_path / "cache" / "net_clean_seed0.pt"
    m1, dv, ev = controls._train_on(corpus, spec_model, 0, 1, 60.0, cache)
    assert cache.is_file() and len(ev) == len(dv)

    def no_training(*a, **k):
        raise AssertionError("a cached control net was trained again")
    monkeypatch.setattr("slt_widgets.models.train", no_training)
    m2, _, _ = controls._train_on(corpus, spec_model, 0, 1, 60.0, cache)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b)
    # a cache written for another corpus is not taken for this one
    other = tmp_path / "other"
    other.mkdir()
    for f in corpus.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    with pytest.raises(AssertionError, match="trained again"):
        controls._train_on(other, spec_model, 0, 1, 60.0, cache)


def test_seed_spread_gives_min_and_max_per_layer_for_each_corpus():
    import numpy as np
    from slt_widgets.reproduce.controls import TRENDS, seed_spread
    run = lambda v: {k: np.array(v, float) for k in TRENDS}          # noqa: E731
    cols = ["trained", "random init", "clean seed 0", "clean seed 1", "hard seed 0"]
    res = [run([0, 0]), run([9, 9]), run([1.0, 5.0]), run([2.0, 4.0]), run([7.0, 7.0])]
    rows = seed_spread(cols, res)
    assert len(rows) == len(TRENDS)                                 # hard has one seed: no spread
    assert all(r[1] == "clean" and r[2] == "1–2, 4–5" for r in rows)
