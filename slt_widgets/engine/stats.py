"""Streaming sufficient statistics: every dataset-wide statistic in one pass and bounded memory.

Two accumulators, each with ``update(batch)`` / ``merge(other)`` / ``result()`` so that the same
code runs batch by batch in one process and partition by partition on a Dask cluster
(:mod:`slt_widgets.distributed`):

* :class:`ClassMoments` — one layer's activations ``[b, M]`` with labels ``[b]``: class counts
  ``[K]``, class sums ``[K, M]`` and the centred total scatter ``[M, M]`` (Chan's pairwise update,
  float64). From them :class:`ActivationStats` gives the class selectivity vectors (CSV, Fig. 2),
  the Gram ``HᵀH`` and singular values of the activations, total / within / between-class
  scatter; :func:`slt_widgets.analysis.streamed_lda` fits scikit-learn's SVD-solver LDA from them
  (Table 2, Fig. 3A).
* :class:`SLTGrams` — one layer's SLTs: per node ``[r, F, F]`` (Σ_NODES, Fig. 7A) or per input
  dimension ``[f, M, M]`` (Σ_INPUTS); singular values are the square roots of the Grams'
  eigenvalues.

Memory never depends on N: ``K·M + M²`` floats per layer for the moments, ``r·F²`` (or ``f·M²``)
per layer for the Grams, plus one batch. :func:`streaming_slt_spectra` splits nodes/inputs into
blocks and makes several passes when the Grams exceed ``memory_budget``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .chain import eval_mode, to_chain
from .dispatch import read_model, verified
from .errors import SLTInputError
from .gram_pass import accumulate_grams, group_array, join_blocks, plan_blocks
from .grams import SLTGrams
from .slt import activations
from .streaming import check_labels, iter_batches, iter_inputs, parse_bytes
from .validate import layer_key

__all__ = ["ClassMoments", "ActivationStats", "SLTGrams", "streaming_activation_stats", "streaming_slt_spectra",
           "iter_labeled", "activation_layers", "partition_moments", "merge_moments", "partition_grams"]


# =============================================================================== class moments
class ClassMoments:
    """Per-class counts, sums and the centred total scatter of one layer's activations.

    width: ``M`` (activations are ``[b, M]``); n_classes: initial ``K`` (grows when a larger
    label arrives, so a stream need not know ``K`` in advance). All sums are float64.
    Attributes: ``n``; ``counts [K]`` int64; ``sums [K, M]``; ``mean [M]``; ``m2 [M, M]``
    = ``Σ (h − mean)(h − mean)ᵀ``.
    """

    def __init__(self, width: int, n_classes: int = 1, layer=None):
        if int(width) < 1:
            raise SLTInputError(f"width must be ≥ 1, got {width}")
        self.layer = layer
        self.width = int(width)
        self.n = 0
        self.counts = np.zeros(max(1, int(n_classes)), dtype=np.int64)
        self.sums = np.zeros((len(self.counts), self.width))
        self.mean = np.zeros(self.width)
        self.m2 = np.zeros((self.width, self.width))

    def _grow(self, k: int) -> None:
        if k > len(self.counts):
            self.counts = np.pad(self.counts, (0, k - len(self.counts)))
            self.sums = np.pad(self.sums, ((0, k - len(self.sums)), (0, 0)))

    def update(self, acts, labels=None) -> "ClassMoments":
        """Add a batch: ``acts [b, M]`` (tensor or array), ``labels [b]`` ints ≥ 0 (None: all class 0)."""
        a = acts.detach().cpu().double().numpy() if isinstance(acts, torch.Tensor) else np.asarray(acts, np.float64)
        if a.ndim != 2 or a.shape[1] != self.width:
            raise SLTInputError(f"acts must be [b, {self.width}], got shape {a.shape}")
        if len(a) == 0:
            return self
        if not np.isfinite(a).all():
            raise SLTInputError(f"activations of layer {self.layer!r} contain NaN or inf; check the inputs")
        y = np.zeros(len(a), np.int64) if labels is None else check_labels(labels, len(a))
        self._grow(int(y.max()) + 1)
        self.counts += np.bincount(y, minlength=len(self.counts))
        np.add.at(self.sums, y, a)
        mb = a.mean(0)
        c = a - mb
        self._combine(len(a), mb, c.T @ c)
        return self

    def _combine(self, nb: int, mb: np.ndarray, m2b: np.ndarray) -> None:
        # Chan et al.: merging centred scatters stays accurate where HᵀH − n·μμᵀ would cancel
        n = self.n + nb
        d = mb - self.mean
        self.m2 += m2b + np.outer(d, d) * (self.n * nb / n)
        self.mean += d * (nb / n)
        self.n = n

    def merge(self, other: "ClassMoments") -> "ClassMoments":
        """Add another accumulator of the same layer (in place); returns self."""
        if not isinstance(other, ClassMoments) or other.width != self.width:
            raise SLTInputError(f"can only merge ClassMoments of width {self.width}")
        if other.n == 0:
            return self
        self._grow(len(other.counts))
        self.counts[:len(other.counts)] += other.counts
        self.sums[:len(other.sums)] += other.sums
        self._combine(other.n, other.mean, other.m2)
        return self

    def result(self) -> "ActivationStats":
        """The finished :class:`ActivationStats` (raises when no sample was seen)."""
        if self.n == 0:
            raise SLTInputError("no samples were accumulated (empty dataset or iterator)")
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(self.counts[:, None] > 0, self.sums / np.maximum(self.counts, 1)[:, None], np.nan)
        return ActivationStats(layer=self.layer, n=self.n, counts=self.counts.copy(), class_means=means,
                               mean=self.mean.copy(), total_scatter=self.m2.copy())


@dataclass(frozen=True)
class ActivationStats:
    """Dataset-wide statistics of one layer's activations ``H [N, M]`` with labels ``[N]``.

    n: N; counts: ``[K]``; class_means: ``[K, M]`` (the class selectivity vectors, NaN rows for
    absent classes); mean: ``[M]``; total_scatter: ``[M, M]`` = ``Σ (h − μ)(h − μ)ᵀ``.
    Derived: ``gram [M, M]`` = ``HᵀH``; ``between_scatter``, ``within_scatter`` ``[M, M]``;
    ``singular_values [M]`` of ``H``. The LDA fitted from them: :func:`slt_widgets.analysis.streamed_lda`.
    """

    layer: object
    n: int
    counts: np.ndarray
    class_means: np.ndarray
    mean: np.ndarray
    total_scatter: np.ndarray

    @property
    def gram(self) -> np.ndarray:
        """``HᵀH`` ``[M, M]`` (uncentred)."""
        return self.total_scatter + self.n * np.outer(self.mean, self.mean)

    @property
    def between_scatter(self) -> np.ndarray:
        """``Σ_k n_k (μ_k − μ)(μ_k − μ)ᵀ`` ``[M, M]`` over the classes present."""
        p = self.counts > 0
        d = self.class_means[p] - self.mean
        return (d * self.counts[p, None]).T @ d

    @property
    def within_scatter(self) -> np.ndarray:
        """``Σ_k Σ_{i∈k} (h_i − μ_k)(h_i − μ_k)ᵀ`` ``[M, M]`` = total − between."""
        return self.total_scatter - self.between_scatter

    @property
    def singular_values(self) -> np.ndarray:
        """Singular values ``[min(N, M)]`` of the activation matrix ``H [N, M]`` (descending)."""
        ev = np.linalg.eigvalsh(self.gram)[::-1]
        return np.sqrt(np.clip(ev, 0, None))[:min(self.n, len(ev))].copy()


# =============================================================================== data streams
def iter_labeled(data, labels=None, batch_size: int = 4096, *, progress: bool = False, desc: str = "batches"):
    """Yield ``(x [b, D] float tensor, y [b] int64 array or None)``: :func:`~slt_widgets.engine.streaming.iter_batches`
    with the source's labels (or ``labels [N]``, which override them)."""
    return iter_batches(data, batch_size, labels, progress=progress, desc=desc)


def activation_layers(model, layers) -> list:
    """Validate ``layers`` (``"input"``, ``1..L``, ``"output"``; default all of them in that order)."""
    chain = to_chain(model)
    L = chain.n_hidden
    if layers is None:
        return ["input", *range(1, L + 1), "output"]
    if isinstance(layers, (int, str)):
        layers = [layers]
    return list(dict.fromkeys(layer_key(chain, l, allow=("input",)) for l in layers))


def _n_classes_of(data, n_classes):
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
            raise SLTInputError(f"n_classes must be a positive int, got {n_classes!r}")
        return int(n_classes)
    return int(getattr(data, "n_classes", 1))


def partition_moments(model, x, y, layers, n_classes: int = 1, *, dtype=None, device=None,
                      chunk: int = 4096) -> dict:
    """:class:`ClassMoments` per layer of one batch/partition ``x [b, D]``, ``y [b]`` (or None)."""
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    need = [l for l in layers if l != "input"]
    acts = activations(model, x, chunk=chunk, dtype=dtype, device=device) if need else {}
    out = {}
    for l in layers:
        a = x.reshape(len(x), -1) if l == "input" else acts[l]
        out[l] = ClassMoments(a.shape[1], n_classes, layer=l).update(a, y)
    return out


def merge_moments(a: dict, b: dict) -> dict:
    """Merge two ``{layer: ClassMoments}`` dicts (in place into ``a``)."""
    for l, m in b.items():
        if l in a:
            a[l].merge(m)
        else:
            a[l] = m
    return a


def streaming_activation_stats(model, data, labels=None, layers=None, *, n_classes: int | None = None,
                               batch_size: int = 4096, dtype=None, device=None,
                               progress: bool = False) -> dict:
    """One streamed pass: :class:`ActivationStats` of every requested layer.

    model: a chain model (``nn.Sequential`` MLP). data: ``[N, D]`` array / tensor / ``np.memmap``,
    a ``FrameDataset``, a ``DataLoader`` or iterable of ``x`` / ``(x, y)``. labels: ``[N]`` class
    indices (default: the dataset's / loader's; none at all → one class). layers: ``"input"``,
    hidden ``1..L``, ``"output"`` (default all). n_classes: ``K`` (default the dataset's; grows to
    the largest label seen). dtype / device: compute dtype and device of the forward pass
    (``device="cuda"`` when present; statistics are accumulated in float64 on the CPU).
    Memory: ``K·M + M²`` float64 per layer plus one batch. Returns ``{layer: ActivationStats}``.
    """
    layers = activation_layers(model, layers)
    K = _n_classes_of(data, n_classes)
    acc = None
    with eval_mode(model):
        for xb, yb in iter_labeled(data, labels, batch_size, progress=progress, desc="activation stats"):
            part = partition_moments(model, xb, yb, layers, K, dtype=dtype, device=device, chunk=batch_size)
            acc = part if acc is None else merge_moments(acc, part)
    if acc is None:
        raise SLTInputError("streaming_activation_stats got no data (an empty dataset or iterator)")
    return {l: acc[l].result() for l in layers}


# =============================================================================== SLT spectra
def partition_grams(model, x, blocks, per: str, groups=None, n_groups: int = 1, *, chunk: int = 128,
                    dtype=None, device=None) -> dict:
    """``{(group, layer, block_id): SLTGrams}`` of one batch/partition ``x [b, F]``.

    blocks: ``[(layer, index [r])]`` (see :func:`streaming_slt_spectra`); groups: ``[b]`` ints in
    −1..G−1 (−1 = not accumulated) or None (all samples, group 0).
    """
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    run = lambda r: accumulate_grams(r, [x], blocks, per, groups=groups, n_groups=n_groups, chunk=chunk,  # noqa: E731
                                     dtype=dtype, device=device)[0]
    return verified(model, read_model(model), run)[0]


def streaming_slt_spectra(model, data, layers=None, *, per: str = "node", groups=None, n_groups: int | None = None,
                          memory_budget="1GB", batch_size: int = 2048, chunk: int = 128, dtype=None, device=None,
                          progress: bool = False) -> dict:
    """Σ_NODES (``per="node"``) or Σ_INPUTS (``per="input"``) spectra, streamed in bounded memory.

    data: any source :func:`iter_labeled` accepts; layers: hidden ``1..L`` / ``"output"``
    (default every hidden layer). groups: optional ``[N]`` ints in ``−1..G−1`` — one spectrum per
    group (e.g. COR = 0, INC = 1 for Fig. 7C/D) in the same pass; −1 leaves a sample out.
    memory_budget: bytes of Grams held at once; when the ``[M, F, F]`` (``[F, M, M]``) Grams of all
    layers exceed it, nodes (inputs) are split into blocks and the data is read several times.
    Returns ``{layer: NodeSpectra}`` (sigmas ``[M, F]`` or ``[F, M]``), or with ``groups``
    ``{group: {layer: NodeSpectra}}``.
    """
    if per not in ("node", "input"):
        raise SLTInputError(f"per must be 'node' or 'input', got {per!r}")
    args = dict(layers=layers, per=per, groups=groups, n_groups=n_groups, memory_budget=memory_budget,
                batch_size=batch_size, chunk=chunk, dtype=dtype, device=device, progress=progress)
    # a failed verification runs the whole computation again on the general path, from the start
    return verified(model, read_model(model), lambda r: _slt_spectra(r, data, **args))[0]


def _slt_spectra(reading, data, layers, per, groups, n_groups, memory_budget, batch_size, chunk, dtype, device,
                 progress) -> dict:
    chain = reading.kind == "chain"
    if layers is None:
        if not chain:
            raise SLTInputError("pass layers=[...] explicitly for models off the chain path")
        layers = list(range(1, reading.n_hidden() + 1))
    if isinstance(layers, (int, str)):
        layers = [layers]
    G = 1
    g_all = None
    if groups is not None:
        G = int(n_groups) if n_groups is not None else int(np.max(groups)) + 1
        g_all = group_array(groups, G)
    budget = parse_bytes(memory_budget)
    probe = next(iter_inputs(data, 1), None)
    if probe is None:
        raise SLTInputError("streaming_slt_spectra got no data (an empty dataset or iterator)")
    layers = [l for l in reading.layer_keys(layers, probe, allow=("input",)) if l != "input"]
    n_in, widths = reading.widths(layers, probe)
    passes = plan_blocks(per, n_in, widths, budget, G)
    results = {}
    for pi, blocks in enumerate(passes):
        desc = f"{per} spectra" + (f" (pass {pi + 1}/{len(passes)})" if len(passes) > 1 else "")
        batches = iter_inputs(data, batch_size, progress=progress, desc=desc)
        acc, _ = accumulate_grams(reading, batches, blocks, per, groups=g_all, n_groups=G, chunk=chunk, dtype=dtype,
                                  device=device, widths=(n_in, widths))
        for (gi, l, _), a in sorted(acc.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])):
            results.setdefault(gi, {}).setdefault(l, []).append(a)
    out = {gi: {l: join_blocks(parts) for l, parts in per_layer.items()} for gi, per_layer in results.items()}
    return out if groups is not None else out[0]
