"""SVD spectra of SLTs (Fig. 7): per node (Σ_NODES), per input (Σ_INPUTS), per class over the
whole layer (population, Fig. 7B) and the hard-minus-easy difference Σ_INC − Σ_COR (Fig. 7C/D).

Per-node and per-input spectra stream through the engine's Gram accumulators
(``node_spectra``/``input_spectra``); the population spectrum of ``[N_k × (F·M)]`` uses the
smaller Gram, ``N_k × N_k`` (block-wise, recomputing SLT blocks when they exceed the memory
budget) or ``(F·M) × (F·M)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..engine import auc_score, input_spectra, node_spectra, slt, slt_layers
from ..engine.streaming import parse_bytes
from ._checks import AnalysisError, as_matrix, check_seed
from .activations import features_of, hidden_layers, labels_of, resolve_layers

__all__ = ["normalized_spectra", "SLTSpectra", "slt_spectra", "population_spectrum", "population_spectra_layers",
           "PopulationSpectra",
           "population_spectra", "spectrum_difference_auc", "IncCorDifference", "inc_cor_difference",
           "subsample"]


def subsample(index, max_n: int | None, seed: int) -> np.ndarray:
    """At most ``max_n`` of ``index [n]``, drawn without replacement with ``seed`` (sorted)."""
    index = np.asarray(index, dtype=np.int64)
    if max_n is None or len(index) <= max_n:
        return index
    return np.sort(np.random.default_rng(seed).choice(index, size=int(max_n), replace=False))


def normalized_spectra(sigmas, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """σ₁-normalised spectra ``[M, length]`` of ``sigmas [M, D]`` (zero-padded) and the bool ``[M]``
    mask of all-zero (dead) rows, whose normalised rows are NaN."""
    s = np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 2:
        raise AnalysisError(f"sigmas must be [M, D], got shape {s.shape}")
    length = s.shape[1] if length is None else length
    s = np.pad(s, ((0, 0), (0, max(0, length - s.shape[1]))))[:, :length]
    dead = s[:, 0] <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(dead[:, None], np.nan, s / np.where(dead, 1.0, s[:, 0])[:, None])
    return out, dead


@dataclass(frozen=True)
class SLTSpectra:
    """Fig. 7A. layers: ``(L,)``; node_mean: ``[L, F]`` normalised Σ_NODES averaged over live
    nodes; node_auc: ``{layer: [M]}`` (NaN for dead nodes); node_auc_mean: ``[L]``;
    input_mean: ``{layer: [M]}`` normalised Σ_INPUTS averaged over inputs (None if not asked);
    input_auc: ``{layer: [F]}``; input_auc_mean: ``[L]``; dead: ``{layer: [M]}``; n_samples."""

    layers: tuple
    node_mean: np.ndarray
    node_auc: dict
    node_auc_mean: np.ndarray
    input_mean: dict | None
    input_auc: dict | None
    input_auc_mean: np.ndarray | None
    dead: dict
    n_samples: int


def slt_spectra(model, dataset, layers=None, *, inputs: bool = True, max_samples: int | None = 4000,
                seed: int = 0, batch_size: int = 1024, progress: bool = False) -> SLTSpectra:
    """Σ_NODES (and Σ_INPUTS) per layer over ``dataset`` (subsampled to ``max_samples`` with ``seed``).

    layers: default hidden 2..L and ``"output"`` — layer 1 is skipped because every node's SLT
    there is ``W_1[m]`` or 0 (rank 1). Streams via the engine's Gram accumulators.
    """
    seed = check_seed(seed)
    if layers is None:
        layers = tuple(l for l in hidden_layers(model) if l > 1) + ("output",)
    layers = resolve_layers(model, layers, allow=("output",))
    idx = subsample(np.arange(len(dataset)), max_samples, seed)
    x = features_of(dataset, idx)
    ns = node_spectra(model, x, list(layers), batch_size=batch_size, progress=progress)
    F = x.shape[1]
    node_mean, node_auc, dead = [], {}, {}
    for l in layers:
        norm, d = normalized_spectra(ns[l].sigmas, F)
        node_mean.append(np.nanmean(norm[~d], 0) if (~d).any() else np.full(F, np.nan))
        node_auc[l], dead[l] = np.asarray(ns[l].auc, dtype=np.float64), d
    inp_mean = inp_auc = inp_auc_mean = None
    if inputs:
        ins = input_spectra(model, x, list(layers), batch_size=batch_size, progress=progress)
        inp_mean, inp_auc = {}, {}
        for l in layers:
            norm, d = normalized_spectra(ins[l].sigmas)
            inp_mean[l] = np.nanmean(norm[~d], 0) if (~d).any() else np.full(norm.shape[1], np.nan)
            inp_auc[l] = np.asarray(ins[l].auc, dtype=np.float64)
        inp_auc_mean = np.array([np.nanmean(inp_auc[l]) for l in layers])
    return SLTSpectra(layers=tuple(layers), node_mean=np.array(node_mean), node_auc=node_auc,
                      node_auc_mean=np.array([np.nanmean(node_auc[l]) if np.isfinite(node_auc[l]).any()
                                              else np.nan for l in layers]),
                      input_mean=inp_mean, input_auc=inp_auc, input_auc_mean=inp_auc_mean, dead=dead,
                      n_samples=len(idx))


# ---------------------------------------------------------------- population spectrum (Fig. 7B)
def _flat_slt(model, x: np.ndarray, layer, chunk: int) -> torch.Tensor:
    w = slt(model, x, layer=layer, chunk=chunk).weight           # [b, M, F]
    return w.reshape(len(x), -1).double()


def population_spectrum(model, x, layer, *, memory_budget="256MB", chunk: int = 128) -> np.ndarray:
    """Singular values ``[min(n, F·M)]`` (descending) of the ``[n × (F·M)]`` matrix whose row ``i``
    is the flattened SLT ``A_layer(x_i)`` (all ``M`` nodes of ``layer``) of sample ``x [n, F]``.

    Computed from the smaller Gram: ``n × n`` (SLT row blocks of at most ``memory_budget``,
    off-diagonal blocks recomputed) or ``(F·M) × (F·M)`` (streamed).
    """
    a = as_matrix(x, "x", min_rows=1, dtype=np.float32)
    n, F = a.shape
    M = slt(model, a[:1], layer=layer).weight.shape[1]
    width = F * M
    budget = parse_bytes(memory_budget)
    block = max(1, int(budget // (width * 8 * 2)))              # two float64 blocks live at once
    if width < n:
        g = torch.zeros((width, width), dtype=torch.float64)
        for s in range(0, n, block):
            j = _flat_slt(model, a[s:s + block], layer, chunk)
            g += j.T @ j
    else:
        g = torch.zeros((n, n), dtype=torch.float64)
        starts = list(range(0, n, block))
        for bi, s in enumerate(starts):
            ji = _flat_slt(model, a[s:s + block], layer, chunk)
            g[s:s + len(ji), s:s + len(ji)] = ji @ ji.T
            for t in starts[:bi]:                                # recompute earlier blocks: O(n²) flops only
                jt = ji if t == s else _flat_slt(model, a[t:t + block], layer, chunk)
                gij = ji @ jt.T
                g[s:s + len(ji), t:t + len(jt)] = gij
                g[t:t + len(jt), s:s + len(ji)] = gij.T
    ev = torch.linalg.eigvalsh(g).clamp_min(0).sqrt().flip(0).numpy()
    return ev[:min(n, width)]


def population_spectra_layers(model, x, layers, *, memory_budget="256MB") -> dict:
    """:func:`population_spectrum` for several layers of the same samples ``x [n, F]``:
    ``{layer: sigmas}``.

    When all layers' SLTs (float32) plus one layer in float64 fit ``memory_budget`` they come from
    one forward chain (``slt_layers``: every layer in one pass, ~2–6× cheaper than one backward chain
    per layer for wide layers) and each spectrum from the ``n × n`` Gram; otherwise layer by layer.
    """
    a = as_matrix(x, "x", min_rows=1, dtype=np.float32)
    n, F = a.shape
    layers = list(layers)
    maps = slt_layers(model, a[:1], layers)
    widths = {l: maps[l].weight.shape[1] for l in layers}
    need = 4 * n * F * sum(widths.values()) + 8 * n * F * max(widths.values()) + 8 * n * n
    if need > parse_bytes(memory_budget) or any(F * w < n for w in widths.values()):
        return {l: population_spectrum(model, a, l, memory_budget=memory_budget) for l in layers}
    maps = slt_layers(model, a, layers)
    out = {}
    for l in layers:
        w = maps[l].weight                                     # [n, M, F]; a column order change
        j = w.transpose(1, 2).reshape(n, -1).double()          # keeps the singular values, and this
        g = j @ j.T                                            # is the storage's own (contiguous) order
        del j
        ev = torch.linalg.eigvalsh(g).clamp_min(0).sqrt().flip(0).numpy()
        out[l] = ev[:min(n, F * widths[l])]
    return out


@dataclass(frozen=True)
class PopulationSpectra:
    """Fig. 7B. layers: ``(L,)``; classes: ``[C]``; auc: ``[L, C]`` AUC over the first ``D``
    normalised singular values; auc_mean: ``[L]`` (mean over classes); n_per_class: ``[C]``
    samples used; D: the common spectrum length (smallest class sample count)."""

    layers: tuple
    classes: np.ndarray
    auc: np.ndarray
    auc_mean: np.ndarray
    n_per_class: np.ndarray
    D: int


def population_spectra(model, dataset, layers=None, *, classes=None, max_per_class: int = 200,
                       min_per_class: int = 3, seed: int = 0, memory_budget="256MB",
                       progress: bool = False) -> PopulationSpectra:
    """Per class ``k``, one SVD of the ``[N_k × (F·M)]`` SLT matrix of all nodes of a layer.

    N_k is subsampled to ``max_per_class`` with ``seed`` (the report says so); classes with fewer
    than ``min_per_class`` samples are skipped. AUC uses the same ``D`` (smallest ``N_k`` used)
    for every class and layer so scores are comparable. layers default: every hidden layer.
    """
    seed = check_seed(seed)
    layers = resolve_layers(model, layers, allow=("output",))
    y = labels_of(dataset)
    classes = np.unique(y) if classes is None else np.array([dataset.class_index(c) for c in classes])
    use, idx = [], []
    for k in classes:
        rows = np.flatnonzero(y == k)
        if len(rows) >= min_per_class:
            use.append(int(k))
            idx.append(subsample(rows, max_per_class, seed + int(k)))
    if not use:
        raise AnalysisError(f"no class has ≥ {min_per_class} samples for a population spectrum")
    D = min(len(i) for i in idx)
    auc = np.zeros((len(layers), len(use)))
    it = list(enumerate(zip(use, idx)))
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="population spectra", unit="class", leave=False)
    for c, (k, rows) in it:
        x = features_of(dataset, rows)
        spectra = population_spectra_layers(model, x, layers, memory_budget=memory_budget)
        for li, l in enumerate(layers):
            s = spectra[l]
            auc[li, c] = auc_score(s[:D]) if len(s) >= 2 and D >= 2 else np.nan
    return PopulationSpectra(layers=tuple(layers), classes=np.array(use), auc=auc,
                             auc_mean=np.nanmean(auc, 1), n_per_class=np.array([len(i) for i in idx]), D=D)


# ---------------------------------------------------------------- Σ_INC − Σ_COR (Fig. 7C/D)
def spectrum_difference_auc(sig_inc, sig_cor) -> np.ndarray:
    """Per node, area under ``Σ_INC − Σ_COR`` (each σ₁-normalised, zero-padded to a common
    length ``D``): ``Σ_{i=1}^{D−1} (d_i + d_{i+1}) / 2`` → ``[M]`` (NaN where either is dead).

    sig_inc: ``[M, D1]``, sig_cor: ``[M, D2]`` descending singular values.
    """
    a, b = np.asarray(sig_inc, dtype=np.float64), np.asarray(sig_cor, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise AnalysisError(f"sig_inc and sig_cor must be [M, D] with the same M; got {a.shape}, {b.shape}")
    D = max(a.shape[1], b.shape[1])
    na, da = normalized_spectra(a, D)
    nb, db = normalized_spectra(b, D)
    d = na - nb
    out = (d[:, :-1] + d[:, 1:]).sum(1) / 2.0
    out[da | db] = np.nan
    return out


@dataclass(frozen=True)
class IncCorDifference:
    """Fig. 7C/D. layers: ``(L,)``; auc_mean: ``[L]`` mean over live nodes of the AUC of
    Σ_INC − Σ_COR; auc: ``{layer: [M]}``; inc_mean / cor_mean: ``{layer: [F]}`` node-averaged
    normalised spectra; n_per_group: samples per group (equal, subsampled)."""

    layers: tuple
    auc_mean: np.ndarray
    auc: dict
    inc_mean: dict
    cor_mean: dict
    n_per_group: int


def inc_cor_difference(model, dataset, cor_index, inc_index, layers=None, *, max_samples: int | None = 2000,
                       seed: int = 0, progress: bool = False) -> IncCorDifference:
    """Node SLT spectra of the hard (``inc_index [n_i]``) and easy (``cor_index [n_c]``) samples of
    ``dataset``, each subsampled with ``seed`` to the same size ``min(|COR|, |INC|, max_samples)``
    (a spectrum's shape depends on the sample count), and the AUC of their difference per node.
    layers default: hidden 2..L and ``"output"``. Returns :class:`IncCorDifference`.
    """
    seed = check_seed(seed)
    if layers is None:
        layers = tuple(l for l in hidden_layers(model) if l > 1) + ("output",)
    layers = resolve_layers(model, layers, allow=("output",))
    cor, inc = np.asarray(cor_index, dtype=np.int64), np.asarray(inc_index, dtype=np.int64)
    n = min(len(cor), len(inc), max_samples if max_samples is not None else len(cor) + len(inc))
    if n < 2:
        raise AnalysisError(f"Σ_INC − Σ_COR needs ≥ 2 samples in each group; got COR={len(cor)}, INC={len(inc)}")
    cor, inc = subsample(cor, n, seed), subsample(inc, n, seed + 1)
    s_inc = node_spectra(model, features_of(dataset, inc), list(layers), progress=progress)
    s_cor = node_spectra(model, features_of(dataset, cor), list(layers), progress=progress)
    auc, im, cm, mean = {}, {}, {}, []
    for l in layers:
        auc[l] = spectrum_difference_auc(s_inc[l].sigmas, s_cor[l].sigmas)
        ni, di = normalized_spectra(s_inc[l].sigmas)
        nc, dc = normalized_spectra(s_cor[l].sigmas)
        im[l] = np.nanmean(ni[~di], 0) if (~di).any() else np.full(ni.shape[1], np.nan)
        cm[l] = np.nanmean(nc[~dc], 0) if (~dc).any() else np.full(nc.shape[1], np.nan)
        mean.append(np.nanmean(auc[l]) if np.isfinite(auc[l]).any() else np.nan)
    return IncCorDifference(layers=tuple(layers), auc_mean=np.array(mean), auc=auc, inc_mean=im, cor_mean=cm,
                            n_per_group=n)
