"""Streaming sufficient statistics: every dataset-wide statistic in one pass and bounded memory.

Two accumulators, each with ``update(batch)`` / ``merge(other)`` / ``result()`` so that the same
code runs batch by batch in one process and partition by partition on a Dask cluster
(:mod:`slt_widgets.distributed`):

* :class:`ClassMoments` — one layer's activations ``[b, M]`` with labels ``[b]``: class counts
  ``[K]``, class sums ``[K, M]`` and the centred total scatter ``[M, M]`` (Chan's pairwise update,
  float64). From them :class:`ActivationStats` gives the class selectivity vectors (CSV, Fig. 2),
  the Gram ``HᵀH`` and singular values of the activations, total / within / between-class
  scatter and a streamed LDA equal to scikit-learn's SVD solver (Table 2, Fig. 3A).
* :class:`SLTGrams` — one layer's SLTs: per node ``[r, F, F]`` (Σ_NODES, Fig. 7A) or per input
  dimension ``[f, M, M]`` (Σ_INPUTS); singular values are the square roots of the Grams'
  eigenvalues.

Memory never depends on N: ``K·M + M²`` floats per layer for the moments, ``r·F²`` (or ``f·M²``)
per layer for the Grams, plus one batch. :func:`streaming_slt_spectra` splits nodes/inputs into
blocks and makes several passes when the Grams exceed ``memory_budget``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .chain import eval_mode, to_chain
from .errors import SLTInputError, SLTTypeError
from .slt import (ChainMismatchError, _forward_chunk_major, _is_chain, _prepare, activations, fall_back, resolve_layer,
                  slt_layers)
from .grams import GramSum, gram_operand
from .spectra import NodeSpectra, auc_score, spectra_from_gram
from .streaming import iter_inputs, parse_bytes

__all__ = ["ClassMoments", "ActivationStats", "StreamedLDA", "SLTGrams", "streaming_activation_stats",
           "streaming_slt_spectra", "iter_labeled", "activation_layers"]


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
        y = np.zeros(len(a), np.int64) if labels is None else _labels(labels, len(a))
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
    ``singular_values [M]`` of ``H``; :meth:`lda`.
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

    def lda(self, tol: float = 1e-4) -> "StreamedLDA":
        """LDA fitted from these statistics: scikit-learn's SVD solver (empirical priors) re-derived
        from the within-class scatter, so no activation matrix is ever held. Needs ≥ 2 classes."""
        return StreamedLDA.from_stats(self, tol)


@dataclass(frozen=True)
class StreamedLDA:
    """``LinearDiscriminantAnalysis(solver="svd")`` fitted from :class:`ActivationStats`.

    classes: ``[C]`` labels present; means: ``[C, M]``; priors: ``[C]``; xbar: ``[M]``;
    scalings: ``[M, r]``; coef: ``[C, M]``; intercept: ``[C]``;
    explained_variance_ratio: ``[min(C − 1, M)]``. Methods mirror scikit-learn's.
    """

    classes: np.ndarray
    means: np.ndarray
    priors: np.ndarray
    xbar: np.ndarray
    scalings: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    explained_variance_ratio: np.ndarray

    @classmethod
    def from_stats(cls, st: ActivationStats, tol: float = 1e-4) -> "StreamedLDA":
        present = np.flatnonzero(st.counts > 0)
        if len(present) < 2:
            raise SLTInputError(f"LDA needs samples of ≥ 2 classes; got {len(present)}")
        if st.n <= len(present):
            raise SLTInputError(f"LDA needs more samples ({st.n}) than classes ({len(present)})")
        n, C = st.n, len(present)
        means = st.class_means[present]
        priors = st.counts[present] / n
        xbar = priors @ means
        sw = st.within_scatter
        std = np.sqrt(np.clip(np.diag(sw), 0, None) / n)
        std[std == 0] = 1.0
        # sklearn: SVD of X = Xc / (std √n); here the eigenvectors of XᵀX = D⁻¹ S_w D⁻¹ / n
        ev, V = np.linalg.eigh(sw / np.outer(std, std) / n)
        order = np.argsort(ev)[::-1]
        S = np.sqrt(np.clip(ev[order], 0, None))
        V = V[:, order]
        rank = int((S > tol).sum())
        scalings = (V[:, :rank] / std[:, None]) / S[:rank]
        fac = 1.0 / (C - 1)
        X = (np.sqrt(n * priors * fac)[:, None] * (means - xbar)) @ scalings
        _, S2, Vt = np.linalg.svd(X, full_matrices=False)
        evr = (S2 ** 2 / np.sum(S2 ** 2))[:min(C - 1, st.class_means.shape[1])]
        rank2 = int((S2 > tol * S2[0]).sum())
        scal = scalings @ Vt.T[:, :rank2]
        coef = (means - xbar) @ scal
        intercept = -0.5 * np.sum(coef ** 2, axis=1) + np.log(priors)
        coef = coef @ scal.T
        intercept = intercept - xbar @ coef.T
        return cls(present, means, priors, xbar, scal, coef, intercept, evr)

    def transform(self, x) -> np.ndarray:
        """Project ``x [n, M]`` → ``[n, min(C − 1, rank)]`` (the paper's ``H̃``)."""
        h = _as2d(x, self.xbar.shape[0])
        return ((h - self.xbar) @ self.scalings)[:, :len(self.classes) - 1]

    def decision_function(self, x) -> np.ndarray:
        """Class scores ``[n, C]`` (log posterior up to a constant)."""
        return _as2d(x, self.xbar.shape[0]) @ self.coef.T + self.intercept

    def predict(self, x) -> np.ndarray:
        """Predicted class labels ``[n]`` int64."""
        return self.classes[self.decision_function(x).argmax(1)]

    def score(self, x, y) -> float:
        """Accuracy on ``x [n, M]`` with labels ``y [n]``."""
        return float((self.predict(x) == np.asarray(y)).mean())


def _as2d(x, width: int) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise SLTInputError(f"expected [n, {width}] activations, got shape {a.shape}")
    return a


def _labels(labels, n: int) -> np.ndarray:
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.shape != (n,):
        raise SLTInputError(f"labels must be [b] = [{n}] (one per sample in the batch), got shape {y.shape}")
    if y.size and not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        raise SLTInputError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise SLTInputError(f"labels must be ≥ 0 (class indices), got {y.min()}")
    return y


# =============================================================================== SLT Grams
class SLTGrams:
    """Gram matrices of one layer's SLTs, per node or per input dimension (float64).

    per: ``"node"`` — for each selected node ``m`` the ``[F, F]`` Gram of its ``[N × F]`` SLT
    (``gram [r, F, F]``); ``"input"`` — for each selected input dimension ``f`` the ``[M, M]``
    Gram of the ``[N × M]`` slice (``gram [f, M, M]``). index: the selected nodes / inputs
    (``[r]``, None for all). :meth:`update` takes the forward-chain layout ``Jᵀ [b, F, M]``.
    """

    def __init__(self, layer, per: str, n_in: int, width: int, index=None):
        if per not in ("node", "input"):
            raise SLTInputError(f"per must be 'node' or 'input', got {per!r}")
        self.layer, self.per, self.n_in, self.width = layer, per, int(n_in), int(width)
        full = self.width if per == "node" else self.n_in
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        r = full if self.index is None else len(self.index)
        side = self.n_in if per == "node" else self.width
        self._sum = GramSum(r, side)
        self._subset = self.index is not None and not np.array_equal(self.index, np.arange(full))
        self._index_t = None
        self.n = 0

    def _rows(self, device) -> torch.Tensor | None:
        """The selected rows as a tensor on ``device``, or None when every row is kept."""
        if not self._subset:
            return None
        if self._index_t is None or self._index_t.device != device:
            self._index_t = torch.as_tensor(self.index, device=device)
        return self._index_t

    @property
    def gram(self) -> torch.Tensor:
        """The float64 Grams ``[r, side, side]`` accumulated so far."""
        return self._sum.total()

    @staticmethod
    def nbytes_for(per: str, n_in: int, width: int, r: int) -> int:
        """Bytes held for ``r`` selected nodes (inputs): float64 Grams plus the float32 batch sums."""
        side = n_in if per == "node" else width
        return GramSum.nbytes_for(r, side)

    def __getstate__(self):          # ship only the float64 totals (Dask partitions)
        self.release()
        state = dict(self.__dict__)
        state["_index_t"] = None
        return state

    def update(self, jt: torch.Tensor) -> "SLTGrams":
        """Add a batch of SLTs in forward-chain layout ``Jᵀ [b, F, M]`` (``LinearMap.weight``
        is ``[b, M, F]``: pass ``weight.transpose(1, 2)``)."""
        jt = jt.detach()
        if jt.ndim != 3 or jt.shape[1] != self.n_in or jt.shape[2] != self.width:
            raise SLTInputError(f"expected SLTs [b, {self.n_in}, {self.width}], got {tuple(jt.shape)}")
        self._sum.add(gram_operand(jt, self.per, self._rows(jt.device)))
        self.n += jt.shape[0]
        return self

    def update_major(self, j: torch.Tensor) -> "SLTGrams":
        """Add a batch in the Gram's own layout: ``[M, b, F]`` (per node) or ``[F, b, M]`` (per
        input), as built by the engine's passes; rows are selected here."""
        rows = self._rows(j.device)
        self._sum.add(j if rows is None else torch.index_select(j, 0, rows))
        self.n += j.shape[1]
        return self

    def release(self) -> "SLTGrams":
        """Fold and free the float32 batch sums (before the spectra are taken, or shipping)."""
        self._sum.release()
        return self

    def flush(self) -> "SLTGrams":
        """Fold the float32 batch sums into the float64 Grams (done by ``gram``, ``merge``, ``result``)."""
        self._sum.flush()
        return self

    def merge(self, other: "SLTGrams") -> "SLTGrams":
        """Add another accumulator over the same layer and selection (in place); returns self."""
        if (not isinstance(other, SLTGrams) or (other._sum.r, other._sum.side) != (self._sum.r, self._sum.side)
                or other.per != self.per
                or not np.array_equal(-1 if other.index is None else other.index,
                                      -1 if self.index is None else self.index)):
            raise SLTInputError("can only merge SLTGrams of the same layer, kind and selection")
        self._sum.merge(other._sum)
        self.n += other.n
        return self

    def result(self) -> NodeSpectra:
        """:class:`~slt_widgets.engine.NodeSpectra`: sigmas ``[r, F]`` (node) or ``[f, M]`` (input)."""
        if self.n == 0:
            raise SLTInputError("no samples were accumulated (empty dataset or iterator)")
        sig = spectra_from_gram(self.gram)          # [r, side], like node_spectra (zeros past rank N)
        dead = sig[:, 0] <= 0
        auc = auc_score(sig) if sig.shape[1] >= 2 else np.full(len(sig), np.nan)
        return NodeSpectra(self.layer, sig, auc, dead, self.n)


# =============================================================================== data streams
def iter_labeled(data, labels=None, batch_size: int = 4096, *, progress: bool = False, desc: str = "batches"):
    """Yield ``(x [b, D] float tensor, y [b] int64 array or None)`` from any streamable source.

    data: array / tensor / ``np.memmap`` ``[N, D]`` (sliced per batch, so a memmap is read lazily),
    a ``FrameDataset`` (its labels), a ``DataLoader`` or iterable of ``x`` or ``(x, y, …)``.
    labels: ``[N]`` (overrides the labels of the source; sliced alongside the batches).
    """
    if labels is not None:
        y_all = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if y_all.ndim != 1:
            raise SLTInputError(f"labels must be a vector [N], got shape {y_all.shape}")
        start = 0
        for xb in iter_inputs(data, batch_size, progress=progress, desc=desc):
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
    if hasattr(data, "iter_batches") and hasattr(data, "labels"):        # FrameDataset
        it = data.iter_batches(batch_size)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, total=-(-len(data) // batch_size), desc=desc, unit="batch")
        for _, xb, yb in it:
            yield torch.from_numpy(xb), yb
        return
    if isinstance(data, (np.ndarray, torch.Tensor)):
        for xb in iter_inputs(data, batch_size, progress=progress, desc=desc):
            yield xb, None
        return
    if not hasattr(data, "__iter__"):
        raise SLTTypeError(f"cannot stream {type(data).__name__}: pass an array/tensor [N, D], a FrameDataset, "
                        "a DataLoader or an iterable of batches")
    it = data
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, total=len(data) if hasattr(data, "__len__") else None, desc=desc, unit="batch")
    for item in it:
        if isinstance(item, (tuple, list)):
            xb, yb = item[0], (item[1] if len(item) > 1 else None)
        else:
            xb, yb = item, None
        if isinstance(xb, dict):
            raise SLTInputError("batches are dicts; yield tensors x or tuples (x, y)")
        xb = xb if isinstance(xb, torch.Tensor) else torch.from_numpy(np.asarray(xb))
        yield xb, (None if yb is None else _labels(yb, len(xb)))


def activation_layers(model, layers) -> list:
    """Validate ``layers`` (``"input"``, ``1..L``, ``"output"``; default all of them in that order)."""
    chain = to_chain(model)
    L = chain.n_hidden
    if layers is None:
        return ["input", *range(1, L + 1), "output"]
    if isinstance(layers, (int, str)):
        layers = [layers]
    out = []
    for l in layers:
        if isinstance(l, str) and l.strip().lower() == "input":
            out.append("input")
        else:
            t = resolve_layer(chain, l)
            out.append("output" if t == L + 1 else t)
    return list(dict.fromkeys(out))


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
def _plan_blocks(per: str, n_in: int, widths: dict, budget: int, n_groups: int) -> list[list[tuple]]:
    """Split ``(layer, index)`` Gram blocks into passes whose Grams fit ``budget`` bytes.

    A pass holds its Grams (all groups; float64 totals plus float32 batch sums, see
    :meth:`SLTGrams.nbytes_for`) plus room for folding its largest block into the totals."""
    jobs = []
    for layer, width in widths.items():
        full = width if per == "node" else n_in
        one = SLTGrams.nbytes_for(per, n_in, width, 1)            # one node's (input's) float64 Gram
        if one * (n_groups + 1) > budget:
            need = math.ceil(one * (n_groups + 1) / 2 ** 20)
            raise SLTInputError(f"one {per}'s Gram of layer {layer!r} needs {need} MB ({n_groups} group(s) + a "
                                f"batch product) but memory_budget is {budget / 2 ** 20:.1f} MB; raise memory_budget")
        per_block = max(1, budget // (one * (n_groups + 1)))
        for s in range(0, full, per_block):
            r = min(per_block, full - s)
            jobs.append((layer, np.arange(s, s + r), one * r))
    passes, cur, used, big = [], [], 0, 0
    for layer, idx, b in jobs:
        if cur and used + b * n_groups + max(big, b) > budget:
            passes.append(cur)
            cur, used, big = [], 0, 0
        cur.append((layer, idx))
        used += b * n_groups
        big = max(big, b)
    if cur:
        passes.append(cur)
    return passes


def _group_array(groups, n_groups):
    g = groups.detach().cpu().numpy() if isinstance(groups, torch.Tensor) else np.asarray(groups)
    if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer):
        raise SLTInputError(f"groups must be an int vector [N] (−1 = skip the sample), got {g.dtype} {g.shape}")
    if g.size and (g.min() < -1 or g.max() >= n_groups):
        raise SLTInputError(f"groups must lie in −1..{n_groups - 1}")
    return g.astype(np.int64)


def partition_grams(prep_or_model, x, blocks, per: str, groups=None, n_groups: int = 1, *, chunk: int = 128,
                    dtype=None, device=None, into: dict | None = None) -> dict:
    """``{(group, layer, block_id): SLTGrams}`` of one batch/partition ``x [b, F]``.

    blocks: ``[(layer, index [r])]`` (see :func:`streaming_slt_spectra`); groups: ``[b]`` ints in
    −1..G−1 (−1 = not accumulated) or None (all samples, group 0). into: accumulators from an
    earlier call to add to in place (one set of Grams per pass instead of one per batch).
    """
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    out = {}
    if isinstance(prep_or_model, torch.nn.Module) and not _is_chain(prep_or_model):
        return _partition_grams_general(prep_or_model, x, blocks, per, groups, n_groups, chunk, dtype, device)
    prep = prep_or_model
    if isinstance(prep, torch.nn.Module):
        prep, _ = _prepare(prep, x[:1], dtype, device)
    L = prep.chain.n_hidden
    targets = sorted({resolve_layer(prep.chain, l) for l, _ in blocks})
    xt = x.reshape(len(x), -1).to(device=prep.device, dtype=prep.dtype)
    g_all = np.zeros(len(xt), np.int64) if groups is None else np.asarray(groups)
    n_in = xt.shape[1]
    accs = {} if into is None else into
    for gi in range(n_groups):
        for bi, (l, idx) in enumerate(blocks):
            t = resolve_layer(prep.chain, l)
            if (gi, l, bi) not in accs:
                accs[(gi, l, bi)] = SLTGrams(l, per, n_in, prep.chain.layer_width("output" if t == L + 1 else t), idx)
    with eval_mode(prep.model):
        for s in range(0, len(xt), chunk):
            xc = xt[s:s + chunk]
            gc = g_all[s:s + chunk]
            if (gc < 0).all():
                continue
            rec = prep.record(xc)
            outs = _forward_chunk_major(prep, rec, xc, targets, per)      # [M, c, F] or [F, c, M]
            for t, j in outs.items():
                prep.check_major(j, per, xc, rec, t)                      # W(x)·x + b(x) = the model's values
            for (gi, l, bi), acc in accs.items():
                j = outs[resolve_layer(prep.chain, l)]
                rows = gc == gi
                if rows.all():
                    acc.update_major(j)
                elif rows.any():
                    acc.update_major(j[:, torch.as_tensor(np.flatnonzero(rows), device=j.device)])
    out.update(accs)
    return out


def _partition_grams_general(model, x, blocks, per, groups, n_groups, chunk, dtype, device):
    """Models off the chain path (conv nets, residual blocks): one ``slt_layers`` per batch."""
    layers = list(dict.fromkeys(l for l, _ in blocks))
    maps = slt_layers(model, x, layers, chunk=chunk, dtype=dtype, device=device)
    g_all = np.zeros(len(x), np.int64) if groups is None else np.asarray(groups)
    out = {}
    for gi in range(n_groups):
        rows = torch.as_tensor(np.flatnonzero(g_all == gi))
        for bi, (l, idx) in enumerate(blocks):
            w = maps[l].weight.reshape(len(x), maps[l].weight.shape[1], -1)      # [b, M, F]
            acc = SLTGrams(l, per, w.shape[2], w.shape[1], idx)
            if len(rows):
                acc.update(w[rows].transpose(1, 2))
            out[(gi, l, bi)] = acc
    return out


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
    try:
        return _streaming_slt_spectra(model, data, **args)
    except ChainMismatchError as e:     # the chain reading failed verification: the general path, from the start
        return fall_back(model, e, False, lambda: _streaming_slt_spectra(model, data, **args))


def _streaming_slt_spectra(model, data, layers, per, groups, n_groups, memory_budget, batch_size, chunk, dtype,
                           device, progress) -> dict:
    chain = to_chain(model) if _is_chain(model) else None
    if layers is None:
        if chain is None:
            raise SLTInputError("pass layers=[...] explicitly for models off the chain path")
        layers = list(range(1, chain.n_hidden + 1))
    layers = [l for l in activation_layers(model, layers) if l != "input"] if chain is not None else list(layers)
    G = 1
    g_all = None
    if groups is not None:
        G = int(n_groups) if n_groups is not None else int(np.max(groups)) + 1
        g_all = _group_array(groups, G)
    budget = parse_bytes(memory_budget)
    probe = next(iter_labeled(data, None, 1))[0]
    n_in = probe.reshape(1, -1).shape[1]
    if chain is not None:
        widths = {l: chain.layer_width(l) for l in layers}
    else:
        maps = slt_layers(model, probe, layers)
        widths = {l: m.weight.shape[1] for l, m in maps.items()}
    passes = _plan_blocks(per, n_in, widths, budget, G)
    results = {}
    for pi, blocks in enumerate(passes):
        acc, start, prep = {}, 0, None
        desc = f"{per} spectra" + (f" (pass {pi + 1}/{len(passes)})" if len(passes) > 1 else "")
        for xb, _ in iter_labeled(data, None, batch_size, progress=progress, desc=desc):
            gb = None if g_all is None else g_all[start:start + len(xb)]
            start += len(xb)
            if chain is not None and prep is None:
                prep, _ = _prepare(model, xb[:1], dtype, device)
            if prep is not None:
                partition_grams(prep, xb, blocks, per, gb, G, chunk=chunk, dtype=dtype, device=device, into=acc)
                continue
            part = partition_grams(model, xb, blocks, per, gb, G, chunk=chunk, dtype=dtype, device=device)
            for k, v in part.items():
                acc[k] = v if k not in acc else acc[k].merge(v)
        for a in acc.values():          # free the float32 batch sums before the spectra are taken
            a.release()
        if g_all is not None and start != len(g_all):
            raise SLTInputError(f"groups has {len(g_all)} entries but the data has {start} samples")
        for (gi, l, _), a in sorted(acc.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])):
            results.setdefault(gi, {}).setdefault(l, []).append(a)
    out = {gi: {l: _join(parts) for l, parts in per_layer.items()} for gi, per_layer in results.items()}
    return out if groups is not None else out[0]


def _join(parts: list) -> NodeSpectra:
    """One layer's spectra from its node (input) blocks, in index order."""
    parts = sorted(parts, key=lambda a: -1 if a.index is None else int(a.index[0]))
    res = [p.result() for p in parts]
    F = max(r.sigmas.shape[1] for r in res)
    sig = np.concatenate([np.pad(r.sigmas, ((0, 0), (0, F - r.sigmas.shape[1]))) for r in res])
    return NodeSpectra(res[0].layer, sig, np.concatenate([np.atleast_1d(r.auc) for r in res]),
                       np.concatenate([r.dead for r in res]), res[0].n_samples)
