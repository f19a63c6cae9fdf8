"""`FrameDataset`: labelled feature frames, spliced on the fly from compact storage.

Speech corpora are stored *unspliced*: one float16 row of ``n_bands`` log-Mel
coefficients per 10 ms frame, utterances concatenated. A sample is the frame
with ``context`` neighbours on each side (edge frames repeated inside the
utterance), flattened **band-major** so that ``x.reshape(n, *feature_shape)``
gives ``[n, bands, time]`` templates directly (the paper's 23 × 11 image).

Any other data (images, tabular) uses :meth:`FrameDataset.from_arrays`, which
stores the features as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import zipfile

import numpy as np

from .._files import atomic_open

__all__ = ["FrameDataset", "splice"]


def splice(frames: np.ndarray, utt_start: np.ndarray, utt_end: np.ndarray,
           index: np.ndarray, context: int) -> np.ndarray:
    """Splice frames around ``index`` without crossing utterance boundaries.

    frames: ``[T, B]`` unspliced frames; utt_start/utt_end: ``[n]`` first and
    one-past-last frame of each sample's utterance; index: ``[n]`` centre frames.
    Returns ``[n, B * (2*context+1)]`` float32, band-major (band, offset).
    """
    offsets = np.arange(-context, context + 1)
    rows = index[:, None] + offsets[None, :]                       # [n, W]
    rows = np.clip(rows, utt_start[:, None], utt_end[:, None] - 1)
    out = frames[rows].astype(np.float32)                          # [n, W, B]
    return np.ascontiguousarray(out.transpose(0, 2, 1)).reshape(len(index), -1)


def _whole(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _count(v, what: str, least: int = 0) -> int:
    """``v`` as an int ≥ ``least``; bools and floats refused (they would be truncated)."""
    if not _whole(v):
        raise TypeError(f"{what} must be an int, got {type(v).__name__} {v!r}")
    if int(v) < least:
        raise ValueError(f"{what} must be ≥ {least}, got {int(v)}")
    return int(v)


def _shape(v, what: str) -> tuple[int, ...]:
    try:
        dims = tuple(v)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of positive ints such as (23, 11), got {v!r}") from None
    if not dims or not all(_whole(d) and d > 0 for d in dims):
        raise ValueError(f"{what} must be a tuple of positive ints such as (23, 11), got {dims!r}")
    return tuple(int(d) for d in dims)


def _label_array(labels) -> np.ndarray:
    """Labels ``[N]`` as int64 class indices: integral floats are taken, anything that would be
    truncated or guessed (0.2, NaN, bools, strings) is refused with the fix."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D [N], got shape {y.shape}")
    if y.dtype.kind in "USO":
        raise TypeError(f"labels are {'strings' if y.dtype.kind != 'O' else 'objects'} ({y[:3].tolist()}…); pass "
                        "class indices and the names: names, y = np.unique(labels, return_inverse=True), then "
                        "from_arrays(x, y, names)")
    if y.dtype == bool:
        raise TypeError("labels are booleans; pass class indices (y.astype(int)) and class_names=('False', 'True')")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise ValueError(f"labels must be whole class indices; label {int(bad[0])} is {float(y[bad[0]])!r} "
                             f"({len(bad)} non-integral). Round or map them first")
    elif y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise ValueError(f"labels must be class indices ≥ 0; got {int(y.min())}")
    return y


def _class_names(names) -> tuple[str, ...]:
    if isinstance(names, str):
        raise TypeError(f"class_names must be a sequence of names, got the string {names!r}; "
                        f"pass list({names!r}) if every character is a class")
    out = tuple(str(c) for c in names)
    if len(set(out)) != len(out):
        seen, dup = set(), []
        for c in out:
            if c in seen and c not in dup:
                dup.append(c)
            seen.add(c)
        raise ValueError(f"class names must be unique; {dup[:5]} appear more than once")
    return out


@dataclass
class FrameDataset:
    """Frames with labels, class names and (optionally) utterance metadata and audio.

    Attributes
    ----------
    labels : ``[N]`` int64 class index per sample.
    class_names : ``K`` names (ARPAbet + ``"SIL"`` for speech).
    feature_shape : shape of one sample drawn as a template, e.g. ``(23, 11)``
        (frequency bands × time frames) or ``(8, 8)`` for digits. Its product is ``D``.

    Storage is either ``_dense`` (``[N, D]``, from :meth:`from_arrays`) or
    ``_frames`` (``[T, B]`` float16) plus ``_frame_index [N]`` and utterance
    boundaries, spliced on access.
    """

    labels: np.ndarray
    class_names: tuple[str, ...]
    feature_shape: tuple[int, ...]
    _dense: np.ndarray | None = None
    _frames: np.ndarray | None = None
    _frame_index: np.ndarray | None = None
    _utt_of_sample: np.ndarray | None = None
    utt_bounds: np.ndarray | None = None        # [U, 2] first / one-past-last frame
    utt_voice: tuple[str, ...] | None = None     # [U] voice / speaker name
    utt_text: tuple[str, ...] | None = None      # [U] sentence
    context: int = 5
    frame_shift_s: float = 0.01
    audio_rate: int | None = None
    _audio: np.ndarray | None = None             # concatenated int16 waveform
    _audio_offsets: np.ndarray | None = None     # [U] sample offset of each utterance
    name: str = "dataset"
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ build
    def __post_init__(self) -> None:
        self.labels = _label_array(self.labels)
        self.class_names = _class_names(self.class_names)
        self.feature_shape = _shape(self.feature_shape, "feature_shape")
        self.context = _count(self.context, "context")
        n = len(self.labels)
        if n and self.labels.max() >= len(self.class_names):
            raise ValueError(
                f"labels must lie in 0..{len(self.class_names) - 1} (one per class name); "
                f"got range {self.labels.min()}..{self.labels.max()}")
        if self._dense is None and self._frames is None:
            raise ValueError("FrameDataset needs features: use FrameDataset.from_arrays(features, labels, class_names)")
        if self._dense is not None:
            if self._dense.ndim != 2 or self._dense.dtype.kind != "f":
                raise ValueError(f"dense features must be a real float [N, D] array, got {self._dense.dtype} "
                                 f"{self._dense.shape}; build the dataset with FrameDataset.from_arrays")
            if len(self._dense) != n:
                raise ValueError(f"features have {len(self._dense)} rows but labels have {n}")
        if self._frames is not None:
            if self._frame_index is None or self._utt_of_sample is None or self.utt_bounds is None:
                raise ValueError("spliced storage needs _frame_index, _utt_of_sample and utt_bounds")
            if len(self._frame_index) != n:
                raise ValueError(f"{len(self._frame_index)} frame indices but {n} labels")
            self._check_spliced()
        if int(np.prod(self.feature_shape)) != self.n_features:
            raise ValueError(f"feature_shape {self.feature_shape} has {int(np.prod(self.feature_shape))} "
                             f"elements but samples have {self.n_features} features")

    def _check_spliced(self) -> None:
        """Spliced storage must point inside itself: a crafted file would otherwise read other
        utterances' frames (or wrap around with negative indices) and return garbage features."""
        f, fi, us, b = self._frames, self._frame_index, self._utt_of_sample, self.utt_bounds
        if f.ndim != 2 or not np.issubdtype(f.dtype, np.floating):
            raise ValueError(f"frames must be a float [T, B] array, got {f.dtype} {f.shape}")
        for name, a in (("frame_index", fi), ("utt_of_sample", us), ("utt_bounds", b)):
            if not np.issubdtype(np.asarray(a).dtype, np.integer):
                raise ValueError(f"{name} must hold integers, got {np.asarray(a).dtype}")
        T, U = len(f), len(b)
        if b.ndim != 2 or b.shape[1] != 2:
            raise ValueError(f"utt_bounds must be [U, 2] (first, one-past-last frame), got shape {b.shape}")
        bad = np.flatnonzero((b[:, 0] < 0) | (b[:, 1] <= b[:, 0]) | (b[:, 1] > T))
        if len(bad):
            u = int(bad[0])
            raise ValueError(f"utterance {u} has frame bounds {b[u].tolist()}, not 0 <= first < end <= {T} "
                             f"(the frames); {len(bad)} utterance(s) are out of order or outside the storage")
        if len(us) != len(fi):
            raise ValueError(f"{len(us)} utterance indices but {len(fi)} frame indices")
        if len(fi):
            if us.min() < 0 or us.max() >= U:
                raise ValueError(f"utt_of_sample must lie in 0..{U - 1} (the utterances); got "
                                 f"{us.min()}..{us.max()}")
            lo, hi = b[us, 0], b[us, 1]
            bad = np.flatnonzero((fi < lo) | (fi >= hi))
            if len(bad):
                i = int(bad[0])
                raise ValueError(f"sample {i} points at frame {int(fi[i])}, outside its utterance {int(us[i])} "
                                 f"(frames {int(lo[i])}..{int(hi[i]) - 1}); {len(bad)} sample(s) are")
        for name, v in (("utt_voice", self.utt_voice), ("utt_text", self.utt_text)):
            if v is not None and len(v) != U:
                raise ValueError(f"{name} has {len(v)} entries for {U} utterances")
        if self._audio is not None:
            off = np.asarray(self._audio_offsets)
            if off.shape != (U,) or (U and (off[0] < 0 or np.any(np.diff(off) < 0) or off[-1] > len(self._audio))):
                raise ValueError(f"audio_offsets must be [U] = [{U}] non-decreasing sample offsets within the "
                                 f"{len(self._audio)} audio samples")
            if not _whole(self.audio_rate) or self.audio_rate <= 0:
                raise ValueError(f"audio_rate must be a positive int, got {self.audio_rate!r}")

    @classmethod
    def from_arrays(cls, features, labels, class_names: Sequence[str] | None = None,
                    feature_shape: Sequence[int] | None = None, name: str = "dataset") -> "FrameDataset":
        """Wrap in-memory arrays. features ``[N, D]`` (or ``[N, *feature_shape]``), labels ``[N]``."""
        x = np.asarray(features)
        if x.ndim < 2:
            raise ValueError(f"features must be [N, D] (or [N, *shape]); got shape {x.shape}")
        if len(x) == 0:
            raise ValueError("features hold 0 samples; a FrameDataset needs at least one (check the filter "
                             "that built them)")
        if x.dtype.kind == "c":
            raise ValueError(f"features are complex ({x.dtype}); pass the real features you mean, e.g. "
                             "np.abs(x) (magnitude) or np.concatenate([x.real, x.imag], 1)")
        if x.dtype.kind not in "biuf":
            raise ValueError(f"features must be numbers, got dtype {x.dtype}")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)).all(1)).ravel()
            raise ValueError(f"features contain NaN/inf in {len(bad)} samples (first: {bad[:5].tolist()}); "
                             "clean or drop them before building a FrameDataset")
        shape = tuple(feature_shape) if feature_shape is not None else (x.shape[1:] if x.ndim > 2 else (x.shape[1],))
        x = x.reshape(len(x), -1)
        y = np.asarray(labels)
        if y.shape != (len(x),):
            raise ValueError(f"labels must be [N] = [{len(x)}], got shape {y.shape}")
        y = _label_array(y)
        if class_names is None:
            class_names = [str(c) for c in range(int(y.max()) + 1)] if len(y) else []
        return cls(labels=y, class_names=_class_names(class_names), feature_shape=shape, _dense=x, name=name)

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        if self._dense is not None:
            return self._dense.shape[1]
        return self._frames.shape[1] * (2 * self.context + 1)

    def _positions(self, index) -> np.ndarray:
        """Sample positions ``[n]`` from an int, ints, a slice or a bool mask of length N, checked:
        floats (which numpy would truncate), bools posing as ints and out-of-range indices are refused."""
        n = len(self)
        if isinstance(index, slice):
            return np.arange(n)[index]
        if isinstance(index, (bool, np.bool_)):
            raise TypeError(f"sample index {index!r} is a bool; pass an int, ints, a slice or a mask of length {n}")
        a = np.asarray(index)
        if a.dtype == bool:
            if a.shape != (n,):
                raise IndexError(f"a boolean mask must have length {n} (one per sample), got shape {a.shape}")
            return np.flatnonzero(a)
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"sample indices must be integers, got {a.dtype} (e.g. {a.ravel()[:3].tolist()}); "
                            "convert deliberately (np.round(i).astype(int)) if you mean it")
        if a.ndim > 1:
            raise IndexError(f"sample indices must be a 1-D list, got shape {a.shape}")
        if a.min() < -n or a.max() >= n:
            bad = a[(a < -n) | (a >= n)]
            raise IndexError(f"sample index {int(bad[0])} out of range 0..{n - 1} ({len(bad)} such); pass indices "
                             f"or a mask of length {n}")
        return a.astype(np.int64) % n if n else a.astype(np.int64)

    def features_at(self, index) -> np.ndarray:
        """Features of the samples ``index`` (int, ints, slice or bool mask): ``[n, D]`` float32."""
        idx = np.atleast_1d(self._positions(index))
        if self._dense is not None:
            return np.asarray(self._dense[idx], dtype=np.float32)
        utt = self._utt_of_sample[idx]
        b = self.utt_bounds[utt]
        return splice(self._frames, b[:, 0], b[:, 1], self._frame_index[idx], self.context)

    @property
    def features(self) -> np.ndarray:
        """All features ``[N, D]`` float32 (spliced now; use :meth:`iter_batches` for large sets)."""
        return self.features_at(np.arange(len(self)))

    def iter_batches(self, batch_size: int = 4096, index=None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(sample_index [b], features [b, D], labels [b])`` in order."""
        batch_size = _count(batch_size, "batch_size", least=1)
        idx = np.arange(len(self)) if index is None else np.atleast_1d(self._positions(index))
        for s in range(0, len(idx), batch_size):
            i = idx[s:s + batch_size]
            yield i, self.features_at(i), self.labels[i]

    def class_index(self, cls) -> int:
        """Class index from a name or an int. Names match exactly first, then ignoring case when
        that is unambiguous (``"s"`` finds ``"S"`` unless the classes hold both)."""
        if isinstance(cls, (bool, np.bool_)):
            raise TypeError(f"class {cls!r} is a bool; pass a class name or an int index")
        if isinstance(cls, (int, np.integer)):
            if not 0 <= int(cls) < self.n_classes:
                raise ValueError(f"class index {cls} out of range 0..{self.n_classes - 1}")
            return int(cls)
        if not isinstance(cls, str):
            raise TypeError(f"class must be a name (str) or an int index, got {type(cls).__name__} {cls!r}")
        if cls in self.class_names:
            return self.class_names.index(cls)
        key = cls.strip().lower()
        hits = [i for i, c in enumerate(self.class_names) if c.lower() == key]
        if len(hits) > 1:
            raise KeyError(f"class {cls!r} matches {[self.class_names[i] for i in hits]} ignoring case; "
                           "give the exact name")
        if not hits:
            raise KeyError(f"unknown class {cls!r}; known classes: {', '.join(self.class_names)}")
        return hits[0]

    def samples_of(self, cls) -> np.ndarray:
        """Indices ``[n_k]`` of the samples of one class (name or index)."""
        return np.flatnonzero(self.labels == self.class_index(cls))

    def subset(self, index, name: str | None = None) -> "FrameDataset":
        """A dataset of the samples ``index`` (shares storage)."""
        idx = np.atleast_1d(self._positions(index))
        kw = dict(self.__dict__)
        kw.update(labels=self.labels[idx], name=name or self.name, meta=dict(self.meta))
        if self._dense is not None:
            kw["_dense"] = self._dense[idx]
        else:
            kw["_frame_index"] = self._frame_index[idx]
            kw["_utt_of_sample"] = self._utt_of_sample[idx]
        return FrameDataset(**kw)

    # -------------------------------------------------------------- metadata
    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def utterance_of(self, i: int) -> dict:
        """Utterance metadata of sample ``i``: ``{utterance, voice, text, time_s}``."""
        if self._utt_of_sample is None:
            raise ValueError("this dataset has no utterance metadata (it was built from arrays)")
        u = int(self._utt_of_sample[i])
        t = (int(self._frame_index[i]) - int(self.utt_bounds[u, 0])) * self.frame_shift_s
        return {"utterance": u,
                "voice": self.utt_voice[u] if self.utt_voice else None,
                "text": self.utt_text[u] if self.utt_text else None,
                "time_s": t}

    def audio(self, i: int, context_s: float = 0.25) -> tuple[np.ndarray, int]:
        """Waveform around sample ``i``: ``(float32 [samples] in -1..1, rate)``.

        The window covers the frame centre ± ``context_s`` seconds, clipped to the utterance.
        """
        if self._audio is None:
            raise ValueError("this dataset carries no audio; build the corpus with keep_audio=True")
        info = self.utterance_of(i)
        u = info["utterance"]
        start = int(self._audio_offsets[u])
        end = int(self._audio_offsets[u + 1]) if u + 1 < len(self._audio_offsets) else len(self._audio)
        centre = start + int((info["time_s"] + 0.0125) * self.audio_rate)
        half = int(context_s * self.audio_rate)
        lo, hi = max(start, centre - half), min(end, centre + half)
        return self._audio[lo:hi].astype(np.float32) / 32768.0, int(self.audio_rate)

    # -------------------------------------------------------------- file I/O
    def save(self, path) -> None:
        """Write a compressed ``.npz`` (spliced storage stays unspliced float16).

        Written to a fresh temporary file in the target folder and renamed (``os.replace``), so a
        failure never leaves half a file and a symlink planted at ``path`` is replaced, not followed.
        """
        path = Path(path)
        arrays = {"labels": self.labels.astype(np.int16 if self.n_classes < 32000 else np.int64),
                  "class_names": np.array(self.class_names),
                  "feature_shape": np.array(self.feature_shape),
                  "name": np.array(self.name), "context": np.array(self.context),
                  "frame_shift_s": np.array(self.frame_shift_s),
                  "format": np.array("slt_widgets.FrameDataset/1")}
        if self._dense is not None:
            arrays["dense"] = self._dense
        else:
            arrays.update(frames=self._frames.astype(np.float16), frame_index=self._frame_index.astype(np.int32),
                          utt_of_sample=self._utt_of_sample.astype(np.int32), utt_bounds=self.utt_bounds.astype(np.int64))
        if self.utt_voice is not None:
            arrays["utt_voice"] = np.array(self.utt_voice)
        if self.utt_text is not None:
            arrays["utt_text"] = np.array(self.utt_text)
        if self._audio is not None:
            arrays.update(audio=self._audio.astype(np.int16), audio_offsets=self._audio_offsets.astype(np.int64),
                          audio_rate=np.array(self.audio_rate))
        with atomic_open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path) -> "FrameDataset":
        """Read a file written by :meth:`save`; names the problem if it is missing or corrupt."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no dataset file at {path}; build one with "
                                    "slt_widgets.datasets.build_speech_corpus or FrameDataset.save")
        try:
            z = np.load(path, allow_pickle=False)
            fmt = str(z["format"]) if "format" in z.files else None
            if fmt != "slt_widgets.FrameDataset/1":
                raise ValueError(f"{path} is not a slt_widgets FrameDataset file (format={fmt!r})")
            kw = dict(labels=z["labels"], class_names=tuple(z["class_names"].tolist()),
                      feature_shape=tuple(z["feature_shape"].tolist()), name=str(z["name"]),
                      context=int(z["context"]), frame_shift_s=float(z["frame_shift_s"]))
            if "dense" in z.files:
                kw["_dense"] = z["dense"]
            else:
                kw.update(_frames=z["frames"], _frame_index=z["frame_index"].astype(np.int64),
                          _utt_of_sample=z["utt_of_sample"].astype(np.int64), utt_bounds=z["utt_bounds"])
            if "utt_voice" in z.files:
                kw["utt_voice"] = tuple(z["utt_voice"].tolist())
            if "utt_text" in z.files:
                kw["utt_text"] = tuple(z["utt_text"].tolist())
            if "audio" in z.files:
                kw.update(_audio=z["audio"], _audio_offsets=z["audio_offsets"], audio_rate=int(z["audio_rate"]))
        except (OSError, KeyError, EOFError, ValueError, zipfile.BadZipFile) as e:   # BadZipFile: a cut file
            if isinstance(e, ValueError) and "not a slt_widgets" in str(e):
                raise
            raise ValueError(f"{path} is truncated or corrupt ({type(e).__name__}: {e}); rebuild it") from e
        try:
            ds = cls(**kw)
            stored = ds._dense if ds._dense is not None else ds._frames
            if not np.isfinite(stored).all():
                raise ValueError("its features hold NaN/inf")
        except (ValueError, TypeError, IndexError) as e:        # crafted or damaged contents
            raise ValueError(f"{path} holds an inconsistent dataset: {e}; rebuild it with FrameDataset.save") from None
        return ds

    def __repr__(self) -> str:
        return (f"FrameDataset({self.name!r}, N={len(self)}, D={self.n_features} as {self.feature_shape}, "
                f"K={self.n_classes}{', audio' if self.has_audio else ''})")
