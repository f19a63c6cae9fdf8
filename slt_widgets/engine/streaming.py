"""Streaming over datasets that do not fit in memory, and the lazy SLT cache.

``iter_inputs`` turns anything batch-like into float tensors ``[b, D]``: an array
or tensor (sliced, so a ``np.memmap`` is read batch by batch), a ``FrameDataset``
(spliced per batch), a ``torch.utils.data.DataLoader`` or any iterable yielding
``x`` or ``(x, y, …)``.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Iterator

import numpy as np
import torch

from .dispatch import read_model, verified
from .errors import SLTIndexError, SLTInputError, SLTTypeError
from .hooks import reading_key
from .maps import LinearMap
from .reading import DEFAULT_CHUNK, Work
from .slt import slt
from .validate import check_chunk

__all__ = ["iter_inputs", "iter_batches", "check_labels", "iter_slt", "iter_slt_layers", "SLTCache", "parse_bytes"]


def _progress(it, total, desc, enabled):
    if not enabled:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, total=total, desc=desc, unit="batch")


def _tensor(xb) -> torch.Tensor:
    return xb if isinstance(xb, torch.Tensor) else torch.from_numpy(np.asarray(xb))


def iter_batches(data, batch_size: int = 4096, labels=None, *, keep_labels: bool = True, progress: bool = False,
                 desc: str = "batches") -> Iterator[tuple[torch.Tensor, np.ndarray | None]]:
    """The one batch iterator: yield ``(x [b, D] tensor, y [b] int64 array or None)`` from any source.

    data: array / tensor / ``np.memmap`` ``[N, D]`` (sliced per batch, so a memmap is read lazily),
    a ``FrameDataset`` (spliced per batch, with its labels), a ``torch.utils.data.DataLoader`` or any
    iterable of ``x`` or ``(x, y, …)``. labels: ``[N]`` class indices (override the source's; sliced
    alongside the batches). keep_labels False: ``y`` is always None and the source's labels are
    never read or checked (what :func:`iter_inputs` yields).
    """
    if batch_size < 1:
        raise SLTInputError(f"batch_size must be ≥ 1, got {batch_size}")
    if labels is not None:
        y_all = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if y_all.ndim != 1:
            raise SLTInputError(f"labels must be a vector [N], got shape {y_all.shape}")
        start = 0
        for xb, _ in iter_batches(data, batch_size, keep_labels=False, progress=progress, desc=desc):
            yb = y_all[start:start + len(xb)]
            if len(yb) != len(xb):
                raise SLTInputError(f"labels has {len(y_all)} entries but the data has more samples; pass one "
                                    "label per sample")
            start += len(xb)
            yield xb, yb
        if start != len(y_all):
            raise SLTInputError(f"labels has {len(y_all)} entries but the data has {start} samples; pass one "
                                "label per sample")
        return
    if hasattr(data, "iter_batches") and hasattr(data, "labels"):           # FrameDataset
        total = -(-len(data) // batch_size)
        for _, xb, yb in _progress(data.iter_batches(batch_size), total, desc, progress):
            yield torch.from_numpy(xb), (yb if keep_labels else None)
        return
    if isinstance(data, (np.ndarray, torch.Tensor)):
        if data.ndim < 2:
            raise SLTInputError(f"data must be [N, D], got shape {tuple(data.shape)}")
        n = data.shape[0]
        for s in _progress(range(0, n, batch_size), -(-n // batch_size), desc, progress):
            yield _tensor(data[s:s + batch_size]), None
        return
    if hasattr(data, "__iter__"):
        total = len(data) if hasattr(data, "__len__") else None
        for item in _progress(data, total, desc, progress):
            if isinstance(item, (tuple, list)):
                xb, yb = item[0], (item[1] if len(item) > 1 else None)
            else:
                xb, yb = item, None
            if isinstance(xb, dict):
                raise SLTInputError("batches are dicts; yield tensors x or tuples (x, y)")
            xb = _tensor(xb)
            yield xb, (None if yb is None or not keep_labels else check_labels(yb, len(xb)))
        return
    raise SLTTypeError(f"cannot stream {type(data).__name__}: pass an array/tensor [N, D], a FrameDataset, "
                       "a DataLoader or an iterable of batches")


def iter_inputs(data, batch_size: int = 4096, *, progress: bool = False, desc: str = "batches") -> Iterator[torch.Tensor]:
    """Yield input batches ``[b, D]`` as float tensors from arrays, datasets or loaders (see :func:`iter_batches`)."""
    for xb, _ in iter_batches(data, batch_size, keep_labels=False, progress=progress, desc=desc):
        yield xb


def check_labels(labels, n: int) -> np.ndarray:
    """``labels`` of a batch of ``n`` samples as int64 class indices ``[n]`` (≥ 0)."""
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.shape != (n,):
        raise SLTInputError(f"labels must be [b] = [{n}] (one per sample in the batch), got shape {y.shape}")
    if y.size and not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        raise SLTInputError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise SLTInputError(f"labels must be ≥ 0 (class indices), got {y.min()}")
    return y


def iter_slt(model, data, layer="output", nodes=None, *, batch_size: int = 4096,
             chunk: int = DEFAULT_CHUNK, dtype=None, device=None,
             progress: bool = False, reuse_buffers: bool = False) -> Iterator[tuple[slice, LinearMap]]:
    """Stream SLTs batch by batch: yields ``(rows, LinearMap)`` where ``rows`` is the
    ``slice`` of sample positions in ``data`` and the map holds weight ``[b, r, d_in]``.

    Memory stays O(batch_size · r · d_in) whatever the dataset size. reuse_buffers: write every
    batch into the same output buffers — the yielded map is only valid until the next batch (copy
    what you keep) and no fresh memory is first-touched per batch (chain path only). A batch whose
    chain maps fail verification is computed on the general path, and so is the rest of the stream.
    """
    reading = read_model(model)
    work = Work(keep_outputs=reuse_buffers)
    start = 0
    for xb in iter_inputs(data, batch_size, progress=progress, desc=f"SLT {layer}"):
        m, reading = verified(model, reading, lambda r: r.slt(xb, layer, nodes, chunk=check_chunk(chunk), dtype=dtype,
                                                             device=device, work=work))
        yield slice(start, start + len(xb)), m
        start += len(xb)


def iter_slt_layers(model, data, layers=None, *, batch_size: int = 256, chunk: int = DEFAULT_CHUNK,
                    dtype=None, device=None, progress: bool = False,
                    reuse_buffers: bool = False) -> Iterator[tuple[slice, dict]]:
    """Stream the SLTs of several layers at once (forward chain): yields ``(rows, {layer: LinearMap})``.

    Memory is O(batch_size · d_in · Σ d_layer) whatever the dataset size (256 × 253 × 1,280 float32:
    330 MB; larger batches are no faster, measured up to 1,024). reuse_buffers: write every
    batch into the same output buffers — the yielded maps are only valid until the next batch (copy
    what you keep), and no fresh memory is mapped per batch (the kernel's mapping and zeroing of a
    new ``[batch, d_in, Σ d_layer]`` allocation costs 10–30 % of the stream, measured).
    """
    reading = read_model(model)
    work = Work(keep_outputs=reuse_buffers)
    start = 0
    for xb in iter_inputs(data, batch_size, progress=progress, desc="SLT all layers"):
        maps, reading = verified(model, reading, lambda r: r.slt_layers(xb, layers, chunk=check_chunk(chunk),
                                                                       dtype=dtype, device=device, work=work))
        yield slice(start, start + len(xb)), maps
        start += len(xb)


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_bytes(value) -> int:
    """A memory budget as a positive number of bytes: ``"512MB"``, ``"2 GB"``, ``"1.5TiB"``, ``"64k"``,
    ``1e9``. Units K, M, G, T, P are powers of 1024, with an optional ``i`` and ``B``, in any case.

    Zero, negative, NaN or infinite budgets, budgets under one byte and unreadable text raise
    :class:`SLTInputError` (a budget of nothing would silently cache nothing)."""
    hint = "use a positive number of bytes or text such as '512MB' or '2GB'"
    if isinstance(value, (bool, np.bool_)):
        raise SLTInputError(f"memory budget must be a number of bytes or text such as '512MB', got {value!r}")
    if isinstance(value, (int, np.integer)):
        number, unit = float(int(value)) if abs(int(value)) < 1 << 62 else float("inf"), ""
    elif isinstance(value, (float, np.floating)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        text = value.strip().upper().replace(" ", "").replace("_", "")
        body = text.removesuffix("B")
        body = body.removesuffix("I") if body.endswith("I") and body[-2:-1] in "KMGTP" else body
        unit = body[-1] if body and body[-1] in "KMGTP" else ""
        try:
            number = float(body[:len(body) - len(unit)])
        except ValueError:
            raise SLTInputError(f"cannot read memory budget {value!r}; {hint}") from None
    else:
        raise SLTInputError(f"memory budget must be a number of bytes or text such as '512MB', got "
                            f"{type(value).__name__}")
    if number != number or number in (float("inf"), float("-inf")):
        raise SLTInputError(f"memory budget {value!r} is not a finite size; {hint}")
    size = number * _UNITS[unit]
    if not size >= 1 or size == float("inf"):
        raise SLTInputError(f"memory budget must be positive (at least one byte), got {value!r}; {hint}")
    return int(size)


def _nodes_key(nodes):
    """A node selection in canonical form (see :meth:`SLTCache._key`); bad selections raise here,
    before they can meet a cached entry."""
    if nodes is None:
        return None
    if isinstance(nodes, slice):
        return ("slice", nodes.start, nodes.stop, nodes.step)
    arr = np.asarray(nodes.detach().cpu() if isinstance(nodes, torch.Tensor) else nodes)
    if arr.dtype == bool:           # its length stays in the key: a mask of the wrong length must reach slt's check
        kind, shape, arr = "mask", arr.shape, np.flatnonzero(arr)
    elif np.issubdtype(arr.dtype, np.integer):
        kind, shape = "rows", arr.shape
    else:
        raise SLTInputError(f"nodes must be ints, a slice or a boolean mask, got dtype {arr.dtype}")
    digest = hashlib.blake2b(np.ascontiguousarray(arr, dtype=np.int64).tobytes(), digest_size=8).hexdigest()
    return (kind, shape, digest)


class SLTCache:
    """Lazy, memory-budgeted cache of SLTs keyed by (layer, selection, nodes).

    ``cache.get(index, layer="output")`` computes the SLTs of ``dataset`` samples
    ``index [n]`` once and returns the cached :class:`LinearMap` afterwards; least
    recently used entries are evicted when their total size passes ``memory_budget``.
    A selection larger than the whole budget is computed but not kept. When the model changes
    (its parameters are trained or replaced, a buffer changes, a hook is added) the cache empties.
    """

    def __init__(self, model, dataset, memory_budget="1GB", *, chunk: int = DEFAULT_CHUNK,
                 dtype=None, device=None):
        self.model = model
        self.dataset = dataset
        self.memory_budget = parse_bytes(memory_budget)
        self.chunk, self.dtype, self.device = chunk, dtype, device
        self._store: OrderedDict = OrderedDict()
        self._model_key = None        # what the stored maps were computed from (see hooks.reading_key)
        self._bytes = 0
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(layer, index: np.ndarray, nodes) -> tuple:
        """(layer, samples, nodes) in canonical form: equal keys mean the same SLT rows.

        Samples and node lists keep their order and repeats (``nodes=[1, 0, 1]`` gives rows 1, 0, 1);
        a boolean node mask is keyed by its length and the rows it selects; a slice stays a slice.
        """
        h = hashlib.blake2b(np.ascontiguousarray(index, dtype=np.int64).tobytes(), digest_size=16).hexdigest()
        return ((type(layer).__name__, str(layer)), h, _nodes_key(nodes))

    def _features(self, index: np.ndarray):
        if hasattr(self.dataset, "features_at"):
            return self.dataset.features_at(index)
        return self.dataset[index]

    def get(self, index, layer="output", nodes=None) -> LinearMap:
        """SLTs of samples ``index [n]`` (ints or bool mask over the dataset) at ``layer``."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (len(self.dataset),):
                raise SLTIndexError(f"a boolean selection must have one entry per sample ({len(self.dataset)}), "
                                 f"got shape {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise SLTIndexError(f"sample indices must be ints or a boolean mask, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size == 0:
            raise SLTInputError("the selection is empty: choose at least one sample (is the class present "
                             "in this split?)")
        n_total = len(self.dataset)
        if idx.min() < 0 or idx.max() >= n_total:
            raise SLTIndexError(f"sample index out of range 0..{n_total - 1}")
        key = self._key(layer, idx, nodes)
        with self._lock:
            model_key = reading_key(self.model)
            if model_key != self._model_key:   # trained further, weights replaced, a hook added: start afresh
                self._store.clear()
                self._bytes = 0
                self._model_key = model_key
            if key in self._store:
                self._store.move_to_end(key)
                self.hits += 1
                return self._store[key]
        self.misses += 1
        m = slt(self.model, self._features(idx), layer=layer, nodes=nodes, chunk=self.chunk,
                dtype=self.dtype, device=self.device)
        with self._lock:
            if m.nbytes <= self.memory_budget:
                self._store[key] = m
                self._bytes += m.nbytes
                while self._bytes > self.memory_budget:
                    _, old = self._store.popitem(last=False)
                    self._bytes -= old.nbytes
        return m

    def __contains__(self, key) -> bool:
        index, layer = key[0], key[1] if len(key) > 1 else "output"
        return self._key(layer, np.asarray(index, dtype=np.int64), None) in self._store

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
            self._bytes = 0
