"""The numbers behind one Explorer view, kept apart from the widgets so they are testable.

For a class k, a layer and a node: the (correctly classified, subsampled) samples, their
features ``[n, F]`` and the node's SLT rows ``[n, F]`` (METHODS §4, Fig. 6), the UPGMA
linkage of the unit-normalised SLTs (Euclidean; :func:`~slt_widgets.analysis.prototype_linkage`),
a 2-D embedding and the SLT spectrum.
"""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from ..analysis import embed, predict
from ..analysis.clustering import prototype_linkage
from ..engine import activations, layer_key, layer_label, to_chain  # noqa: F401 (the one layer vocabulary, re-exported)

__all__ = ["ClassView", "class_samples", "default_node", "fast_mds", "layer_shapes", "LayerShapes", "nearest_to_centroid",
           "wav_bytes", "layer_key", "layer_label", "build_class_view", "embed_points"]


@dataclass(frozen=True)
class LayerShapes:
    """What the widgets need to know of a model's layers, for models off the chain path
    (conv nets, residual blocks): ``n_hidden``, flattened ``widths``, ``d_out``, ``d_in``."""

    n_hidden: int
    widths: tuple
    d_out: int
    d_in: int

    def layer_width(self, layer) -> int:
        return self.d_out if layer == "output" else self.widths[layer - 1]


def layer_shapes(model, dataset):
    """The engine's :class:`Chain` when the model is one, else :class:`LayerShapes` read from
    the activations of one sample (the general path numbers layers the same way)."""
    from ..engine import UnsupportedModelError
    try:
        return to_chain(model)
    except UnsupportedModelError:
        acts = activations(model, dataset.features_at(np.array([0])))
        hidden = sorted(k for k in acts if k != "output")
        return LayerShapes(len(hidden), tuple(int(acts[k].reshape(1, -1).shape[1]) for k in hidden),
                           int(acts["output"].reshape(1, -1).shape[1]), int(dataset.n_features))


def class_samples(model, dataset, cls: int, max_samples: int, seed: int = 0,
                  correct_only: bool = True, source=None) -> tuple[np.ndarray, str]:
    """Sample indices ``[n]`` (sorted) of class ``cls`` the Explorer analyses, and a note.

    As in the paper, only samples the network classifies correctly (when ``correct_only``
    and at least 3 of them exist; otherwise all samples of the class, said in the note),
    subsampled without replacement to ``max_samples`` with ``seed``.

    source: None, or ``[N]`` ints (``meta["source_code"]`` of :func:`~slt_widgets.datasets.with_source`:
    0 corpus, ≠ 0 the user's). Then *every* user frame of the class is kept — misclassified ones too,
    since where the net fails them is the point — and only the corpus's frames are filtered by
    ``correct_only`` and subsampled, to ``max_samples`` minus the user's count (at least 3).
    """
    idx = np.flatnonzero(np.asarray(dataset.labels) == cls)
    name = dataset.class_names[cls]
    if len(idx) < 3:
        raise ValueError(f"class {name!r} has {len(idx)} samples in this dataset; the Explorer needs at "
                         "least 3 (choose another class or a larger split)")
    mine = np.zeros(0, np.int64)
    if source is not None:
        user = np.asarray(source)[idx] != 0
        mine, idx = idx[user], idx[~user]
    note = f"{len(idx)} {'samples' if source is None else 'corpus samples'} of {name!r}"
    if correct_only and len(idx):
        pred = predict(model, dataset, index=idx)
        ok = idx[pred == cls]
        if len(ok) >= 3:
            note = f"{len(ok)} of {len(idx)} {'samples' if source is None else 'corpus samples'} of {name!r} " \
                   "classified correctly"
            idx = ok
        else:
            note += f" (only {len(ok)} classified correctly: using all of them)"
    budget = max_samples if source is None else max(3, max_samples - len(mine))
    if len(idx) > budget:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, size=budget, replace=False))
        note += f"; random subset of {budget} (seed {seed})"
    if source is not None:
        if len(mine):
            wrong = int((predict(model, dataset, index=mine) != cls).sum())
            note += f"; all {len(mine)} of yours kept ({wrong} misclassified)"
        else:
            note += "; none of yours"
        idx = np.sort(np.concatenate([idx, mine]))
    return idx.astype(np.int64), note


def default_node(model, features, layer, cls: int) -> int:
    """Node shown by default: the class's own node at the output, else the hidden node with the
    largest mean activation over ``features [n, F]`` (the node this class drives most)."""
    if layer == "output":
        return int(cls)
    import torch
    with torch.no_grad():
        h = activations(model, torch.from_numpy(np.ascontiguousarray(features)))[layer]
    return int(h.double().mean(0).argmax())


def fast_mds(x) -> np.ndarray:
    """Classical (Torgerson) MDS of the Euclidean distances between rows of ``x [n, F]`` → ``[n, 2]``.

    Computed as the projection on the top-2 principal axes (an SVD of the centred ``[n, F]``
    matrix — identical to double-centring the ``n × n`` distance matrix, but O(n F²) instead of
    O(n³)); signs fixed so each axis' largest-magnitude coordinate is positive, as in
    :func:`slt_widgets.analysis.classical_mds`.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or len(a) < 1:
        raise ValueError(f"fast_mds needs x [n, F] with n ≥ 1, got shape {a.shape}")
    c = a - a.mean(0)
    u, s, _ = np.linalg.svd(c, full_matrices=False)
    coords = u[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    flip = np.sign(coords[np.abs(coords).argmax(0), np.arange(2)])
    return coords * np.where(flip == 0, 1, flip)


def nearest_to_centroid(x, k: int = 5) -> np.ndarray:
    """Positions ``[min(k, n)]`` of the rows of ``x [n, F]`` nearest their mean, nearest first."""
    a = np.asarray(x, dtype=np.float64)
    d = ((a - a.mean(0)) ** 2).sum(1)
    return np.argsort(d, kind="stable")[:k]


def wav_bytes(waves, rate: int, gap_s: float = 0.15) -> bytes:
    """Mono 16-bit WAV bytes of the float waves (each ``[samples]`` in −1..1) joined by silence."""
    if not waves:
        raise ValueError("no waveforms to play")
    gap = np.zeros(int(gap_s * rate), np.float32)
    parts = []
    for i, w in enumerate(waves):
        parts += ([gap] if i else []) + [np.asarray(w, dtype=np.float32).ravel()]
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(rate))
        f.writeframes(pcm.tobytes())
    return buf.getvalue()


@dataclass(frozen=True)
class ClassView:
    """Everything derived from one (class, layer, node) selection except the embedding.

    index: ``[n]`` dataset indices; features / slts: ``[n, F]`` float32 (the node's SLT row per
    sample); linkage: ``[n − 1, 4]`` UPGMA (Euclidean) of the unit-normalised SLTs; sigmas: ``[min(n, F)]``
    singular values of ``slts``; note: how the samples were chosen; source: the cached
    ``LinearMap`` the SLTs came from (identity tells whether the cache still holds it).
    """

    cls: int
    layer: int | str
    node: int
    index: np.ndarray
    features: np.ndarray
    slts: np.ndarray
    linkage: np.ndarray
    sigmas: np.ndarray
    note: str
    source: object = None

    @property
    def n(self) -> int:
        return len(self.index)


def build_class_view(cls, layer, node, index, features, slts, note, source=None) -> ClassView:
    """Cluster ``slts [n, F]`` (UPGMA, Euclidean, of the unit-normalised rows) and take its spectrum
    (see :class:`ClassView`)."""
    s = np.ascontiguousarray(slts, dtype=np.float32)
    Z = prototype_linkage(s)
    sig = np.linalg.svd(s.astype(np.float64), compute_uv=False)
    return ClassView(cls, layer, int(node), np.asarray(index, dtype=np.int64),
                     np.ascontiguousarray(features, dtype=np.float32), s, Z, sig, note, source)


def embed_points(x, method: str = "mds", seed: int = 0) -> np.ndarray:
    """2-D embedding ``[n, 2]`` float32 of ``x [n, G]``: ``"mds"`` = classical MDS
    (:func:`fast_mds`), ``"tsne"`` = :func:`slt_widgets.analysis.embed` t-SNE with ``seed``."""
    if method == "mds":
        return fast_mds(x).astype(np.float32)
    if method == "tsne":
        return embed(x, "tsne", seed=seed).astype(np.float32)
    raise ValueError(f"embedding method must be 'mds' or 'tsne', got {method!r}")
