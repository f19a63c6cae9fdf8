"""The Recorder in a real browser: Chromium's fake microphone plays a WAV synthesised here.

Chromium runs with ``--use-fake-ui-for-media-stream --use-fake-device-for-media-stream
--use-file-for-fake-audio-capture=FILE.wav``: the page's ``getUserMedia`` gets the file as its
microphone. The test clicks Record, waits for the sentence to play, clicks Stop, waits for the
kernel's "Added" message and reads the utterance that arrived in the kernel (a second kernel
client): its text, its length, the aligned words and its phones against eSpeak's own. Done in
JupyterLab and in Voilà; screenshots at 1024 and 1600 px go to docs/screenshots/.
"""
from __future__ import annotations

import difflib
import json
import shutil
import time

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
pytest.importorskip("pocketsphinx")
pytest.importorskip("espeakng_loader")

from .servers import CHROMIUM_FLAGS, REPO, kernel_client, kernel_eval, start_lab, start_voila  # noqa: E402

pytestmark = pytest.mark.browser
SHOTS = REPO / "docs" / "screenshots"
SENTENCE = "The quick brown fox jumps over the lazy dog."
LEAD_S, TAIL_S = 0.6, 1.2


@pytest.fixture(scope="module")
def fake_mic(tmp_path_factory):
    """A 48 kHz WAV of eSpeak NG reading SENTENCE (faint noise around it) and its true phone sequence."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly
    from slt_widgets.datasets.speech.espeak import get_espeak
    from slt_widgets.datasets.speech.phonemes import events_to_segments, merge_equal
    u = get_espeak().synthesize(SENTENCE, "en-us+m3", 160, 50, 50, rand_seed=11)
    phones = [lab for _, _, lab in merge_equal(events_to_segments(u.events, len(u.wave))) if lab != "SIL"]
    x = resample_poly(u.wave.astype(np.float64), 320, 147)          # 22 050 → 48 000 Hz
    x = np.concatenate([np.zeros(int(LEAD_S * 48000)), x, np.zeros(int(TAIL_S * 48000))])
    x += np.random.default_rng(0).normal(0, 20, len(x))
    path = tmp_path_factory.mktemp("mic") / "sentence.wav"
    wavfile.write(path, 48000, np.clip(np.round(x), -32768, 32767).astype(np.int16))
    return path, len(x) / 48000, phones


NOTEBOOK_SRC = ("from slt_widgets.widgets import Recorder\n"
                f"rec = Recorder(sentences=[{SENTENCE!r}, 'She sells sea shells by the shore.'])\n"
                "rec")


def _notebook(path):
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "language_info": {"name": "python"}},
          "cells": [{"cell_type": "code", "id": "rec", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": NOTEBOOK_SRC}]}
    path.write_text(json.dumps(nb, indent=1))
    return path


@pytest.fixture(scope="module")
def mic_context(tmp_path_factory, fake_mic, playwright_session):
    flags = CHROMIUM_FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-audio-capture={fake_mic[0]}%noloop",
                              "--autoplay-policy=no-user-gesture-required"]
    ctx = playwright_session.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path_factory.mktemp("chromium_mic")), executable_path=shutil.which("chromium"),
        headless=True, args=flags, viewport={"width": 1024, "height": 900})
    yield ctx
    ctx.close()


def _record_and_check(page, kc, fake_mic, prefix):
    _, seconds, true_phones = fake_mic
    rec = page.locator(".slt-recorder").first
    rec.wait_for(state="visible")
    assert page.locator(".slt-rec-text").first.input_value() == SENTENCE
    page.locator(".slt-rec-record").first.click()
    page.wait_for_function("() => document.querySelector('.slt-recorder.slt-rec-recording')", timeout=30_000)
    time.sleep(LEAD_S + 1.2)
    # the level meter follows the voice while recording (−60…0 dBFS → 0…100 %)
    db = float(page.locator(".slt-rec-meter-fill").first.get_attribute("data-db"))
    width = page.locator(".slt-rec-meter-fill").first.evaluate("e => parseFloat(e.style.width)")
    assert db > -50 and width > 10, (db, width)
    SHOTS.mkdir(parents=True, exist_ok=True)
    rec.screenshot(path=str(SHOTS / f"{prefix}_recorder_recording.png"))
    time.sleep(max(0.0, seconds + 0.3 - LEAD_S - 1.2))
    page.locator(".slt-rec-stop").first.click()
    page.wait_for_function(
        "() => { const s = document.querySelector('.slt-rec-status'); return s && s.dataset.kind === 'ok' "
        "|| s && s.dataset.kind === 'error'; }", timeout=120_000)
    status = page.locator(".slt-rec-status").first.inner_text()
    assert status.startswith("Added you take 1"), status
    code = ("import json; d = rec.dataset; a = d.meta['alignments'][0]\n"
            "print(json.dumps({'texts': list(d.utt_text), 'n_utt': len(d.utt_bounds), 'frames': len(d),\n"
            "  'seconds': len(d._audio) / d.audio_rate, 'peak': int(abs(d._audio.astype(int)).max()),\n"
            "  'words': [w for _, _, w in a['words']], 'first_word_s': a['words'][0][0],\n"
            "  'phones': [l for _, _, l in a['segments'] if l != 'SIL'], 'mic': rec.mic_state,\n"
            "  'labels': sorted(set(d.class_names[i] for i in d.labels))}))")
    st = json.loads(kernel_eval(kc, code).strip().splitlines()[-1])
    assert st["texts"] == [SENTENCE] and st["n_utt"] == 1 and st["mic"] == "ready", st
    # the take holds the whole sentence (the file starts with the capture; Stop may cut the tail of
    # silence, and on a loaded machine the click can come seconds late: silence after the file ends)
    assert seconds - TAIL_S - 0.3 < st["seconds"] < seconds + 8, (st["seconds"], seconds)
    assert st["frames"] == 1 + (round(st["seconds"] * 16000) - 400) // 160
    assert st["peak"] > 1000                                   # real signal arrived, not zeros
    assert st["words"] == ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    assert st["first_word_s"] > 0.2                            # the lead-in silence stayed silence
    sim = difflib.SequenceMatcher(a=true_phones, b=st["phones"]).ratio()
    assert sim > 0.8, (sim, true_phones, st["phones"])         # CMUdict vs eSpeak differ on a few vowels
    assert page.locator(".slt-rec-takes li").count() == 1
    assert not page.locator(".slt-rec-play").first.is_disabled()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1024, 1600):
        page.set_viewport_size({"width": width, "height": 900})
        time.sleep(0.3)
        rec.scroll_into_view_if_needed()
        rec.screenshot(path=str(SHOTS / f"{prefix}_recorder_{width}.png"))
    return st


def test_recorder_in_jupyterlab(tmp_path_factory, mic_context, fake_mic):
    root = tmp_path_factory.mktemp("rec_lab")
    _notebook(root / "recorder.ipynb")
    server = start_lab(root, tmp_path_factory.mktemp("rec_lab_env"))
    page = mic_context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{server.url}/lab/tree/recorder.ipynb?token={server.token}&reset")
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')")
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget && "
                               "window.jupyterapp.shell.currentWidget.sessionContext && "
                               "window.jupyterapp.shell.currentWidget.sessionContext.session")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.locator(".jp-OutputArea-output .slt-recorder").first.wait_for(state="visible")
        kernel_id = server.api("/api/sessions")[0]["kernel"]["id"]
        kc = kernel_client(server, kernel_id)
        try:
            _record_and_check(page, kc, fake_mic, "lab")
        finally:
            kc.stop_channels()
    finally:
        page.close()
        server.stop()


def test_recorder_in_voila(tmp_path_factory, mic_context, fake_mic):
    root = tmp_path_factory.mktemp("rec_voila")
    nb = _notebook(root / "recorder.ipynb")
    server = start_voila(nb, tmp_path_factory.mktemp("rec_voila_env"))
    page = mic_context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{server.url}/?token={server.token}")
        page.locator(".slt-recorder").first.wait_for(state="visible")
        kc = kernel_client(server)
        try:
            _record_and_check(page, kc, fake_mic, "voila")
        finally:
            kc.stop_channels()
    finally:
        page.close()
        server.stop()
