"""Corpus loaders on tiny Kaldi / TIMIT / TextGrid files written here."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from scipy.io import wavfile

from slt_widgets.datasets.loaders import (TIMIT_61_TO_39, CorpusFormatError, audio_features, default_phone_map,
                                          load_kaldi, load_textgrid, load_timit, read_audio, read_kaldi_matrices,
                                          read_textgrid)
from slt_widgets.datasets.speech.features import cmvn, fbank_numpy
from slt_widgets.datasets.speech.phonemes import PHONEME_CLASSES

RATE = 16000


# ----------------------------------------------------------------------------- helpers
def kaldi_binary_entry(key: str, m: np.ndarray, double=False) -> tuple[bytes, int]:
    """Bytes of one binary ark entry and the offset of its matrix inside them."""
    head = key.encode() + b" "
    body = b"\x00B" + (b"DM " if double else b"FM ") + b"\x04" + struct.pack("<i", m.shape[0]) + \
        b"\x04" + struct.pack("<i", m.shape[1]) + m.astype("<f8" if double else "<f4").tobytes()
    return head + body, len(head)


def kaldi_text_entry(key: str, m: np.ndarray) -> str:
    rows = "\n".join("  " + " ".join(f"{v:.6g}" for v in r) for r in m)
    return f"{key}  [\n{rows} ]\n"


def test_default_phone_map():
    assert default_phone_map("AH0_B") == "AH"
    assert default_phone_map("ah1") == "AH"
    assert default_phone_map("sil") == "SIL"
    assert default_phone_map("SIL_S") == "SIL"
    assert default_phone_map("spn") == "SIL"
    assert default_phone_map("") == "SIL"
    assert default_phone_map("ZH") == "ZH"


def test_timit_map_is_the_61_phone_folding():
    assert len(TIMIT_61_TO_39) == 61
    targets = {v for v in TIMIT_61_TO_39.values() if v is not None}
    assert targets <= set(PHONEME_CLASSES)
    assert targets == set(PHONEME_CLASSES)            # every class is reachable
    assert TIMIT_61_TO_39["ix"] == "IH" and TIMIT_61_TO_39["axr"] == "ER" and TIMIT_61_TO_39["tcl"] == "SIL"
    assert TIMIT_61_TO_39["q"] is None and TIMIT_61_TO_39["dx"] == "T" and TIMIT_61_TO_39["zh"] == "ZH"


# ----------------------------------------------------------------------------- Kaldi
@pytest.fixture
def kaldi_files(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 23)).astype(np.float32) * 3 + 5
    b = rng.normal(size=(20, 23)).astype(np.float32)
    c = rng.normal(size=(12, 23)).astype(np.float32)
    ea, oa = kaldi_binary_entry("spk1_u1", a)
    eb, ob = kaldi_binary_entry("spk2_u2", b, double=True)
    ark = tmp_path / "feats.ark"
    ark.write_bytes(ea + eb)
    scp = tmp_path / "feats.scp"
    scp.write_text(f"spk1_u1 {ark}:{oa}\nspk2_u2 {ark}:{len(ea) + ob}\n")
    txt = tmp_path / "feats_text.ark"
    txt.write_text(kaldi_text_entry("spk3_u3", c))
    labs = {"spk1_u1": ["sil_S"] * 10 + ["AH0_B"] * 5 + ["ZH1_E"] * 15,
            "spk2_u2": ["SIL"] * 4 + ["S_B"] * 16,
            "spk3_u3": ["sil"] * 6 + ["K_S"] * 6}
    ali = tmp_path / "ali.txt"
    ali.write_text("".join(f"{k} {' '.join(v)}\n" for k, v in labs.items()))
    return dict(a=a, b=b, c=c, ark=ark, scp=scp, txt=txt, ali=ali, labs=labs, tmp=tmp_path)


def test_kaldi_binary_and_scp_readers_agree(kaldi_files):
    f = kaldi_files
    from_ark = read_kaldi_matrices(f["ark"])
    from_scp = read_kaldi_matrices(f["scp"])
    assert list(from_ark) == ["spk1_u1", "spk2_u2"]
    np.testing.assert_array_equal(from_ark["spk1_u1"], f["a"])
    np.testing.assert_array_equal(from_ark["spk2_u2"], f["b"])       # DM read as float32
    for k in from_ark:
        np.testing.assert_array_equal(from_ark[k], from_scp[k])
    text = read_kaldi_matrices(f["txt"])
    np.testing.assert_allclose(text["spk3_u3"], f["c"], rtol=1e-5, atol=1e-5)


def test_load_kaldi_layout_labels_and_cmvn(kaldi_files):
    f = kaldi_files
    ds = load_kaldi(f["scp"], f["ali"], missing="error")
    assert len(ds) == 50 and ds.feature_shape == (23, 11) and ds.class_names == PHONEME_CLASSES
    expect = [default_phone_map(p) for p in f["labs"]["spk1_u1"] + f["labs"]["spk2_u2"]]
    assert [ds.class_names[i] for i in ds.labels] == expect
    # centre column of the band-major template is the CMVN'd frame itself (float16 storage)
    x = ds.features_at(np.arange(30)).reshape(30, 23, 11)
    np.testing.assert_allclose(x[:, :, 5], cmvn(f["a"]), atol=2e-3)
    # left context of the first frame repeats the first frame (no crossing utterance start)
    np.testing.assert_array_equal(x[0, :, 0], x[0, :, 5])
    # frame 30 is the first of the next utterance: its left context is itself, not utterance 1
    y = ds.features_at([30]).reshape(23, 11)
    np.testing.assert_array_equal(y[:, 0], y[:, 5])
    assert ds.utterance_of(35)["utterance"] == 1


def test_load_kaldi_text_ark_integer_ids_and_errors(kaldi_files):
    f, tmp = kaldi_files, kaldi_files["tmp"]
    phones = tmp / "phones.txt"
    phones.write_text("<eps> 0\nsil 1\nK_S 2\n")
    ali = tmp / "ali_int.txt"
    ali.write_text("spk3_u3 " + " ".join(["1"] * 6 + ["2"] * 6) + "\n")
    ds = load_kaldi(f["txt"], ali, phones=phones, cmvn=False)
    assert [ds.class_names[i] for i in ds.labels] == ["SIL"] * 6 + ["K"] * 6
    np.testing.assert_allclose(ds.features_at(np.arange(12)).reshape(12, 23, 11)[:, :, 5], f["c"], atol=5e-3)
    with pytest.raises(CorpusFormatError, match="phones="):
        load_kaldi(f["txt"], ali)
    # frame-count mismatch, unmapped phone, missing alignment
    bad = tmp / "bad.txt"
    bad.write_text("spk3_u3 " + " ".join(["sil"] * 11) + "\n")
    with pytest.raises(CorpusFormatError, match="12 feature frames but 11"):
        load_kaldi(f["txt"], bad)
    weird = tmp / "weird.txt"
    weird.write_text("spk3_u3 " + " ".join(["sil"] * 6 + ["XX"] * 6) + "\n")
    with pytest.raises(CorpusFormatError, match="phone_map"):
        load_kaldi(f["txt"], weird)
    ds = load_kaldi(f["txt"], weird, phone_map=lambda p: "SIL" if p == "sil" else "AA")
    assert [ds.class_names[i] for i in ds.labels][-1] == "AA"
    with pytest.raises(CorpusFormatError, match="missing='skip'"):
        load_kaldi(f["ark"], f["ali"].parent / "ali_int.txt", phones=phones)
    with pytest.warns(UserWarning, match="skipped 1"):
        part = load_kaldi(f["scp"], {"spk1_u1": f["labs"]["spk1_u1"]}, missing="skip")
    assert len(part) == 30


def test_kaldi_refuses_compressed_and_truncated(tmp_path):
    cm = tmp_path / "cm.ark"
    cm.write_bytes(b"u1 \x00BCM " + b"\x00" * 40)
    with pytest.raises(CorpusFormatError, match="compress=false"):
        read_kaldi_matrices(cm)
    entry, _ = kaldi_binary_entry("u1", np.ones((5, 3), np.float32))
    tr = tmp_path / "tr.ark"
    tr.write_bytes(entry[:-7])
    with pytest.raises(CorpusFormatError, match="truncated"):
        read_kaldi_matrices(tr)


# ----------------------------------------------------------------------------- audio + TIMIT
def synth_wave(seed=0, seconds=0.8):
    """Three acoustically different parts: quiet noise, a 300 Hz tone, loud white noise (int16 scale)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    w = rng.normal(0, 30, n)
    a, b = n // 3, 2 * n // 3
    w[a:b] += 8000 * np.sin(2 * np.pi * 300 * t[a:b])
    w[b:] += rng.normal(0, 6000, n - b)
    return np.clip(np.round(w), -32768, 32767).astype(np.int16)


def write_sphere(path, wave: np.ndarray, big_endian=False):
    hdr = ("NIST_1A\n   1024\nsample_count -i {n}\nsample_rate -i 16000\nchannel_count -i 1\n"
           "sample_n_bytes -i 2\nsample_byte_format -s2 {bo}\nsample_coding -s3 pcm\nend_head\n"
           ).format(n=len(wave), bo="10" if big_endian else "01").encode()
    data = wave.astype(">i2" if big_endian else "<i2").tobytes()
    path.write_bytes(hdr.ljust(1024, b" ") + data)


PHN = [(0, 4000, "h#"), (4000, 5000, "q"), (5000, 8533, "ix"), (8533, 9000, "tcl"), (9000, 10666, "t"),
       (10666, 12800, "s"), (12800, 12800 + 32, "zh")]


def write_timit(root, big_endian=False, riff=False):
    spk = root / "TRAIN" / "DR1" / "FAKE0"
    spk.mkdir(parents=True)
    w = synth_wave()
    if riff:
        wavfile.write(spk / "SX1.WAV", RATE, w)
    else:
        write_sphere(spk / "SX1.WAV", w, big_endian)
    (spk / "SX1.PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in PHN))
    (spk / "SX1.TXT").write_text("0 12832 It is a test.\n")
    if riff:
        wavfile.write(spk / "SA1.WAV", RATE, w)
    else:
        write_sphere(spk / "SA1.WAV", w)
    (spk / "SA1.PHN").write_text("0 12800 h#\n")
    return w


def test_read_audio_sphere_both_byte_orders_and_riff(tmp_path):
    w = synth_wave()
    for name, writer in (("le.wav", lambda p: write_sphere(p, w)), ("be.wav", lambda p: write_sphere(p, w, True)),
                         ("riff.wav", lambda p: wavfile.write(p, RATE, w))):
        writer(tmp_path / name)
        x, rate = read_audio(tmp_path / name)
        assert rate == RATE
        np.testing.assert_array_equal(x, w.astype(np.float32))
    stereo = tmp_path / "st.wav"
    wavfile.write(stereo, RATE, np.stack([w, np.zeros_like(w)], 1))
    np.testing.assert_allclose(read_audio(stereo)[0], w / 2)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"hello world" * 10)
    with pytest.raises(CorpusFormatError, match="neither"):
        read_audio(junk)
    sh = tmp_path / "sh.wav"
    sh.write_bytes(b"NIST_1A\n   1024\nsample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n".ljust(1024) + b"\0" * 10)
    with pytest.raises(CorpusFormatError, match="sph2pipe"):
        read_audio(sh)


def test_audio_features_match_numpy_reference():
    w = synth_wave().astype(np.float32)
    np.testing.assert_allclose(audio_features(w, RATE), cmvn(fbank_numpy(w)), atol=2e-2)


@pytest.mark.parametrize("fmt", ["sphere", "sphere_be", "riff"])
def test_load_timit(tmp_path, fmt):
    w = write_timit(tmp_path, big_endian=fmt == "sphere_be", riff=fmt == "riff")
    ds = load_timit(tmp_path, progress=False)
    feats = audio_features(w.astype(np.float32), RATE)
    assert len(ds) == len(feats) == 1 + (len(w) - 400) // 160       # SA1 left out
    assert ds.feature_shape == (23, 11)
    np.testing.assert_allclose(ds.features_at(np.arange(len(ds))).reshape(len(ds), 23, 11)[:, :, 5], feats, atol=3e-3)
    names = [ds.class_names[i] for i in ds.labels]
    centre = lambda i: (i * 160 + 200)                                # noqa: E731  frame centre in samples
    for i, lab in enumerate(names):
        c = centre(i)
        seg = next((p for a, b, p in PHN if a <= c < b), None)
        want = {None: "SIL", "h#": "SIL", "q": "SIL", "ix": "IH", "tcl": "SIL", "t": "T", "s": "S", "zh": "ZH"}[seg]
        assert lab == want, (i, c, seg, lab)     # q merges into the preceding h# → SIL
    assert "IH" in names and "S" in names
    assert ds.utt_voice == ("FAKE0",) and ds.utt_text == ("It is a test.",)
    with_sa = load_timit(tmp_path, include_sa=True, progress=False)
    assert len(with_sa) == 2 * len(ds)
    merged = load_timit(tmp_path, closures="merge", progress=False)
    m_names = [merged.class_names[i] for i in merged.labels]
    tcl_frames = [i for i in range(len(ds)) if 8533 <= centre(i) < 9000]
    assert tcl_frames and all(m_names[i] == "T" for i in tcl_frames) and all(names[i] == "SIL" for i in tcl_frames)


def test_load_timit_keep_audio_and_errors(tmp_path):
    w = write_timit(tmp_path)
    ds = load_timit(tmp_path, keep_audio=True, progress=False)
    wav, rate = ds.audio(40, context_s=0.05)
    centre = int((40 * 0.01 + 0.0125) * RATE)
    np.testing.assert_allclose(wav, w[centre - 800:centre + 800] / 32768.0, atol=1e-6)
    (tmp_path / "TRAIN" / "DR1" / "FAKE0" / "SX1.PHN").write_text("0 100 xyz\n")
    with pytest.raises(CorpusFormatError, match="xyz"):
        load_timit(tmp_path, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusFormatError, match="no .PHN"):
        load_timit(empty, progress=False)
    with pytest.raises(FileNotFoundError, match="no TIMIT folder"):
        load_timit(tmp_path / "absent", progress=False)


# ----------------------------------------------------------------------------- TextGrid
INTERVALS = [(0.0, 0.25, ""), (0.25, 0.45, "HH"), (0.45, 0.55, "AH0"), (0.55, 0.8, "sil")]
WORDS = [(0.0, 0.25, ""), (0.25, 0.55, "huh"), (0.55, 0.8, "")]


def long_textgrid(tiers):
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0 ", "xmax = 0.8 ",
           "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
    for k, (name, ivs) in enumerate(tiers, 1):
        out += [f"    item [{k}]:", '        class = "IntervalTier" ', f'        name = "{name}" ',
                "        xmin = 0 ", "        xmax = 0.8 ", f"        intervals: size = {len(ivs)} "]
        for j, (a, b, t) in enumerate(ivs, 1):
            out += [f"        intervals [{j}]:", f"            xmin = {a} ", f"            xmax = {b} ",
                    f'            text = "{t}" ']
    return "\n".join(out) + "\n"


def short_textgrid(tiers):
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", "0.8", "<exists>", str(len(tiers))]
    for name, ivs in tiers:
        out += ['"IntervalTier"', f'"{name}"', "0", "0.8", str(len(ivs))]
        for a, b, t in ivs:
            out += [str(a), str(b), f'"{t}"']
    return "\n".join(out) + "\n"


def test_read_textgrid_long_short_utf16(tmp_path):
    tiers = [("words", WORDS), ("phones", INTERVALS)]
    (tmp_path / "l.TextGrid").write_text(long_textgrid(tiers))
    (tmp_path / "s.TextGrid").write_text(short_textgrid(tiers))
    (tmp_path / "u.TextGrid").write_bytes(long_textgrid(tiers).encode("utf-16"))
    want = {"words": WORDS, "phones": INTERVALS}
    for n in "lsu":
        assert read_textgrid(tmp_path / f"{n}.TextGrid") == want
    (tmp_path / "q.TextGrid").write_text(short_textgrid([("phones", [(0, 0.8, 'say ""hi"" [1]')])]))
    assert read_textgrid(tmp_path / "q.TextGrid")["phones"] == [(0.0, 0.8, 'say "hi" [1]')]
    (tmp_path / "t.TextGrid").write_text(short_textgrid(tiers)[:150])
    with pytest.raises(CorpusFormatError, match="truncated"):
        read_textgrid(tmp_path / "t.TextGrid")
    (tmp_path / "x.TextGrid").write_text("hello")
    with pytest.raises(CorpusFormatError, match="not a Praat TextGrid"):
        read_textgrid(tmp_path / "x.TextGrid")


@pytest.mark.parametrize("fmt", ["long", "short"])
def test_load_textgrid(tmp_path, fmt):
    w = synth_wave(seed=1)
    wavfile.write(tmp_path / "a.wav", RATE, w)
    # the same audio at 22.05 kHz: the loader resamples to 16 kHz like the corpus builder
    from scipy.signal import resample_poly
    w_hi = np.clip(np.round(resample_poly(w.astype(np.float64), 441, 320)), -32768, 32767).astype(np.int16)
    wavfile.write(tmp_path / "b.wav", 22050, w_hi)
    maker = long_textgrid if fmt == "long" else short_textgrid
    (tmp_path / "a.TextGrid").write_text(maker([("words", WORDS), ("phones", INTERVALS)]))
    ds = load_textgrid([(tmp_path / "a.TextGrid", tmp_path / "a.wav", "voiceA"),
                        (tmp_path / "a.TextGrid", tmp_path / "b.wav")], progress=False)
    n1 = 1 + (len(w) - 400) // 160
    assert ds.utt_bounds[0].tolist() == [0, n1]
    names = [ds.class_names[i] for i in ds.labels[:n1]]
    for i, lab in enumerate(names):
        c = i * 0.01 + 0.0125
        seg = next(t for a, b, t in INTERVALS if a <= c < b)
        assert lab == default_phone_map(seg)
    assert ds.utt_voice == ("voiceA", tmp_path.name) and ds.utt_text[0] == "huh"
    n2 = int(ds.utt_bounds[1, 1] - ds.utt_bounds[1, 0])
    assert abs(n2 - n1) <= 1
    m = min(n1, n2)     # resampled there and back: same spectra up to resampling error
    f1 = ds.features_at(np.arange(m)).reshape(m, 23, 11)[:, :, 5]
    f2 = ds.features_at(np.arange(n1, n1 + m)).reshape(m, 23, 11)[:, :, 5]
    assert np.corrcoef(f1.ravel(), f2.ravel())[0, 1] > 0.95
    with pytest.raises(KeyError, match="tiers"):
        load_textgrid([(tmp_path / "a.TextGrid", tmp_path / "a.wav")], tier="nope", progress=False)


# ------------------------------------------------------------------ hostile / careless corpora (issue 15)
def _timit_with_phn(tmp_path, rows):
    w = write_timit(tmp_path)
    (tmp_path / "TRAIN" / "DR1" / "FAKE0" / "SX1.PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in rows))
    return w


def _labels(ds):
    return [ds.class_names[i] for i in ds.labels]


def test_out_of_order_phn_lines_label_every_frame_as_in_order(tmp_path):
    _timit_with_phn(tmp_path, PHN)
    want = _labels(load_timit(tmp_path, progress=False))
    shuffled = [PHN[i] for i in (3, 0, 6, 2, 5, 1, 4)]
    _timit_with_phn(tmp_path / "b", shuffled)
    assert _labels(load_timit(tmp_path / "b", progress=False)) == want      # main mislabelled ~30 % here


@pytest.mark.parametrize("rows, words", [
    ([(0, 4000, "h#"), (3000, 8000, "ix"), (8000, 12832, "s")], "line 1 (0.0000–0.2500 s, 'h#') and line 2 "
                                                                   "(0.1875–0.5000 s, 'ix') overlap"),
    ([(0, 4000, "h#"), (8000, 4000, "ix")], "line 2 ends before it starts (0.5000 s → 0.2500 s)"),
    ([(0, 4000, "h#"), (4000, 40000, "ix")], "line 2 ends at 2.500 s, past the end of the audio"),
])
def test_phn_segments_that_would_mislabel_frames_are_refused(tmp_path, rows, words):
    _timit_with_phn(tmp_path, rows)
    with pytest.raises(CorpusFormatError) as e:
        load_timit(tmp_path, progress=False)
    assert words in str(e.value) and "SX1.PHN" in str(e.value)


def _textgrid_pair(tmp_path, intervals, fmt=long_textgrid):
    wavfile.write(tmp_path / "a.wav", RATE, synth_wave(seed=1))
    (tmp_path / "a.TextGrid").write_text(fmt([("words", WORDS), ("phones", intervals)]))
    return [(tmp_path / "a.TextGrid", tmp_path / "a.wav")]


def test_out_of_order_textgrid_intervals_label_as_in_order(tmp_path):
    want = _labels(load_textgrid(_textgrid_pair(tmp_path, INTERVALS), progress=False))
    (tmp_path / "b").mkdir()
    got = load_textgrid(_textgrid_pair(tmp_path / "b", INTERVALS[::-1], short_textgrid), progress=False)
    assert _labels(got) == want


@pytest.mark.parametrize("intervals, words", [
    ([(0.0, 0.3, ""), (0.25, 0.8, "HH")], "overlap"),
    ([(0.0, 0.25, ""), (0.5, 0.3, "HH")], "interval 2 of tier 'phones' ends before it starts"),
    ([(0.0, 0.25, ""), (0.25, 3.0, "HH")], "ends at 3.000 s, past the end of the audio"),
])
def test_textgrid_intervals_that_would_mislabel_frames_are_refused(tmp_path, intervals, words):
    with pytest.raises(CorpusFormatError) as e:
        load_textgrid(_textgrid_pair(tmp_path, intervals), progress=False)
    assert words in str(e.value) and "a.TextGrid" in str(e.value)


@pytest.mark.parametrize("loader", ["kaldi", "timit", "textgrid"])
@pytest.mark.parametrize("context", [-1, 2.5, True])
def test_every_loader_refuses_a_bad_context(tmp_path, kaldi_files, loader, context):
    call = {"kaldi": lambda: load_kaldi(kaldi_files["scp"], kaldi_files["ali"], context=context),
            "timit": lambda: (write_timit(tmp_path / "t"), load_timit(tmp_path / "t", context=context,
                                                                      progress=False)),
            "textgrid": lambda: load_textgrid(_textgrid_pair(tmp_path, INTERVALS), context=context,
                                              progress=False)}[loader]
    with pytest.raises(ValueError, match="context must be a whole number of frames ≥ 0"):
        call()


def test_scp_with_a_duplicate_utterance_is_refused(kaldi_files):
    scp = kaldi_files["scp"]
    first = scp.read_text().splitlines()[0]
    scp.write_text(scp.read_text() + first + "\n")
    with pytest.raises(CorpusFormatError, match=r"feats.scp:3: utterance 'spk1_u1' appears twice \(first on line 1\)"):
        read_kaldi_matrices(scp)
    ali = kaldi_files["ali"]
    ali.write_text(ali.read_text() + ali.read_text().splitlines()[0] + "\n")
    with pytest.raises(CorpusFormatError, match="ali.txt:4: utterance 'spk1_u1' appears twice"):
        load_kaldi(kaldi_files["ark"], ali)


@pytest.mark.parametrize("dims, words", [((-3, 4), "negative size [-3, 4]"),
                                         ((2 ** 31 - 1, 2 ** 31 - 1), "but only 0 bytes follow"),
                                         ((100000, 4000), "1600000000 bytes) but only 0 bytes follow")])
def test_ark_headers_with_impossible_sizes_are_refused_without_reading(tmp_path, dims, words):
    ark = tmp_path / "bad.ark"
    ark.write_bytes(b"utt1 \x00BFM \x04" + struct.pack("<i", dims[0]) + b"\x04" + struct.pack("<i", dims[1]))
    with pytest.raises(CorpusFormatError) as e:
        read_kaldi_matrices(ark)
    assert words in str(e.value) and "utt1" in str(e.value)


def test_kaldi_odd_files_get_errors_that_name_them(tmp_path, kaldi_files):
    (tmp_path / "e.ark").write_bytes(b"utt1 [ ]\n")
    m = read_kaldi_matrices(tmp_path / "e.ark")["utt1"]
    assert m.shape == (0, 0) and m.dtype == np.float32
    (tmp_path / "adir").mkdir()
    (tmp_path / "d.scp").write_text(f"utt1 {tmp_path / 'adir'}\n")
    with pytest.raises(CorpusFormatError, match="d.scp:1: .*adir is a folder, not an ark file"):
        read_kaldi_matrices(tmp_path / "d.scp")
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n")
    (tmp_path / "p.scp").write_text(f"utt1 {passwd}\n")
    with pytest.raises(CorpusFormatError) as e:
        read_kaldi_matrices(tmp_path / "p.scp")
    assert "no Kaldi matrix here (the bytes read 'daemon:x:1:1:daemon:/usr'" in str(e.value)
    assert "is this a Kaldi archive?" in str(e.value) and "p.scp:1" in str(e.value)
    (tmp_path / "o.scp").write_text(f"spk1_u1 {kaldi_files['ark']}:999999\n")
    with pytest.raises(CorpusFormatError, match="offset 999999 is past the end"):
        read_kaldi_matrices(tmp_path / "o.scp")
    (tmp_path / "bin.ark").write_bytes(b"\xff\xfe\x00B" * 10)
    with pytest.raises(CorpusFormatError, match="not UTF-8"):
        read_kaldi_matrices(tmp_path / "bin.ark")


def test_alignments_as_strings_are_refused_not_read_per_character(kaldi_files):
    ali = {k: " ".join(v) for k, v in kaldi_files["labs"].items()}
    with pytest.raises(TypeError, match=r"alignments\['spk1_u1'\] is a string .*\.split\(\)"):
        load_kaldi(kaldi_files["scp"], ali)
    ok = load_kaldi(kaldi_files["scp"], {k: v.split() for k, v in ali.items()})
    assert len(ok) == 50


def _sphere(fields, data=b"", size=1024):
    h = f"NIST_1A\n   {size}\n" + "".join(f"{k} {v}\n" for k, v in fields) + "end_head\n"
    return h.encode().ljust(max(size, 32), b" ") + data


@pytest.mark.parametrize("name, blob, words", [
    ("past-eof", b"NIST_1A\n   99999\nend_head\n", "header size 99999, file size"),
    ("channels-0", _sphere([("channel_count", "-i 0"), ("sample_count", "-i 10")], b"\0" * 20),
     "channel_count = 0; it must be a whole number ≥ 1"),
    ("rate-0", _sphere([("sample_rate", "-i 0"), ("sample_count", "-i 10")], b"\0" * 20), "sample_rate = 0"),
    ("rate-huge", _sphere([("sample_rate", "-i 2000000000"), ("sample_count", "-i 10")], b"\0" * 20),
     "sample rate 2000000000 Hz is not audio"),
    ("count-negative", _sphere([("sample_count", "-i -5")], b"\0" * 20), "sample_count = -5"),
    ("count-text", _sphere([("sample_count", "-i many")], b"\0" * 20), "sample_count -i has the value 'many'"),
    ("odd-bytes", _sphere([("channel_count", "-i 2")], b"\1" * 7), None),
    ("empty", _sphere([("sample_count", "-i 0")]), "holds no audio samples"),
])
def test_sphere_headers_that_lie_are_refused_naming_the_file(tmp_path, name, blob, words):
    p = tmp_path / f"{name}.wav"
    p.write_bytes(blob)
    if words is None:                         # 7 bytes of 2 channels: 1 whole stereo sample, read as such
        x, rate = read_audio(p)
        assert len(x) == 1 and rate == 16000
        return
    with pytest.raises(CorpusFormatError) as e:
        read_audio(p)
    assert words in str(e.value) and p.name in str(e.value)


def test_empty_or_nan_wav_names_the_file(tmp_path):
    wavfile.write(tmp_path / "empty.wav", RATE, np.zeros(0, np.int16))
    with pytest.raises(CorpusFormatError, match="empty.wav holds no audio samples"):
        read_audio(tmp_path / "empty.wav")
    x = np.sin(np.arange(8000) / 10).astype(np.float32) * 0.5
    x[4000] = np.nan
    wavfile.write(tmp_path / "nan.wav", RATE, x)
    with pytest.raises(CorpusFormatError, match=r"nan.wav: 1 audio samples are NaN/inf \(first at 0.250 s\)"):
        read_audio(tmp_path / "nan.wav")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "nan.wav").read_bytes()[:30])
    with pytest.raises(CorpusFormatError, match="cut.wav: unreadable WAVE file"):
        read_audio(tmp_path / "cut.wav")
