"""23 log-Mel filterbank features (Kaldi-compatible, 25 ms / 10 ms at 16 kHz).

:func:`fbank` uses ``kaldi-native-fbank`` (Kaldi's defaults: povey window, pre-emphasis
0.97, DC removal, ``snip_edges``) with its dither switched off: its random dither is not
reproducible, so the builder adds its own seeded noise to the waveform instead.
:func:`fbank_numpy` is a plain numpy re-implementation used to check it.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

__all__ = ["SAMPLE_RATE", "N_MELS", "FRAME_SHIFT", "FRAME_LENGTH", "fbank", "fbank_numpy", "cmvn",
           "resample_to_16k", "n_frames"]

SAMPLE_RATE = 16000
N_MELS = 23
FRAME_SHIFT = 160     # samples (10 ms)
FRAME_LENGTH = 400    # samples (25 ms)


def n_frames(n_samples: int) -> int:
    """Number of frames Kaldi makes from ``n_samples`` with ``snip_edges`` (0 if shorter than a frame)."""
    return 0 if n_samples < FRAME_LENGTH else 1 + (n_samples - FRAME_LENGTH) // FRAME_SHIFT


def resample_to_16k(wave: np.ndarray, rate: int) -> np.ndarray:
    """Resample ``[n]`` samples from ``rate`` Hz to 16 kHz (polyphase; 22 050 → 16 000 is 320/441).

    Returns float64 ``[m]`` on the input's scale.
    """
    from math import gcd
    x = np.asarray(wave, dtype=np.float64)
    if rate == SAMPLE_RATE:
        return x
    g = gcd(SAMPLE_RATE, int(rate))
    return resample_poly(x, SAMPLE_RATE // g, int(rate) // g)


def _check_wave(wave) -> np.ndarray:
    x = np.asarray(wave)
    if x.ndim != 1:
        raise ValueError(f"wave must be 1-D [n_samples], got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"wave must be numeric, got dtype {x.dtype}")
    if len(x) < FRAME_LENGTH:
        raise ValueError(f"wave has {len(x)} samples; at least {FRAME_LENGTH} (25 ms at 16 kHz) make one frame")
    return x.astype(np.float32)


def fbank(wave: np.ndarray) -> np.ndarray:
    """Log-Mel filterbank of a 16 kHz waveform on the int16 scale.

    wave: ``[n_samples]`` (values around ±32768, any numeric dtype). Returns float32
    ``[n_frames(n_samples), 23]``.
    """
    import kaldi_native_fbank as knf
    x = _check_wave(wave)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = float(SAMPLE_RATE)
    opts.mel_opts.num_bins = N_MELS
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(float(SAMPLE_RATE), x)
    fb.input_finished()
    n = fb.num_frames_ready
    out = np.empty((n, N_MELS), dtype=np.float32)
    for i in range(n):
        out[i] = fb.get_frame(i)
    return out


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_banks(n_fft: int = 512, low: float = 20.0, high: float = SAMPLE_RATE / 2) -> np.ndarray:
    n_bins = n_fft // 2
    freqs = np.arange(n_bins) * SAMPLE_RATE / n_fft
    mel = _mel(freqs)
    lo, hi = _mel(low), _mel(high)
    delta = (hi - lo) / (N_MELS + 1)
    banks = np.zeros((N_MELS, n_bins))
    for b in range(N_MELS):
        left, centre, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
        up = (mel - left) / (centre - left)
        down = (right - mel) / (right - centre)
        w = np.where(mel <= centre, up, down)
        banks[b] = np.where((mel > left) & (mel < right), w, 0.0)
    return banks


def fbank_numpy(wave: np.ndarray) -> np.ndarray:
    """Plain numpy Kaldi fbank (no dither): ``[n_samples]`` → float32 ``[n_frames, 23]``.

    Slower than :func:`fbank`; kept as an independent reference for tests.
    """
    x = _check_wave(wave).astype(np.float64)
    n = n_frames(len(x))
    idx = np.arange(FRAME_LENGTH)[None, :] + FRAME_SHIFT * np.arange(n)[:, None]
    fr = x[idx]
    fr = fr - fr.mean(axis=1, keepdims=True)
    fr = np.concatenate([fr[:, :1] - 0.97 * fr[:, :1], fr[:, 1:] - 0.97 * fr[:, :-1]], axis=1)
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1))) ** 0.85
    spec = np.abs(np.fft.rfft(fr * win, n=512, axis=1)) ** 2
    energies = spec[:, :256] @ _mel_banks().T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)


def cmvn(feats: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Per-utterance mean and variance normalisation of ``[n_frames, n_bands]`` (per band)."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) == 0:
        raise ValueError(f"feats must be [n_frames >= 1, n_bands], got shape {f.shape}")
    return ((f - f.mean(0)) / np.sqrt(f.var(0) + eps)).astype(np.float32)
