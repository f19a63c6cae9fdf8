"""Recorder widget state without a browser: a take arrives as the browser sends it (binary int16)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pocketsphinx")
pytest.importorskip("espeakng_loader")

from slt_widgets.datasets.speech.align import transcript_words  # noqa: E402
from slt_widgets.widgets import Recorder  # noqa: E402
from slt_widgets.widgets._codec import array_to_json  # noqa: E402

SENTENCE = "Please bring me a glass of water."


def take_16k(text=SENTENCE, seed=5):
    from slt_widgets.datasets.speech.espeak import get_espeak
    from slt_widgets.datasets.speech.features import resample_to_16k
    u = get_espeak().synthesize(text, "en-us+f2", 170, 50, 50, rand_seed=seed)
    x = resample_to_16k(u.wave.astype(np.float64), u.rate)
    pad = np.zeros(4000)
    x = np.concatenate([pad, x, pad]) + np.random.default_rng(seed).normal(0, 15, len(x) + 8000)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def browser_take(rec, pcm, text):
    """What recorder.js sends on Stop: audio as a binary buffer, the sentence, a new take number."""
    wire = array_to_json(pcm)
    rec.set_state({"audio": {**wire, "view": bytes(wire["view"])}, "take_text": text, "text": text,
                   "take": rec.take + 1})


def test_take_is_aligned_and_appended():
    rec = Recorder(sentences=[SENTENCE, "Another sentence."])
    assert rec.text == SENTENCE and rec.dataset is None
    pcm = take_16k()
    browser_take(rec, pcm, SENTENCE)
    assert rec.message_kind == "ok", rec.message
    assert rec.message.startswith("Added you take 1:") and not rec.busy
    ds = rec.dataset
    assert ds.utt_text == (SENTENCE,) and ds.utt_voice == ("you",) and len(ds.utt_bounds) == 1
    assert len(ds) == 1 + (len(pcm) - 400) // 160
    np.testing.assert_array_equal(ds._audio, pcm)             # the kernel keeps exactly what arrived
    assert [w for _, _, w in ds.meta["alignments"][0]["words"]] == transcript_words(SENTENCE)
    assert rec.utterances[0]["n_frames"] == len(ds) and rec.utterances[0]["text"] == SENTENCE
    assert rec.last_segments[0][2] == "SIL" and {s[2] for s in rec.last_segments} > {"SIL", "W", "AO"}
    # a second take is appended after the first
    browser_take(rec, take_16k(seed=9), SENTENCE)
    assert rec.message_kind == "ok" and len(rec.dataset.utt_bounds) == 2 and len(rec.utterances) == 2
    assert rec.dataset.utterance_of(len(rec.dataset) - 1)["utterance"] == 1


def test_bad_takes_are_refused_and_the_dataset_kept():
    rec = Recorder(sentences=[SENTENCE])
    browser_take(rec, take_16k(), SENTENCE)
    n = len(rec.dataset)
    browser_take(rec, np.zeros(16000, np.int16), SENTENCE)
    assert rec.message_kind == "error" and "no speech" in rec.message and len(rec.dataset) == n
    browser_take(rec, take_16k(), "   ")
    assert rec.message_kind == "error" and "Type or pick the sentence" in rec.message
    browser_take(rec, take_16k(), "Completely different words about elephants dancing in purple rain tonight.")
    assert rec.message_kind == "error" and "transcript" in rec.message and len(rec.utterances) == 1
    # a malformed buffer from the browser is rejected whole; the widget stays usable
    rec.set_state({"audio": {"view": b"\x00\x01\x02", "dtype": "int16", "shape": [2]}})
    assert "ignored a value from the browser" in rec.error and len(rec.utterances) == 1


def test_recorder_arguments():
    with pytest.raises(TypeError, match="unknown keyword"):
        Recorder(sentence=["x"])
    with pytest.raises(Exception, match="max_seconds"):
        Recorder(max_seconds=0)
    rec = Recorder()
    assert rec.text == "" and rec.to_png()[:4] == b"\x89PNG"
