"""Waveform augmentation: speed perturbation, synthetic reverberation, seeded noise.

All functions take and return float64 ``[n_samples]`` arrays; randomness comes only from
the ``numpy.random.Generator`` passed in, so a build is reproducible from its seed.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import fftconvolve, resample_poly

__all__ = ["speed_perturb", "add_noise", "synthetic_rir", "reverberate"]


def speed_perturb(wave: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """Play ``wave`` ``[n]`` ``factor`` times faster by resampling (tempo and pitch change together,
    as in Kaldi's speed perturbation).

    Returns ``(wave [≈ n / factor], exact_factor)``; the factor is rounded to a fraction with
    denominator ≤ 100 and the exact one is returned so label times can be scaled by it.
    """
    if not 0.5 <= float(factor) <= 2.0:
        raise ValueError(f"speed factor must lie in 0.5..2.0, got {factor}")
    fr = Fraction(float(factor)).limit_denominator(100)
    if fr == 1:
        return np.asarray(wave, dtype=np.float64), 1.0
    # Playing at rate*factor and sampling back at rate: up = denominator, down = numerator.
    return resample_poly(np.asarray(wave, dtype=np.float64), fr.denominator, fr.numerator), float(fr)


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator,
              signal_mask: np.ndarray | None = None) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` relative to the signal power.

    The power is measured over ``signal_mask`` (``[n]`` bool, e.g. the speech part without
    silence padding) or the whole wave. Returns ``[n]`` float64.
    """
    x = np.asarray(wave, dtype=np.float64)
    ref = x[signal_mask] if signal_mask is not None else x
    power = float(np.mean(ref ** 2)) if len(ref) else 0.0
    if power <= 0:
        power = 1.0  # an all-zero signal still gets audible-floor noise, never NaN
    sigma = np.sqrt(power / 10.0 ** (float(snr_db) / 10.0))
    return x + rng.normal(0.0, sigma, size=len(x))


def synthetic_rir(rt60: float, rate: int, rng: np.random.Generator, direct_to_reverb_db: float = 0.0) -> np.ndarray:
    """A synthetic room impulse response ``[n_taps]``: a unit direct path at tap 0 plus
    exponentially decaying Gaussian noise that falls 60 dB in ``rt60`` seconds.

    ``direct_to_reverb_db`` sets the energy ratio of the direct path to the tail. Keeping
    the direct path at tap 0 keeps the phoneme labels aligned.
    """
    if not 0.05 <= float(rt60) <= 3.0:
        raise ValueError(f"rt60 must lie in 0.05..3.0 s, got {rt60}")
    n = int(rt60 * rate)
    t = np.arange(1, n) / rate
    tail = rng.normal(0.0, 1.0, n - 1) * np.exp(-6.9078 * t / rt60)   # ln(1000) = 60 dB in amplitude
    tail *= np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / max(np.sum(tail ** 2), 1e-12))
    return np.concatenate([[1.0], tail])


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve ``wave`` ``[n]`` with ``rir`` ``[k]``, keep the first ``n`` samples and the input's RMS."""
    x = np.asarray(wave, dtype=np.float64)
    y = fftconvolve(x, np.asarray(rir, dtype=np.float64))[: len(x)]
    rx, ry = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(y ** 2))
    return y * (rx / ry) if ry > 0 else y
