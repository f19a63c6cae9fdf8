"""Property tests (hypothesis) for every corpus parser (issue 15): Kaldi ark/scp, TIMIT .PHN,
Praat TextGrid, NIST SPHERE and RIFF/WAVE.

Two properties each: (1) whatever valid file is written, it reads back exactly (in time order
for segments); (2) whatever damage is done to a valid file (cut short, bytes overwritten), the
parser either returns a well-formed result or raises its own ``CorpusFormatError`` — never a raw
numpy/struct/Unicode error, never a hang.
"""
from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from slt_widgets.datasets.loaders import CorpusFormatError, read_audio, read_kaldi_matrices, read_textgrid
from slt_widgets.datasets.loaders.timit import read_phn

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAMAGE = settings(max_examples=int(os.environ.get("SLT_DAMAGE_EXAMPLES", 120)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

keys = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
f32 = st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False)


@st.composite
def matrices(draw):
    ks = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    out = {}
    for k in ks:
        r, c = draw(st.integers(1, 5)), draw(st.integers(1, 4))
        out[k] = np.array(draw(st.lists(f32, min_size=r * c, max_size=r * c)), np.float32).reshape(r, c)
    return out


def ark_bytes(mats: dict, text: bool, double: bool = False) -> tuple[bytes, dict]:
    """An ark holding ``mats`` and the byte offset of each matrix (for an scp)."""
    blob, offsets = b"", {}
    for k, m in mats.items():
        blob += k.encode() + b" "
        offsets[k] = len(blob)
        if text:
            rows = "\n".join("  " + " ".join(repr(float(v)) for v in r) for r in m)
            blob += f"[\n{rows} ]\n".encode()
        else:
            blob += (b"\x00B" + (b"DM " if double else b"FM ") + b"\x04" + struct.pack("<i", m.shape[0]) + b"\x04"
                     + struct.pack("<i", m.shape[1]) + m.astype("<f8" if double else "<f4").tobytes())
    return blob, offsets


_ROOT = tempfile.TemporaryDirectory(prefix="slt_prop_")      # removed when the module is done


def _tmp() -> Path:
    """A fresh folder per example (hypothesis runs many examples per test function)."""
    return Path(tempfile.mkdtemp(dir=_ROOT.name))


@st.composite
def damaged(draw, blob: bytes):
    """``blob`` cut short and/or with a few bytes overwritten."""
    b = bytearray(blob)
    for _ in range(draw(st.integers(0, 4))):
        if b:
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        b = b[: draw(st.integers(0, len(b)))]
    return bytes(b)


# ------------------------------------------------------------------------------------------ Kaldi
@SETTINGS
@given(mats=matrices(), text=st.booleans(), double=st.booleans())
def test_kaldi_ark_and_scp_read_back_exactly(mats, text, double):
    d = _tmp()
    blob, offsets = ark_bytes(mats, text, double)
    (d / "x.ark").write_bytes(blob)
    (d / "x.scp").write_text("".join(f"{k} {d / 'x.ark'}:{o}\n" for k, o in offsets.items()))
    for source in (d / "x.ark", d / "x.scp"):
        got = read_kaldi_matrices(source)
        assert list(got) == list(mats)
        for k in mats:
            assert got[k].dtype == np.float32
            np.testing.assert_array_equal(got[k], mats[k])


@DAMAGE
@given(data=st.data(), mats=matrices(), text=st.booleans())
def test_damaged_kaldi_files_give_a_result_or_a_corpus_error(data, mats, text):
    d = _tmp()
    blob, offsets = ark_bytes(mats, text)
    bad = data.draw(damaged(blob))
    (d / "x.ark").write_bytes(bad)
    for source in (d / "x.ark",):
        try:
            got = read_kaldi_matrices(source)
        except CorpusFormatError:
            continue
        assert all(isinstance(m, np.ndarray) and m.ndim == 2 and m.dtype == np.float32 for m in got.values())
    scp = data.draw(damaged("".join(f"{k} {d / 'x.ark'}:{o}\n" for k, o in offsets.items()).encode()))
    (d / "y.scp").write_bytes(scp)
    try:
        read_kaldi_matrices(d / "y.scp")
    except (CorpusFormatError, FileNotFoundError):
        pass


# ------------------------------------------------------------------------------------------ .PHN
PHONES = ["h#", "ix", "t", "s", "tcl", "q", "zh", "aa", "pau"]


@st.composite
def phn_segments(draw):
    durs = draw(st.lists(st.integers(1, 3000), min_size=1, max_size=12))
    start, segs = draw(st.integers(0, 500)), []
    for dur in durs:
        gap = draw(st.sampled_from([0, 0, 0, 37]))          # mostly contiguous, sometimes a gap
        segs.append((start + gap, start + gap + dur, draw(st.sampled_from(PHONES))))
        start += gap + dur
    return segs


@SETTINGS
@given(segs=phn_segments(), order=st.randoms(use_true_random=False))
def test_phn_lines_in_any_order_read_back_in_time_order(segs, order):
    d = _tmp()
    lines = list(segs)
    order.shuffle(lines)
    (d / "x.PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in lines))
    got = read_phn(d / "x.PHN", 16000, n_samples=segs[-1][1])
    assert got == [(a / 16000, b / 16000, p) for a, b, p in segs]


@SETTINGS
@given(segs=phn_segments(), k=st.integers(0, 10), overlap=st.integers(1, 500))
def test_phn_overlaps_are_always_refused(segs, k, overlap):
    if len(segs) < 2:
        return
    k %= len(segs) - 1
    a, b, p = segs[k]
    segs = segs[:k] + [(a, max(b, segs[k + 1][0]) + overlap, p)] + segs[k + 1:]
    d = _tmp()
    (d / "x.PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in segs))
    with pytest.raises(CorpusFormatError, match="overlap"):
        read_phn(d / "x.PHN", 16000)


@DAMAGE
@given(data=st.data(), segs=phn_segments())
def test_damaged_phn_files_give_segments_or_a_corpus_error(data, segs):
    d = _tmp()
    (d / "x.PHN").write_bytes(data.draw(damaged("".join(f"{a} {b} {p}\n" for a, b, p in segs).encode())))
    try:
        got = read_phn(d / "x.PHN", 16000, n_samples=segs[-1][1])
    except CorpusFormatError:
        return
    assert all(0 <= s <= e for s, e, _ in got) and [s for s, _, _ in got] == sorted(s for s, _, _ in got)


# ------------------------------------------------------------------------------------------ TextGrid
tier_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)


@st.composite
def textgrids(draw):
    tiers = {}
    for name in draw(st.lists(st.sampled_from(["phones", "words", 'say "hi"', "ü tier"]), min_size=1, max_size=3,
                              unique=True)):
        n = draw(st.integers(1, 6))
        cuts = sorted(draw(st.lists(st.integers(1, 5000), min_size=n - 1, max_size=n - 1, unique=True)))
        edges = [0] + cuts + [5001]
        tiers[name] = [(edges[i] / 1000, edges[i + 1] / 1000, draw(tier_text)) for i in range(n)]
    return tiers


def _q(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def write_textgrid(tiers: dict, long: bool) -> str:
    xmax = max(iv[-1][1] for iv in tiers.values())
    if not long:
        out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", str(xmax), "<exists>", str(len(tiers))]
        for name, ivs in tiers.items():
            out += ['"IntervalTier"', _q(name), "0", str(xmax), str(len(ivs))]
            for a, b, t in ivs:
                out += [repr(a), repr(b), _q(t)]
        return "\n".join(out) + "\n"
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax}",
           "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for k, (name, ivs) in enumerate(tiers.items(), 1):
        out += [f"    item [{k}]:", '        class = "IntervalTier"', f"        name = {_q(name)}", "        xmin = 0",
                f"        xmax = {xmax}", f"        intervals: size = {len(ivs)}"]
        for j, (a, b, t) in enumerate(ivs, 1):
            out += [f"        intervals [{j}]:", f"            xmin = {a!r}", f"            xmax = {b!r}",
                    f"            text = {_q(t)}"]
    return "\n".join(out) + "\n"


@SETTINGS
@given(tiers=textgrids(), long=st.booleans(), utf16=st.booleans())
def test_textgrids_read_back_exactly(tiers, long, utf16):
    d = _tmp()
    text = write_textgrid(tiers, long)
    (d / "x.TextGrid").write_bytes(text.encode("utf-16") if utf16 else text.encode("utf-8"))
    assert read_textgrid(d / "x.TextGrid") == tiers


@DAMAGE
@given(data=st.data(), tiers=textgrids(), long=st.booleans())
def test_damaged_textgrids_give_tiers_or_a_corpus_error(data, tiers, long):
    d = _tmp()
    (d / "x.TextGrid").write_bytes(data.draw(damaged(write_textgrid(tiers, long).encode())))
    try:
        got = read_textgrid(d / "x.TextGrid")
    except CorpusFormatError:
        return
    assert isinstance(got, dict) and all(isinstance(v, list) for v in got.values())


# ------------------------------------------------------------------------------------------ audio
def sphere_bytes(x: np.ndarray, big_endian: bool) -> bytes:
    n, ch = x.shape
    hdr = (f"NIST_1A\n   1024\nsample_count -i {n}\nsample_rate -i 16000\nchannel_count -i {ch}\n"
           f"sample_n_bytes -i 2\nsample_byte_format -s2 {'10' if big_endian else '01'}\nsample_coding -s3 pcm\n"
           "end_head\n").encode().ljust(1024, b" ")
    return hdr + x.astype(">i2" if big_endian else "<i2").tobytes()


pcm = st.integers(-32768, 32767)


@st.composite
def waves(draw):
    n, ch = draw(st.integers(1, 400)), draw(st.integers(1, 3))
    return np.array(draw(st.lists(pcm, min_size=n * ch, max_size=n * ch)), np.int16).reshape(n, ch)


@SETTINGS
@given(x=waves(), big_endian=st.booleans())
def test_sphere_reads_back_exactly(x, big_endian):
    d = _tmp()
    (d / "x.wav").write_bytes(sphere_bytes(x, big_endian))
    got, rate = read_audio(d / "x.wav")
    assert rate == 16000
    np.testing.assert_allclose(got, x.astype(np.float32).mean(1), rtol=1e-6)


@SETTINGS
@given(x=waves(), rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
       kind=st.sampled_from(["int16", "float32", "uint8", "int32"]))
def test_riff_wave_reads_back_on_the_int16_scale(x, rate, kind):
    d = _tmp()
    ref = x.astype(np.float64)
    data = {"int16": x, "float32": (ref / 32768.0).astype(np.float32), "uint8": (x // 256 + 128).astype(np.uint8),
            "int32": x.astype(np.int32) * 65536}[kind]
    want = {"int16": ref, "float32": ref, "uint8": (x // 256).astype(np.float64) * 256, "int32": ref}[kind]
    wavfile.write(d / "x.wav", rate, data if data.shape[1] > 1 else data[:, 0])
    got, r = read_audio(d / "x.wav")
    assert r == rate
    np.testing.assert_allclose(got, want.mean(1), rtol=1e-5, atol=1e-3)


@DAMAGE
@given(data=st.data(), x=waves(), riff=st.booleans())
def test_damaged_audio_gives_samples_or_a_corpus_error(data, x, riff):
    d = _tmp()
    if riff:
        wavfile.write(d / "ok.wav", 16000, x)
        blob = (d / "ok.wav").read_bytes()
    else:
        blob = sphere_bytes(x, False)
    (d / "x.wav").write_bytes(data.draw(damaged(blob)))
    try:
        got, rate = read_audio(d / "x.wav")
    except CorpusFormatError:
        return
    assert got.ndim == 1 and len(got) > 0 and np.isfinite(got).all() and 1000 <= rate <= 768000
