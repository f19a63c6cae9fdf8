"""Audio files of a corpus: NIST SPHERE (TIMIT ``.WAV``) and RIFF/WAVE, and the corpus feature pipeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import CorpusFormatError

__all__ = ["read_audio", "audio_features"]


def read_audio(path) -> tuple[np.ndarray, int]:
    """Read a NIST SPHERE (TIMIT ``.WAV``) or RIFF/WAVE file: ``(wave [n] float32 on the int16 scale, rate)``.

    Multi-channel audio is averaged to mono. Shorten-compressed SPHERE files are refused with
    the fix (decompress with ``sph2pipe``).
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1024)
    if head.startswith(b"NIST_1A"):
        return _read_sphere(path)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        from scipy.io import wavfile
        try:
            rate, x = wavfile.read(path)
        except ValueError as e:
            raise CorpusFormatError(f"{path}: unreadable WAVE file ({e}); convert it to 16-bit PCM") from None
        if x.dtype.kind == "f":
            x = x.astype(np.float64) * 32768.0
        elif x.dtype == np.int32:
            x = x.astype(np.float64) / 65536.0
        elif x.dtype == np.uint8:
            x = (x.astype(np.float64) - 128.0) * 256.0
        x = x.astype(np.float32)
        return (x.mean(1) if x.ndim == 2 else x), int(rate)
    raise CorpusFormatError(f"{path} is neither a NIST SPHERE nor a RIFF/WAVE file "
                            f"(starts with {head[:8]!r}); convert it to 16-bit PCM WAV")


def _read_sphere(path: Path) -> tuple[np.ndarray, int]:
    raw = path.read_bytes()
    lines = raw[:64].split(b"\n")
    try:
        header_size = int(lines[1].strip())
    except (IndexError, ValueError):
        raise CorpusFormatError(f"{path}: damaged NIST SPHERE header (no header size on line 2)") from None
    fields = {}
    for line in raw[:header_size].decode("ascii", "replace").splitlines()[2:]:
        if line.strip() == "end_head":
            break
        parts = line.split(None, 2)
        if len(parts) == 3:
            typ, val = parts[1], parts[2].strip()
            fields[parts[0]] = int(val) if typ == "-i" else float(val) if typ == "-r" else val
    rate = int(fields.get("sample_rate", 16000))
    width = int(fields.get("sample_n_bytes", 2))
    channels = int(fields.get("channel_count", 1))
    coding = str(fields.get("sample_coding", "pcm"))
    if "shorten" in coding or coding not in ("pcm",) and not coding.startswith("pcm"):
        raise CorpusFormatError(f"{path}: SPHERE sample_coding {coding!r} is not plain PCM; decompress it first "
                                "(sph2pipe -f wav in.wav out.wav)")
    if width != 2:
        raise CorpusFormatError(f"{path}: {width}-byte SPHERE samples are not supported; convert to 16-bit PCM")
    order = str(fields.get("sample_byte_format", "01"))
    dtype = "<i2" if order == "01" else ">i2"
    data = np.frombuffer(raw, dtype=dtype, offset=header_size)
    n = fields.get("sample_count")
    if n is not None and len(data) < int(n) * channels:
        raise CorpusFormatError(f"{path}: truncated ({len(data)} samples, header says {int(n) * channels})")
    x = data[: int(n) * channels if n is not None else None].astype(np.float32)
    if channels > 1:
        x = x.reshape(-1, channels).mean(1)
    return x, rate


def audio_features(wave: np.ndarray, rate: int) -> np.ndarray:
    """The corpus pipeline on one waveform: resample to 16 kHz, 23 log-Mel (25 ms / 10 ms), per-utterance CMVN.

    wave: ``[n]`` samples on the int16 scale. Returns float32 ``[n_frames, 23]``.
    """
    from ..speech.features import cmvn, fbank, resample_to_16k
    return cmvn(fbank(resample_to_16k(wave, rate)))
