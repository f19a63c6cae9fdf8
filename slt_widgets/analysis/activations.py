"""Streaming helpers: activations per layer, class means and network predictions as numpy.

Datasets are read batch by batch (``engine.iter_inputs``) so a spliced speech corpus is never
materialised for all layers at once.
"""
from __future__ import annotations

import numpy as np
import torch

from ..engine import activations as _engine_activations
from ..engine import SLTInputError, iter_inputs, layer_key, n_hidden_layers
from ._checks import AnalysisError

__all__ = ["hidden_layers", "resolve_layers", "collect_activations", "class_means_streamed", "predict",
           "labels_of", "features_of"]


def hidden_layers(model) -> tuple[int, ...]:
    """The hidden layer ids ``(1, …, L)`` of ``model``."""
    return tuple(range(1, n_hidden_layers(model) + 1))


def resolve_layers(model, layers, allow=("input", "output")) -> tuple:
    """Validate ``layers`` (the engine's one layer vocabulary: ``1..L``, ``"HLk"``, and ``"input"`` /
    ``"output"`` where allowed) → canonical ids ``(1, …, "output")``; default all hidden layers."""
    hid = hidden_layers(model)
    if layers is None:
        return hid
    if isinstance(layers, (int, str)):
        layers = [layers]
    extra = tuple(a for a in allow if a != "output")
    out = []
    for l in layers:
        try:
            key = layer_key(len(hid), l, allow=extra)
        except SLTInputError as e:
            raise AnalysisError(str(e)) from None
        if key == "output" and "output" not in allow:
            raise AnalysisError(f"layer 'output' is not a choice here; this model has hidden layers 1..{len(hid)}"
                                + (f" (also {', '.join(repr(a) for a in allow)})" if allow else ""))
        out.append(key)
    return tuple(out)


def labels_of(dataset) -> np.ndarray:
    if not hasattr(dataset, "labels"):
        raise AnalysisError(f"expected a FrameDataset (with .labels), got {type(dataset).__name__}")
    return np.asarray(dataset.labels, dtype=np.int64)


def features_of(dataset, index=None) -> np.ndarray:
    """Features ``[n, D]`` float32 of ``dataset`` (all, or the samples ``index``)."""
    if hasattr(dataset, "features_at"):
        return dataset.features_at(np.arange(len(dataset)) if index is None else np.asarray(index))
    x = np.asarray(dataset, dtype=np.float32)
    return x if index is None else x[index]


def _subset_iter(dataset, index, batch_size):
    if index is None:
        yield from iter_inputs(dataset, batch_size)
        return
    index = np.asarray(index, dtype=np.int64)
    for s in range(0, len(index), batch_size):
        yield torch.from_numpy(features_of(dataset, index[s:s + batch_size]))


def collect_activations(model, dataset, layers=None, index=None, *, batch_size: int = 4096,
                        progress: bool = False, desc: str = "activations") -> dict:
    """Activations as float32 numpy: ``{layer: [n, d_layer]}`` for ``layers`` (hidden ints,
    ``"input"`` for the features, ``"output"``), over all samples or ``index [n]``."""
    layers = resolve_layers(model, layers)
    parts = {l: [] for l in layers}
    n_total = len(dataset) if index is None else len(index)
    it = _subset_iter(dataset, index, batch_size)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, total=-(-n_total // batch_size), desc=desc, unit="batch", leave=False)
    need_net = any(l != "input" for l in layers)
    for xb in it:
        acts = _engine_activations(model, xb, chunk=batch_size) if need_net else {}
        for l in layers:
            a = xb if l == "input" else acts[l]
            parts[l].append(a.detach().cpu().numpy().astype(np.float32, copy=False))
    if not any(parts.values()) or n_total == 0:
        raise AnalysisError("no samples to compute activations on (empty dataset or selection)")
    return {l: np.concatenate(p) for l, p in parts.items()}


def class_means_streamed(model, dataset, layers=None, *, batch_size: int = 4096,
                         progress: bool = False) -> tuple[dict, np.ndarray]:
    """Per-class mean activations ``{layer: [K, M]}`` (rows of absent classes are 0) and the
    class counts ``[K]``, accumulated batch by batch."""
    layers = resolve_layers(model, layers)
    y_all = labels_of(dataset)
    K = int(getattr(dataset, "n_classes", y_all.max() + 1))
    sums, start = {}, 0
    it = iter_inputs(dataset, batch_size, progress=progress, desc="class means")
    for xb in it:
        y = y_all[start:start + len(xb)]
        start += len(xb)
        acts = _engine_activations(model, xb, chunk=batch_size)
        for l in layers:
            a = (xb if l == "input" else acts[l]).detach().cpu().double().numpy()
            s = sums.setdefault(l, np.zeros((K, a.shape[1])))
            np.add.at(s, y, a)
    if start == 0:
        raise AnalysisError("the dataset is empty")
    counts = np.bincount(y_all, minlength=K)
    return {l: s / np.maximum(counts, 1)[:, None] for l, s in sums.items()}, counts


def predict(model, dataset, index=None, *, batch_size: int = 4096) -> np.ndarray:
    """The network's predicted class (argmax of the output) ``[n]`` int64."""
    out = collect_activations(model, dataset, ["output"], index, batch_size=batch_size)["output"]
    return out.argmax(1).astype(np.int64)
