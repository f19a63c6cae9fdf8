"""load_demo, and train_demo end to end on a tiny synthetic corpus."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from slt_widgets.datasets import FrameDataset
from slt_widgets.demo import DEMO_NAMES, DemoDataMissingError, demo_data_dir, demo_table, load_demo
from slt_widgets.models import evaluate
from slt_widgets.models.train_demo import (fit_split, main as train_demo_main, select_utterances, utterance_order,
                                           wide_checkpoint_mb)

CLASSES = ("A", "B", "C", "SIL")


def synthetic_split(n_utts: int, seed: int, voices=("v1", "v2", "v3"), bands=6, context=2) -> FrameDataset:
    """Utterances of class-coloured frames with audio: learnable, tiny, spliced storage."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(99).normal(0, 2, size=(len(CLASSES), bands))
    frames, labels, bounds, audio, offsets = [], [], [], [], []
    t = a = 0
    for u in range(n_utts):
        n = int(rng.integers(20, 40))
        y = np.repeat(rng.integers(0, len(CLASSES), size=n // 5 + 1), 5)[:n]
        if u == 0:
            y[:4] = np.arange(4)          # the first utterance covers every class
        frames.append(means[y] + rng.normal(0, 0.7, size=(n, bands)))
        labels.append(y)
        bounds.append((t, t + n))
        w = rng.integers(-3000, 3000, size=n * 160 + 240).astype(np.int16)
        audio.append(w)
        offsets.append(a)
        t += n
        a += len(w)
    return FrameDataset(labels=np.concatenate(labels), class_names=CLASSES, feature_shape=(bands, 2 * context + 1),
                        _frames=np.concatenate(frames).astype(np.float16), _frame_index=np.arange(t),
                        _utt_of_sample=np.repeat(np.arange(n_utts), [b - a_ for a_, b in bounds]),
                        utt_bounds=np.array(bounds), utt_voice=tuple(voices[u % len(voices)] for u in range(n_utts)),
                        utt_text=tuple(f"sentence {u}" for u in range(n_utts)), context=context,
                        _audio=np.concatenate(audio), _audio_offsets=np.array(offsets), audio_rate=16000,
                        name="synthetic")


# ----------------------------------------------------------------------------- subsetting
def test_select_utterances_is_a_compact_faithful_copy(tmp_path):
    ds = synthetic_split(12, 0)
    pick = [7, 2, 11]
    sub = select_utterances(ds, pick)
    assert len(sub.utt_bounds) == 3 and sub.utt_text == ("sentence 7", "sentence 2", "sentence 11")
    for new, u in enumerate(pick):
        old_idx = np.flatnonzero(ds._utt_of_sample == u)
        new_idx = np.flatnonzero(sub._utt_of_sample == new)
        np.testing.assert_array_equal(sub.features_at(new_idx), ds.features_at(old_idx))   # splicing intact
        np.testing.assert_array_equal(sub.labels[new_idx], ds.labels[old_idx])
        w_new, _ = sub.audio(int(new_idx[10]))
        w_old, _ = ds.audio(int(old_idx[10]))
        np.testing.assert_array_equal(w_new, w_old)                                          # audio intact
    assert len(sub._frames) == len(sub) < len(ds._frames)
    sub.save(tmp_path / "s.npz")
    back = FrameDataset.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.features, sub.features)
    with pytest.raises(ValueError, match="distinct"):
        select_utterances(ds, [1, 1])


def test_utterance_order_covers_classes_then_voices():
    ds = synthetic_split(30, 1)
    order = utterance_order(ds, seed=3)
    assert sorted(order.tolist()) == list(range(30))
    assert np.array_equal(order, utterance_order(ds, seed=3))
    # the shortest prefix that covers all classes is short, and a prefix of 3 after it spans all voices
    cover = next(k for k in range(1, 31) if set(select_utterances(ds, order[:k]).labels) == set(range(4)))
    assert cover <= 4
    voices = {ds.utt_voice[u] for u in order[cover:cover + 3]}
    assert voices == {"v1", "v2", "v3"}


def test_fit_split_respects_the_byte_budget(tmp_path):
    ds = synthetic_split(40, 2)
    ds.save(tmp_path / "full.npz")
    full = (tmp_path / "full.npz").stat().st_size
    cut = fit_split(ds, full // 3, seed=0)
    cut.save(tmp_path / "cut.npz")
    assert (tmp_path / "cut.npz").stat().st_size <= full // 3
    assert 5 < len(cut.utt_bounds) < 40 and set(cut.labels) == set(range(4))
    assert len(fit_split(ds, full * 2).utt_bounds) == 40
    with pytest.raises(ValueError, match="budget-mb"):
        fit_split(ds, 100)


def test_wide_checkpoint_size_formula():
    # float16: 2 bytes per parameter (+ batch-norm statistics); 5 x 2048 does not fit a 40 MB budget
    assert wide_checkpoint_mb(2048) > 34.8
    assert 8.9 < wide_checkpoint_mb(1024) < 9.2


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    corpus = root / "corpus"
    corpus.mkdir()
    for i, (s, n) in enumerate((("train", 60), ("dev", 12), ("eval", 16), ("xeng", 8))):
        synthetic_split(n, 10 + i).save(corpus / f"{s}.npz")
    out = root / "data"
    full_eval = sum((corpus / f"{s}.npz").stat().st_size for s in ("dev", "eval", "xeng"))
    budget_bytes = 60_000 + 20_000 + full_eval / 2     # checkpoints with zip overhead, reserve, half the splits
    rc = train_demo_main(["--corpus", str(corpus), "--out", str(out), "--small-width", "16", "--wide-width", "32",
                          "--small-epochs", "6", "--wide-epochs", "4", "--budget-mb", f"{budget_bytes / 1e6:.4f}",
                          "--threads", "1", "--no-progress", "--batch-size", "64"])
    assert rc == 0
    return corpus, out, budget_bytes


def test_train_demo_writes_everything_within_budget(built):
    corpus, out, budget = built
    names = sorted(p.name for p in out.iterdir())
    assert names == ["demo_small.pt", "demo_wide.pt", "dev.npz", "eval.npz", "table1.json", "xeng.npz"]
    assert sum(p.stat().st_size for p in out.iterdir()) <= budget
    t = json.loads((out / "table1.json").read_text())
    assert set(t["rows"]) == {"small", "wide"} and set(t["rows"]["small"]) == {"train", "dev", "eval", "xeng"}
    assert t["rows"]["small"]["eval"] > 0.6          # learnable synthetic data, far above chance (0.25)
    assert t["architectures"]["wide"] == {"hidden": [32] * 5, "batch_norm": True, "dropout": 0.2}
    full_eval = FrameDataset.load(corpus / "eval.npz")
    shipped = FrameDataset.load(out / "eval.npz")
    assert len(shipped.utt_bounds) < len(full_eval.utt_bounds)          # cut to fit
    assert set(shipped.utt_text) <= set(full_eval.utt_text)             # whole utterances
    assert set(shipped.labels) == set(range(4))


def test_load_demo_from_built_data(built):
    _, out, _ = built
    t = demo_table(out)
    for name in DEMO_NAMES:
        for split in ("eval", "dev", "xeng"):
            model, ds = load_demo(name, split, data_dir=out)
            assert not model.training and ds.class_names == CLASSES and ds.has_audio
            assert model(torch.zeros(2, ds.n_features)).shape == (2, 4)
            assert evaluate(model, ds)["accuracy"] == t["shipped"][split]["accuracy"][name]
            assert ds.meta["demo"]["network"] == name


def test_train_demo_is_reproducible(built, tmp_path):
    corpus, out, budget = built
    rc = train_demo_main(["--corpus", str(corpus), "--out", str(tmp_path), "--small-width", "16", "--wide-width", "32",
                          "--small-epochs", "6", "--wide-epochs", "4", "--budget-mb", f"{budget / 1e6:.4f}",
                          "--threads", "1", "--no-progress", "--batch-size", "64"])
    assert rc == 0
    a, _ = load_demo("wide", data_dir=out)
    b, _ = load_demo("wide", data_dir=tmp_path)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)
    assert (out / "eval.npz").read_bytes() == (tmp_path / "eval.npz").read_bytes()


# ----------------------------------------------------------------------------- load_demo errors
@pytest.mark.parametrize("name,split,match", [("big", "eval", "'small', 'wide'"), ("small", "train", "'eval', 'dev', 'xeng'"),
                                              (3, "eval", "choose one of")])
def test_load_demo_rejects_bad_names(name, split, match):
    with pytest.raises(ValueError, match=match):
        load_demo(name, split)


def test_load_demo_missing_data_says_how_to_rebuild(tmp_path):
    with pytest.raises(DemoDataMissingError, match="python -m slt_widgets.models.train_demo"):
        load_demo("small", "eval", data_dir=tmp_path)
    assert issubclass(DemoDataMissingError, FileNotFoundError)


@pytest.mark.skipif(not (demo_data_dir() / "demo_wide.pt").is_file(), reason="package demo data not built yet")
@pytest.mark.parametrize("name", DEMO_NAMES)
def test_package_demo_loads_fast_and_offline(name, monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("load_demo tried to reach the network")
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    t0 = time.perf_counter()
    model, ds = load_demo(name, "eval")
    assert time.perf_counter() - t0 < 3.0
    assert ds.feature_shape == (23, 11) and ds.n_classes == 40 and len(ds.class_names) == 40
    t = demo_table()
    assert evaluate(model, ds)["accuracy"] == pytest.approx(t["shipped"]["eval"]["accuracy"][name], abs=1e-9)
    assert sum(p.stat().st_size for p in demo_data_dir().iterdir() if p.is_file()) <= 40e6


def test_train_demo_reuse_small_keeps_those_weights(built, tmp_path):
    corpus, out, budget = built
    rc = train_demo_main(["--corpus", str(corpus), "--out", str(tmp_path), "--small-width", "16", "--wide-width", "32",
                          "--wide-epochs", "1", "--budget-mb", f"{budget / 1e6:.4f}", "--threads", "1", "--no-progress",
                          "--batch-size", "64", "--reuse-small", str(out / "demo_small.pt")])
    assert rc == 0
    a, _ = load_demo("small", data_dir=out)
    b, _ = load_demo("small", data_dir=tmp_path)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)
    t_old, t_new = demo_table(out), demo_table(tmp_path)
    # the old table scored the float32 weights, the new one their float16 copy
    assert t_new["rows"]["small"]["eval"] == pytest.approx(t_old["rows"]["small"]["eval"], abs=0.05)
    assert t_new["training"]["small"] == t_old["training"]["small"]
    with pytest.raises(ValueError, match="reuse-small"):
        train_demo_main(["--corpus", str(corpus), "--out", str(tmp_path / "x"), "--small-width", "8",
                         "--wide-width", "32", "--budget-mb", f"{budget / 1e6:.4f}", "--no-progress", "--reuse-small",
                         str(out / "demo_small.pt")])
