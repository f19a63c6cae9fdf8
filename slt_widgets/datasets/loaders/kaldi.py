"""Kaldi features (binary or text ``.ark``, ``.scp``) and per-frame phone alignments → `FrameDataset`."""
from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..frames import FrameDataset
from ..speech.phonemes import PHONEME_CLASSES
from ._common import CorpusFormatError, _assemble, _map_labels, _mapper, check_context, read_text_file

__all__ = ["load_kaldi", "read_kaldi_matrices"]


MAX_KEY = 4096
"""Longest utterance id read (bytes): a longer 'word' means the file is not a Kaldi archive."""


def _read_token(f, where: str = "") -> bytes:
    tok = bytearray()
    while True:
        ch = f.read(1)
        if not ch or ch in b" \t\n\r":
            if tok or not ch:
                return bytes(tok)
            continue
        tok += ch
        if len(tok) > MAX_KEY:
            raise CorpusFormatError(f"{where or getattr(f, 'name', 'file')}: a {MAX_KEY}-byte run without a space "
                                    "where an utterance id should be; this is not a Kaldi archive")


def _key(raw: bytes, where) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorpusFormatError(f"{where}: utterance id {raw[:40]!r} is not UTF-8 text; this is not a Kaldi "
                                "archive (or it is damaged)") from None


def _remaining(f) -> int:
    import os
    return os.fstat(f.fileno()).st_size - f.tell()


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
        raw = f.read(4)
        if len(raw) != 4:
            raise CorpusFormatError(f"{where}: truncated Kaldi matrix header")
        dims.append(struct.unpack("<i", raw)[0])
    if any(d < 0 for d in dims):
        raise CorpusFormatError(f"{where}: damaged Kaldi matrix header (negative size {dims})")
    n = int(np.prod(dims, dtype=object))
    itemsize = np.dtype(dtypes[kind]).itemsize
    if n * itemsize > _remaining(f):      # checked before reading: a damaged header must not allocate GBs
        raise CorpusFormatError(f"{where}: Kaldi matrix header says {' x '.join(map(str, dims))} "
                                f"({n * itemsize} bytes) but only {_remaining(f)} bytes follow (truncated or damaged)")
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
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)          # '[ ]': an empty matrix
    return np.array(rows, dtype=np.float32)


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
    shown = (c + f.read(23)).decode("ascii", "replace")
    raise CorpusFormatError(f"{where}: no Kaldi matrix here (the bytes read {shown!r}); a Kaldi entry is "
                            "'utt_id \\0BFM …' (binary) or 'utt_id [ … ]' (text): is this a Kaldi archive?")


def _iter_ark(path: Path):
    with open(path, "rb") as f:
        while True:
            key = _read_token(f, str(path))
            if not key:
                return
            k = _key(key, path)
            yield k, _read_object(f, f"{path} (utterance {k!r})")


def _scp_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CorpusFormatError(f"{path}: neither a Kaldi ark (no '\\0B' or '[' in its first 4 kB) nor a text scp "
                                f"(byte {e.start} is not UTF-8); pass a feats.scp or .ark path") from None


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
    is_scp = path.suffix == ".scp" or (path.suffix != ".ark" and b"\x00B" not in head and b"[" not in head)
    if not is_scp:
        out = {}
        for k, m in _iter_ark(path):
            if k in out:
                raise CorpusFormatError(f"{path}: utterance {k!r} appears twice")
            out[k] = m
        return out
    out, first_line = {}, {}
    for ln, line in enumerate(_scp_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise CorpusFormatError(f"{path}:{ln}: scp lines are 'utt_id file.ark:offset'; got {line!r}")
        key, loc = parts[0], parts[1].strip()
        if key in out:
            raise CorpusFormatError(f"{path}:{ln}: utterance {key!r} appears twice (first on line {first_line[key]}); "
                                    "each utterance id must be listed once")
        m = re.match(r"^(.*?)(?::(\d+))?$", loc)
        file, offset = m.group(1), m.group(2)
        if "\0" in file:
            raise CorpusFormatError(f"{path}:{ln}: the file name holds a NUL byte; this is not a text scp")
        fp = Path(file)
        if not fp.is_absolute() and not fp.exists():
            fp = path.parent / file
        if fp.is_dir():
            raise CorpusFormatError(f"{path}:{ln}: {file} is a folder, not an ark file; scp lines are "
                                    "'utt_id file.ark:offset'")
        if not fp.is_file():
            raise FileNotFoundError(f"{path}:{ln}: {file} does not exist (relative paths resolve from the "
                                    "current directory or the scp's folder)")
        with open(fp, "rb") as f:
            if offset is not None:
                if int(offset) >= _remaining(f):
                    raise CorpusFormatError(f"{path}:{ln}: offset {offset} is past the end of {fp} "
                                            f"({_remaining(f)} bytes); was the ark rewritten after the scp?")
                f.seek(int(offset))
            else:
                _read_token(f, str(fp))     # a file holding one 'key matrix' entry
            out[key] = _read_object(f, f"{fp}:{offset} (utterance {key!r}, {path}:{ln})")
            first_line[key] = ln
    return out


def _read_alignments(source, phones_table) -> dict[str, list[str]]:
    if isinstance(source, Mapping):
        out = {}
        for k, v in source.items():
            if isinstance(v, (str, bytes)):
                raise TypeError(f"alignments[{k!r}] is a string ({str(v)[:30]!r}…); give one label per frame as a "
                                "list, e.g. alignments[k].split()")
            try:
                out[str(k)] = [str(p) for p in v]
            except TypeError:
                raise TypeError(f"alignments[{k!r}] must be a list of per-frame labels, got "
                                f"{type(v).__name__}") from None
        return out
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no alignment file at {path}; write one with "
                                "ali-to-phones --per-frame=true final.mdl ark:ali.1 ark,t:ali.txt")
    ids = None
    if phones_table is not None:
        ids = {}
        for line in read_text_file(phones_table, "phones.txt symbol table").splitlines():
            parts = line.split()
            if len(parts) == 2:
                ids[parts[1]] = parts[0]
    out = {}
    for ln, line in enumerate(read_text_file(path, "text alignment file").splitlines(), 1):
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
        if parts[0] in out:
            raise CorpusFormatError(f"{path}:{ln}: utterance {parts[0]!r} appears twice; each utterance needs one "
                                    "alignment line")
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
    context = check_context(context)
    from ..speech.features import cmvn as _cmvn
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
    utts, empty = [], []
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
            empty.append(key)
            continue
        frames = _cmvn(m) if cmvn else m
        if not np.isfinite(frames).all():
            raise CorpusFormatError(f"utterance {key!r}: features contain NaN/inf")
        dims.add(m.shape[1])
        utts.append({"id": key, "frames": frames, "labels": labels, "voice": key.split("_")[0].split("-")[0]})
    if empty:
        warnings.warn(f"load_kaldi: skipped {len(empty)} utterance(s) with 0 frames (first: {empty[:5]})",
                      stacklevel=2)
    if len(dims) > 1:
        raise CorpusFormatError(f"feature dimensions differ between utterances: {sorted(dims)}")
    return _assemble(utts, class_names, name, context, False, {"source": "kaldi", "feats": str(feats)})
