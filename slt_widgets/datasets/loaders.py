"""Bring your own corpus: Kaldi features + alignments, TIMIT, Praat TextGrids → `FrameDataset`.

Every loader returns the layout of the built-in speech corpus: one row of features per 10 ms
frame stored unspliced (float16), spliced on access with ``context`` frames either side and
flattened band-major, so ``feature_shape = (bands, 2 * context + 1)`` — ``(23, 11)`` for the
23 log-Mel pipeline that :func:`load_timit` and :func:`load_textgrid` run on the audio (the
corpus builder's own functions: 16 kHz, 25 ms / 10 ms Kaldi fbank, per-utterance CMVN).

Labels are the 40 classes of :data:`PHONEME_CLASSES` (39 CMU phonemes + ``SIL``) unless a
``phone_map`` / ``class_names`` says otherwise. TIMIT's 61 phones fold with :data:`TIMIT_61_TO_39`.
"""
from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from .frames import FrameDataset
from .speech.phonemes import PHONEME_CLASSES, frame_labels

__all__ = ["load_kaldi", "load_timit", "load_textgrid", "read_kaldi_matrices", "read_audio", "read_textgrid",
           "TIMIT_61_TO_39", "default_phone_map", "CorpusFormatError", "audio_features"]


class CorpusFormatError(ValueError):
    """A corpus file that cannot be read, or labels that cannot be mapped to the class set."""


# ----------------------------------------------------------------------------- phone maps
_RELEASES = {"bcl": ("b",), "dcl": ("d", "jh"), "gcl": ("g",), "pcl": ("p",), "tcl": ("t", "ch"), "kcl": ("k",)}

TIMIT_61_TO_39: dict[str, str | None] = {
    # Lee & Hon (1989) folding onto the 39 CMU phonemes + SIL. Differences from the classic 39-set,
    # forced by this class list: AO and ZH keep their own classes (CMU has them; Lee & Hon merge
    # ao→aa, zh→sh), and the flap dx — no CMU class — becomes T (as CMU transcribes "butter").
    **{p: p.upper() for p in "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t "
                             "th uh uw v w y z zh".split()},
    "ax": "AH", "ax-h": "AH", "axr": "ER", "ix": "IH", "ux": "UW", "hv": "HH", "el": "L", "em": "M",
    "en": "N", "nx": "N", "eng": "NG", "dx": "T",
    **{c: "SIL" for c in _RELEASES}, "h#": "SIL", "pau": "SIL", "epi": "SIL",
    "q": None,   # glottal stop: deleted as in Lee & Hon; its time goes to the preceding phone
}
"""TIMIT phone (lower case) → class name; ``None`` = deleted (time merged into the previous phone)."""

_SILENCES = {"", "sil", "sp", "spn", "nsn", "pau", "h#", "<eps>", "sil_b", "sil_e", "sil_i", "sil_s", "silence",
             "<sil>", "#", "_"}


def default_phone_map(label: str) -> str:
    """Map an aligner's phone label to a class name of :data:`PHONEME_CLASSES`.

    Handles CMU/ARPAbet labels from Kaldi, Montreal Forced Aligner and similar: strips Kaldi
    word-position suffixes (``_B _E _I _S``) and stress digits (``AH0`` → ``AH``), upper-cases,
    and maps silence/noise labels (``""``, ``sil``, ``sp``, ``spn``, ``nsn``, ``pau``…) to ``SIL``.
    Returns the mapped name unchanged otherwise (the caller checks it against the class list).
    """
    s = str(label).strip()
    if s.lower() in _SILENCES:
        return "SIL"
    s = re.sub(r"_[BEIS]$", "", s)
    if s.lower() in _SILENCES:
        return "SIL"
    return re.sub(r"[0-9]+$", "", s).upper()


def _mapper(phone_map) -> Callable[[str], str | None]:
    if phone_map is None:
        return default_phone_map
    if callable(phone_map):
        return phone_map
    if isinstance(phone_map, (str, Path)):
        table = {}
        for ln, line in enumerate(Path(phone_map).read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2:
                raise CorpusFormatError(f"{phone_map}:{ln}: a phone map line is 'phone class' (or 'phone' alone "
                                        f"to delete it); got {line!r}")
            table[parts[0]] = parts[1] if len(parts) == 2 else None
        phone_map = table
    if isinstance(phone_map, Mapping):
        table = dict(phone_map)

        def lookup(p):
            if p in table:
                return table[p]
            if p.lower() in table:
                return table[p.lower()]
            raise KeyError(p)
        return lookup
    raise TypeError(f"phone_map must be None, a dict, a callable or a path to a 'phone class' file; "
                    f"got {type(phone_map).__name__}")


def _map_labels(phones: Sequence[str], mapper, class_names: Sequence[str], source: str) -> list[str | None]:
    """Map every phone label; one error listing every unmapped label (none silently dropped)."""
    known = set(class_names)
    out, unknown = [], {}
    for p in phones:
        try:
            c = mapper(p)
        except KeyError:
            c = "?"
        if c is not None and c not in known:
            unknown[p] = c
        out.append(c)
    if unknown:
        shown = ", ".join(f"{p!r}→{c!r}" for p, c in list(unknown.items())[:15])
        raise CorpusFormatError(
            f"{source}: {len(unknown)} phone label(s) do not map onto the classes ({shown}). Pass "
            f"phone_map={{label: class or None}} (classes: {' '.join(class_names)}) or class_names=[...]")
    return out


# ----------------------------------------------------------------------------- audio
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
    from .speech.features import cmvn, fbank, resample_to_16k
    return cmvn(fbank(resample_to_16k(wave, rate)))


# ----------------------------------------------------------------------------- assembling
def _assemble(utts: list[dict], class_names: Sequence[str], name: str, context: int,
              keep_audio: bool, meta: dict) -> FrameDataset:
    """utts: dicts with ``frames [T, B]``, ``labels [T]`` (class names), ``voice``, ``text``, opt. ``wave``."""
    if not utts:
        raise CorpusFormatError(f"{name}: no utterances were found to load")
    index = {c: i for i, c in enumerate(class_names)}
    frames = np.concatenate([u["frames"] for u in utts]).astype(np.float16)
    lens = np.array([len(u["frames"]) for u in utts])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    bounds = np.stack([starts, starts + lens], 1).astype(np.int64)
    labels = np.concatenate([[index[c] for c in u["labels"]] for u in utts]).astype(np.int64)
    kw = {}
    if keep_audio:
        waves = [np.clip(np.round(u["wave"]), -32768, 32767).astype(np.int16) for u in utts]
        kw.update(_audio=np.concatenate(waves), audio_rate=16000,
                  _audio_offsets=np.concatenate([[0], np.cumsum([len(w) for w in waves])[:-1]]).astype(np.int64))
    ds = FrameDataset(labels=labels, class_names=tuple(class_names), feature_shape=(frames.shape[1], 2 * context + 1),
                      _frames=frames, _frame_index=np.arange(len(frames), dtype=np.int64),
                      _utt_of_sample=np.repeat(np.arange(len(utts)), lens), utt_bounds=bounds,
                      utt_voice=tuple(str(u.get("voice") or "") for u in utts),
                      utt_text=tuple(str(u.get("text") or "") for u in utts), context=context, name=name, **kw)
    ds.meta.update(meta)
    ds.meta["utterance_ids"] = [u["id"] for u in utts]
    return ds


def _segments_to_frame_labels(segments: list[tuple[float, float, str | None]], n_frames: int,
                              class_names: Sequence[str]) -> list[str]:
    """Class name per frame from ``[(start_s, end_s, class or None)]``; ``None`` merges into the previous segment."""
    merged: list[list] = []
    for s, e, c in segments:
        if c is None:
            if merged:
                merged[-1][1] = e
            continue
        merged.append([s, e, c])
    if tuple(class_names) == PHONEME_CLASSES:
        idx = frame_labels([tuple(m) for m in merged], n_frames)
        return [PHONEME_CLASSES[i] for i in idx]
    # Same rule as frame_labels (segment holding the frame centre, else SIL) for a custom class list.
    centres = np.arange(n_frames) * 0.010 + 0.0125
    out = ["SIL"] * n_frames
    for s, e, c in merged:
        for i in np.flatnonzero((centres >= s) & (centres < e)):
            out[i] = c
    if "SIL" not in class_names and any(o == "SIL" for o in out):
        raise CorpusFormatError("some frames fall outside every labelled segment and would be SIL, which is not "
                                "in class_names; add 'SIL' to class_names")
    return out


# ----------------------------------------------------------------------------- Kaldi
def _read_token(f) -> bytes:
    tok = bytearray()
    while True:
        ch = f.read(1)
        if not ch or ch in b" \t\n\r":
            if tok or not ch:
                return bytes(tok)
            continue
        tok += ch


def _read_binary_matrix(f, where: str) -> np.ndarray:
    kind = _read_token(f)
    if kind == b"CM" or kind.startswith(b"CM"):
        raise CorpusFormatError(f"{where}: compressed Kaldi matrix; write it uncompressed "
                                "(copy-feats --compress=false ark:in.ark ark:out.ark)")
    dtypes = {b"FM": "<f4", b"DM": "<f8", b"FV": "<f4", b"DV": "<f8"}
    if kind not in dtypes:
        raise CorpusFormatError(f"{where}: unknown Kaldi binary object {kind!r} (expected 'FM' or 'DM' matrices)")
    dims = []
    for _ in range(1 if kind.endswith(b"V") else 2):
        size = f.read(1)
        if size != b"\x04":
            raise CorpusFormatError(f"{where}: damaged Kaldi binary matrix header (int size {size!r})")
        dims.append(struct.unpack("<i", f.read(4))[0])
    n = int(np.prod(dims))
    itemsize = np.dtype(dtypes[kind]).itemsize
    buf = f.read(n * itemsize)
    if len(buf) != n * itemsize:
        raise CorpusFormatError(f"{where}: truncated Kaldi matrix ({len(buf)} of {n * itemsize} bytes)")
    m = np.frombuffer(buf, dtype=dtypes[kind]).astype(np.float32)
    return m.reshape(dims if len(dims) == 2 else (1, dims[0]))


def _read_text_matrix(f, where: str) -> np.ndarray:
    """Rows up to the closing ``]`` (the opening ``[`` already read)."""
    rows = []
    while True:
        line = f.readline()
        if not line:
            raise CorpusFormatError(f"{where}: text matrix not closed with ']' (truncated file?)")
        text = line.decode("ascii", "replace")
        end = "]" in text
        try:
            row = [float(t) for t in text.replace("[", " ").replace("]", " ").split()]
        except ValueError:
            raise CorpusFormatError(f"{where}: non-numeric entry in text matrix: {line[:80]!r}") from None
        if row:
            rows.append(row)
        if end:
            break
    if rows and len({len(r) for r in rows}) != 1:
        raise CorpusFormatError(f"{where}: text matrix rows have different lengths")
    return np.array(rows, dtype=np.float32).reshape(len(rows), -1)


def _read_object(f, where: str) -> np.ndarray:
    """Read one matrix at the file position: ``\\0B`` binary or ``[ … ]`` text."""
    c = f.read(1)
    while c in (b" ", b"\t", b"\n", b"\r"):
        c = f.read(1)
    if c == b"\x00":
        if f.read(1) != b"B":
            raise CorpusFormatError(f"{where}: damaged binary Kaldi object (\\0 not followed by 'B')")
        return _read_binary_matrix(f, where)
    if c == b"[":
        return _read_text_matrix(f, where)
    if not c:
        raise CorpusFormatError(f"{where}: file ends where a matrix should start (truncated?)")
    raise CorpusFormatError(f"{where}: expected a Kaldi matrix ('\\0B' binary or '[' text), got {c!r}")


def _iter_ark(path: Path):
    with open(path, "rb") as f:
        while True:
            key = _read_token(f)
            if not key:
                return
            yield key.decode(), _read_object(f, f"{path} (utterance {key.decode()!r})")


def read_kaldi_matrices(source) -> dict[str, np.ndarray]:
    """Read a Kaldi ``.ark`` (binary or text) or ``.scp`` of float matrices: ``{utt_id: [T, dim] float32}``.

    ``.scp`` lines are ``utt_id file.ark:offset`` (or a path to a single-matrix file); relative
    paths resolve from the current directory first, then from the ``.scp``'s folder. Compressed
    (``CM``) matrices are refused with the ``copy-feats --compress=false`` fix.
    """
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no Kaldi feature file at {path}; pass a feats.scp or .ark path")
    with open(path, "rb") as f:
        head = f.read(4096)
    is_scp = path.suffix == ".scp" or (b"\x00B" not in head and b"[" not in head)
    if not is_scp:
        out = {}
        for k, m in _iter_ark(path):
            if k in out:
                raise CorpusFormatError(f"{path}: utterance {k!r} appears twice")
            out[k] = m
        return out
    out = {}
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise CorpusFormatError(f"{path}:{ln}: scp lines are 'utt_id file.ark:offset'; got {line!r}")
        key, loc = parts[0], parts[1].strip()
        m = re.match(r"^(.*?)(?::(\d+))?$", loc)
        file, offset = m.group(1), m.group(2)
        fp = Path(file)
        if not fp.is_absolute() and not fp.exists():
            fp = path.parent / file
        if not fp.is_file():
            raise FileNotFoundError(f"{path}:{ln}: {file} does not exist (relative paths resolve from the "
                                    "current directory or the scp's folder)")
        with open(fp, "rb") as f:
            if offset is not None:
                f.seek(int(offset))
            else:
                _read_token(f)     # a file holding one 'key matrix' entry
            out[key] = _read_object(f, f"{fp}:{offset} (utterance {key!r})")
    return out


def _read_alignments(source, phones_table) -> dict[str, list[str]]:
    if isinstance(source, Mapping):
        return {str(k): [str(p) for p in v] for k, v in source.items()}
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no alignment file at {path}; write one with "
                                "ali-to-phones --per-frame=true final.mdl ark:ali.1 ark,t:ali.txt")
    ids = None
    if phones_table is not None:
        ids = {}
        for line in Path(phones_table).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                ids[parts[1]] = parts[0]
    out = {}
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        seq = parts[1:]
        if ids is not None:
            missing = sorted({p for p in seq if p not in ids})
            if missing:
                raise CorpusFormatError(f"{path}:{ln}: phone ids {missing[:10]} are not in {phones_table}")
            seq = [ids[p] for p in seq]
        elif seq and all(p.isdigit() for p in seq):
            raise CorpusFormatError(f"{path}:{ln}: alignments hold integer phone ids; pass phones='lang/phones.txt' "
                                    "(the symbol table) or convert with utils/int2sym.pl -f 2- phones.txt")
        out[parts[0]] = seq
    return out


def load_kaldi(feats, alignments, phone_map=None, phones=None, class_names: Sequence[str] = PHONEME_CLASSES,
               context: int = 5, cmvn: bool = True, missing: str = "error", name: str = "kaldi") -> FrameDataset:
    """Kaldi features plus per-frame phone alignments as a spliced `FrameDataset`.

    feats: a ``feats.scp`` or ``.ark`` (binary ``\\0BFM``/``DM`` or text ``[ … ]``) of ``[T, B]``
    matrices; alignments: a text file of ``utt_id phone phone …`` (one label per frame, as
    ``ali-to-phones --per-frame=true`` then ``int2sym.pl`` writes; integer ids need ``phones``,
    the ``phones.txt`` symbol table) or a ``{utt_id: [T] labels}`` dict; phone_map: dict/callable/
    path mapping labels to ``class_names`` (default :func:`default_phone_map`; ``None`` values
    delete a frame's label, giving it the previous frame's); cmvn: per-utterance mean/variance
    normalisation (switch off if the features already have it); missing: ``"error"`` or
    ``"skip"`` (with a warning) for utterances with features but no alignment.
    Returns ``N = Σ T`` samples with ``feature_shape = (B, 2 * context + 1)``.
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    from .speech.features import cmvn as _cmvn
    mats = read_kaldi_matrices(feats)
    ali = _read_alignments(alignments, phones)
    no_ali = [k for k in mats if k not in ali]
    if no_ali:
        if missing == "error":
            raise CorpusFormatError(f"{len(no_ali)} of {len(mats)} utterances have features but no alignment "
                                    f"(first: {no_ali[:5]}); pass missing='skip' to leave them out")
        warnings.warn(f"load_kaldi: skipped {len(no_ali)} utterances without alignment (first: {no_ali[:5]})",
                      stacklevel=2)
    mapper = _mapper(phone_map)
    utts = []
    dims = set()
    for key, m in mats.items():
        if key not in ali:
            continue
        if len(m) != len(ali[key]):
            raise CorpusFormatError(f"utterance {key!r}: {len(m)} feature frames but {len(ali[key])} alignment "
                                    "labels; alignments must be per frame (ali-to-phones --per-frame=true) and "
                                    "made from the same features")
        labels = _map_labels(ali[key], mapper, class_names, f"alignment of {key!r}")
        for i, c in enumerate(labels):          # deleted labels take the previous frame's
            if c is None:
                labels[i] = labels[i - 1] if i else next((x for x in labels if x is not None), "SIL")
        if len(m) == 0:
            continue
        frames = _cmvn(m) if cmvn else m
        if not np.isfinite(frames).all():
            raise CorpusFormatError(f"utterance {key!r}: features contain NaN/inf")
        dims.add(m.shape[1])
        utts.append({"id": key, "frames": frames, "labels": labels, "voice": key.split("_")[0].split("-")[0]})
    if len(dims) > 1:
        raise CorpusFormatError(f"feature dimensions differ between utterances: {sorted(dims)}")
    return _assemble(utts, class_names, name, context, False, {"source": "kaldi", "feats": str(feats)})


# ----------------------------------------------------------------------------- TIMIT
def load_timit(root, phone_map=None, include_sa: bool = False, closures: str = "sil", context: int = 5,
               keep_audio: bool = False, class_names: Sequence[str] = PHONEME_CLASSES,
               progress: bool = True, name: str = "timit") -> FrameDataset:
    """A TIMIT-style tree (``…/SPEAKER/SX123.WAV`` + ``.PHN`` [+ ``.TXT``], any case) as a `FrameDataset`.

    ``.WAV`` may be NIST SPHERE (uncompressed PCM) or RIFF. ``.PHN`` lines are ``start end phone``
    in samples. Features: 23 log-Mel at 16 kHz, 25 ms / 10 ms, per-utterance CMVN; labels by the
    phone holding each frame centre, folded with ``phone_map`` (default :data:`TIMIT_61_TO_39`).
    include_sa: keep the two dialect sentences SA1/SA2 (usually left out, being read by everyone);
    closures: ``"sil"`` (Lee & Hon: closures are silence) or ``"merge"`` (a closure directly
    before its own release — ``tcl t`` — joins the stop, as forced alignment with CMU phones does);
    keep_audio: store the 16 kHz waveform for playback. Point ``root`` at ``TRAIN`` or ``TEST`` to
    load one split. Returns ``N = Σ frames`` samples, ``feature_shape (23, 2 * context + 1)``.
    """
    if closures not in ("sil", "merge"):
        raise ValueError(f"closures must be 'sil' or 'merge', got {closures!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no TIMIT folder at {root}; pass the folder that holds the speaker folders")
    phn_files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".phn"
                       and (include_sa or not p.stem.lower().startswith("sa")))
    if not phn_files:
        raise CorpusFormatError(f"no .PHN files under {root}; is it a TIMIT-style tree (SPEAKER/SX1.WAV + SX1.PHN)?")
    mapper = _mapper(TIMIT_61_TO_39 if phone_map is None else phone_map)
    from tqdm.auto import tqdm
    utts = []
    for phn in tqdm(phn_files, desc="TIMIT", unit="utt", disable=not progress, leave=False):
        wav = next((p for p in (phn.with_suffix(s) for s in (".WAV", ".wav", ".Wav")) if p.is_file()), None)
        if wav is None:
            raise FileNotFoundError(f"{phn} has no .WAV beside it")
        wave, rate = read_audio(wav)
        rows = []
        for ln, line in enumerate(phn.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
                raise CorpusFormatError(f"{phn}:{ln}: .PHN lines are 'start end phone' in samples; got {line!r}")
            rows.append((int(parts[0]), int(parts[1]), parts[2]))
        phones = [p for _, _, p in rows]
        if closures == "merge":   # a closure right before its own release (or affricate) joins it
            phones = [phones[i + 1] if p in _RELEASES and i + 1 < len(phones) and phones[i + 1] in _RELEASES[p]
                      else p for i, p in enumerate(phones)]
        classes = _map_labels(phones, mapper, class_names, str(phn))
        feats = audio_features(wave, rate)
        segs = [(s / rate, e / rate, c) for (s, e, _), c in zip(rows, classes)]
        text = ""
        txt = next((p for p in (phn.with_suffix(s) for s in (".TXT", ".txt")) if p.is_file()), None)
        if txt is not None:
            text = " ".join(txt.read_text().split()[2:])
        u = {"id": f"{phn.parent.name}_{phn.stem}", "frames": feats, "voice": phn.parent.name, "text": text,
             "labels": _segments_to_frame_labels(segs, len(feats), class_names)}
        if keep_audio:
            from .speech.features import resample_to_16k
            u["wave"] = resample_to_16k(wave, rate)
        utts.append(u)
    return _assemble(utts, class_names, name, context, keep_audio, {"source": "timit", "root": str(root)})


# ----------------------------------------------------------------------------- TextGrid
_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|\[[^\]\n]*\]|(<exists>|<absent>)|(?<![\w.])([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w])|!.*')


def read_textgrid(path) -> dict[str, list[tuple[float, float, str]]]:
    """Parse a Praat TextGrid (long or short text format, UTF-8 or UTF-16): ``{tier name: [(xmin, xmax, text)]}``.

    Point tiers (TextTier) give ``(time, time, mark)``.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] in (b"\xfe\xff", b"\xff\xfe"):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    toks: list = []
    for m in _TG_TOKEN.finditer(text):
        if m.group(1) is not None:
            toks.append(m.group(1).replace('""', '"'))
        elif m.group(2) is not None:
            toks.append(m.group(2))
        elif m.group(3) is not None:
            toks.append(float(m.group(3)))
    bad = CorpusFormatError(f"{path} is not a Praat TextGrid text file (long or short format); "
                            "save it from Praat with 'Save as text file'")
    if len(toks) < 5 or toks[0] != "ooTextFile" or toks[1] != "TextGrid":
        raise bad
    pos = 4
    if toks[pos] == "<absent>":
        return {}
    if toks[pos] != "<exists>":
        raise bad
    try:
        n_tiers = int(toks[pos + 1])
        pos += 2
        tiers = {}
        for _ in range(n_tiers):
            cls, tname = toks[pos], toks[pos + 1]
            n = int(toks[pos + 4])
            pos += 5
            items = []
            if cls == "IntervalTier":
                for _ in range(n):
                    items.append((float(toks[pos]), float(toks[pos + 1]), str(toks[pos + 2])))
                    pos += 3
            elif cls == "TextTier":
                for _ in range(n):
                    items.append((float(toks[pos]), float(toks[pos]), str(toks[pos + 1])))
                    pos += 2
            else:
                raise bad
            tiers[tname] = items
    except (IndexError, ValueError, TypeError):
        raise CorpusFormatError(f"{path}: TextGrid ends early or has a malformed tier (truncated file?)") from None
    return tiers


def _pick_tier(tiers: dict, tier, path) -> str:
    if tier is not None:
        if tier not in tiers:
            raise KeyError(f"{path} has no tier {tier!r}; its tiers: {list(tiers)}")
        return tier
    for want in ("phones", "phone", "phonemes", "phoneme", "segments", "phn"):
        for t in tiers:
            if t.lower() == want or t.lower().endswith(" - " + want):
                return t
    raise KeyError(f"{path}: no phone tier found among {list(tiers)}; pass tier='name'")


def load_textgrid(pairs: Iterable[tuple], tier: str | None = None, phone_map=None, context: int = 5,
                  keep_audio: bool = False, class_names: Sequence[str] = PHONEME_CLASSES,
                  progress: bool = True, name: str = "textgrid") -> FrameDataset:
    """Forced-aligned audio (Praat TextGrid + WAV pairs, e.g. from Montreal Forced Aligner) as a `FrameDataset`.

    pairs: ``[(textgrid_path, wav_path), …]`` or ``[(textgrid_path, wav_path, voice), …]``; tier:
    the interval tier with phones (default: one named ``phones``/``phone``/``phonemes``/``segments``);
    phone_map: as in :func:`load_kaldi` (default :func:`default_phone_map`: ARPAbet with stress
    digits, empty/``sil``/``sp``/``spn`` → ``SIL``; pass :data:`TIMIT_61_TO_39` for TIMIT labels).
    WAV (RIFF or SPHERE) at any rate is resampled to 16 kHz; features and labels as
    :func:`load_timit`. Returns ``N = Σ frames`` samples, ``feature_shape (23, 2 * context + 1)``.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty: pass [(textgrid_path, wav_path), ...]")
    mapper = _mapper(phone_map)
    from tqdm.auto import tqdm
    utts = []
    for item in tqdm(pairs, desc="TextGrid", unit="utt", disable=not progress, leave=False):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(f"each pair must be (textgrid_path, wav_path[, voice]); got {item!r}")
        tg, wav = Path(item[0]), Path(item[1])
        for p in (tg, wav):
            if not p.is_file():
                raise FileNotFoundError(f"{p} does not exist")
        tiers = read_textgrid(tg)
        intervals = tiers[_pick_tier(tiers, tier, tg)]
        classes = _map_labels([t for _, _, t in intervals], mapper, class_names, str(tg))
        wave, rate = read_audio(wav)
        feats = audio_features(wave, rate)
        segs = [(s, e, c) for (s, e, _), c in zip(intervals, classes)]
        words = tiers.get(next((t for t in tiers if t.lower().endswith("words")), ""), [])
        u = {"id": tg.stem, "frames": feats, "voice": item[2] if len(item) == 3 else tg.parent.name,
             "text": " ".join(w for _, _, w in words if w.strip()),
             "labels": _segments_to_frame_labels(segs, len(feats), class_names)}
        if keep_audio:
            from .speech.features import resample_to_16k
            u["wave"] = resample_to_16k(wave, rate)
        utts.append(u)
    return _assemble(utts, class_names, name, context, keep_audio, {"source": "textgrid"})
