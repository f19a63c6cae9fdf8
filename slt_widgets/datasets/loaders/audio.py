"""Audio files of a corpus: NIST SPHERE (TIMIT ``.WAV``) and RIFF/WAVE, and the corpus feature pipeline."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ._common import CorpusFormatError

__all__ = ["read_audio", "read_riff", "audio_features"]


MIN_RATE, MAX_RATE = 1000, 768000
"""Sample rates (Hz) taken as audio; anything else is a damaged header."""


def read_audio(path) -> tuple[np.ndarray, int]:
    """Read a NIST SPHERE (TIMIT ``.WAV``) or RIFF/WAVE file: ``(wave [n] float32 on the int16 scale, rate)``.

    Multi-channel audio is averaged to mono. Shorten-compressed SPHERE files are refused with
    the fix (decompress with ``sph2pipe``). Empty audio, NaN/inf samples and damaged headers
    (sizes past the end of the file, zero channels, a rate outside 1 kHz–768 kHz) are refused
    with a :class:`CorpusFormatError` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        raise CorpusFormatError(f"{path} is a folder, not an audio file")
    with open(path, "rb") as f:
        head = f.read(1024)
    if head.startswith(b"NIST_1A"):
        x, rate = _read_sphere(path)
    elif head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        x, rate = read_riff(path)
        x = x.astype(np.float32)
    else:
        raise CorpusFormatError(f"{path} is neither a NIST SPHERE nor a RIFF/WAVE file "
                                f"(starts with {head[:8]!r}); convert it to 16-bit PCM WAV")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise CorpusFormatError(f"{path}: sample rate {rate} Hz is not audio (a damaged header?); expected "
                                f"{MIN_RATE}–{MAX_RATE} Hz")
    if len(x) == 0:
        raise CorpusFormatError(f"{path} holds no audio samples (an empty recording)")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x))
        raise CorpusFormatError(f"{path}: {len(bad)} audio samples are NaN/inf (first at {bad[0] / rate:.3f} s); "
                                "repair or re-export the recording")
    return x, rate


def read_riff(path, fix: str = "convert it to 16-bit PCM") -> tuple[np.ndarray, int]:
    """Decode a RIFF/WAVE file: ``(wave [n] float64 on the int16 scale, rate)``, multi-channel averaged to mono.

    PCM 8-bit (unsigned), 16-bit, 24/32-bit (as int32) and float samples (in -1..1) all come out on
    the int16 scale. The one WAV decoder of the package: the corpus loaders and
    :func:`~slt_widgets.datasets.load_recordings` both read through it. Raises
    :class:`CorpusFormatError` naming the file, what is wrong and ``fix``.
    """
    from scipy.io import wavfile
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)   # unknown chunks (LIST, …) are harmless
            rate, x = wavfile.read(path)
    except Exception as e:  # noqa: BLE001 — scipy's reader fails in many ways on a damaged header; all mean that
        raise CorpusFormatError(f"{path}: unreadable WAVE file ({type(e).__name__}: {e}); {fix}") from None
    if x.dtype.kind == "f":
        x = x.astype(np.float64) * 32768.0
    elif x.dtype == np.int32:
        x = x.astype(np.float64) / 65536.0
    elif x.dtype == np.uint8:
        x = (x.astype(np.float64) - 128.0) * 256.0
    elif x.dtype.kind in "iu":
        x = x.astype(np.float64)
    else:
        raise CorpusFormatError(f"{path}: WAVE samples of type {x.dtype} are not supported; {fix}")
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise CorpusFormatError(f"{path}: the WAVE header says 0 channels; {fix}")
        x = x.mean(1)
    return x, int(rate)


def _read_sphere(path: Path) -> tuple[np.ndarray, int]:
    raw = path.read_bytes()
    lines = raw[:64].split(b"\n")
    try:
        header_size = int(lines[1].strip())
    except (IndexError, ValueError):
        raise CorpusFormatError(f"{path}: damaged NIST SPHERE header (no header size on line 2)") from None
    if not 16 <= header_size <= len(raw):
        raise CorpusFormatError(f"{path}: damaged NIST SPHERE header (header size {header_size}, file size "
                                f"{len(raw)} bytes)")
    fields = {}
    for line in raw[:header_size].decode("ascii", "replace").splitlines()[2:]:
        if line.strip() == "end_head":
            break
        parts = line.split(None, 2)
        if len(parts) == 3:
            typ, val = parts[1], parts[2].strip()
            try:
                fields[parts[0]] = int(val) if typ == "-i" else float(val) if typ == "-r" else val
            except ValueError:
                raise CorpusFormatError(f"{path}: SPHERE header field {parts[0]} {typ} has the value {val!r}, "
                                        "not a number") from None

    def whole(name, default, least):
        v = fields.get(name, default)
        if not isinstance(v, (int, float)) or v != int(v) or v < least:
            raise CorpusFormatError(f"{path}: SPHERE header {name} = {v!r}; it must be a whole number ≥ {least}")
        return int(v)
    rate = whole("sample_rate", 16000, 1)
    width = whole("sample_n_bytes", 2, 1)
    channels = whole("channel_count", 1, 1)
    coding = str(fields.get("sample_coding", "pcm"))
    if "shorten" in coding or coding not in ("pcm",) and not coding.startswith("pcm"):
        raise CorpusFormatError(f"{path}: SPHERE sample_coding {coding!r} is not plain PCM; decompress it first "
                                "(sph2pipe -f wav in.wav out.wav)")
    if width != 2:
        raise CorpusFormatError(f"{path}: {width}-byte SPHERE samples are not supported; convert to 16-bit PCM")
    order = str(fields.get("sample_byte_format", "01"))
    if order not in ("01", "10"):
        raise CorpusFormatError(f"{path}: SPHERE sample_byte_format {order!r} is not 01 or 10")
    dtype = "<i2" if order == "01" else ">i2"
    body = len(raw) - header_size
    data = np.frombuffer(raw, dtype=dtype, offset=header_size, count=body // 2)
    n = whole("sample_count", -1, 0) if "sample_count" in fields else None
    if n is not None and len(data) < n * channels:
        raise CorpusFormatError(f"{path}: truncated ({len(data)} samples, header says {n * channels})")
    x = data[: n * channels if n is not None else len(data) - len(data) % channels].astype(np.float32)
    if channels > 1:
        x = x.reshape(-1, channels).mean(1)
    return x, rate


def audio_features(wave: np.ndarray, rate: int) -> np.ndarray:
    """The corpus pipeline on one waveform: resample to 16 kHz, 23 log-Mel (25 ms / 10 ms), per-utterance CMVN.

    wave: ``[n]`` samples on the int16 scale. Returns float32 ``[n_frames, 23]``.
    """
    from ..speech.features import cmvn, fbank, resample_to_16k
    if len(wave) < 0.025 * rate:
        raise CorpusFormatError(f"{len(wave)} samples at {rate} Hz ({len(wave) / rate * 1000:.1f} ms) are shorter "
                                "than one 25 ms frame: there is nothing to label")
    return cmvn(fbank(resample_to_16k(wave, rate)))
