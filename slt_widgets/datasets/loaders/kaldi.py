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
from ._common import CorpusFormatError, _assemble, _map_labels, _mapper

__all__ = ["load_kaldi", "read_kaldi_matrices"]


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
