"""Singular-value spectra and the complexity score (METHODS §2), streamed per node.

``node_spectra`` never holds the ``[N × nodes × F]`` tensor: it accumulates one
``F × F`` Gram matrix per node (float32 per batch, float64 across batches) and takes
eigenvalues at the end; singular values of the node's ``[N × F]`` SLT matrix are
their square roots. ``input_spectra`` does the same with one ``M × M`` Gram per
input dimension (Σ_INPUTS).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import SLTInputError

from .slt import ChainMismatchError, _forward_chunk_major, _is_chain, fall_back, resolve_layer, slt_layers
from .chain import eval_mode, to_chain
from .grams import GramSum, gram_operand
from .streaming import _prepared_batches, iter_inputs

__all__ = ["singular_spectrum", "auc_score", "node_spectra", "input_spectra", "NodeSpectra",
           "spectra_from_gram"]


def singular_spectrum(matrix) -> np.ndarray:
    """Singular values ``[min(N, F)]`` (descending, float64) of a matrix ``[N, F]``."""
    m = matrix.detach().cpu().double() if isinstance(matrix, torch.Tensor) else torch.as_tensor(
        np.asarray(matrix, dtype=np.float64))
    if m.ndim != 2:
        raise SLTInputError(f"singular_spectrum needs a 2-D matrix [N, F], got shape {tuple(m.shape)}")
    if m.numel() == 0:
        raise SLTInputError(f"singular_spectrum got an empty matrix of shape {tuple(m.shape)}")
    if not torch.isfinite(m).all():
        raise SLTInputError("singular_spectrum: the matrix contains NaN or inf")
    return torch.linalg.svdvals(m).numpy()


def auc_score(sigmas, D: int | None = None, normalized: bool = False) -> float | np.ndarray:
    """Area under the σ₁-normalised singular-value spectrum (the paper's eq. 5).

    ``AUC_D = Σ_{i=1}^{D-1} (σ_i + σ_{i+1}) / (2 σ_1)`` — the trapezoid rule with unit
    spacing over the first ``D`` values (default: all). A flat spectrum of length
    ``D`` scores ``D − 1``; a rank-1 one scores 0.5. With ``normalized=True`` the
    score is divided by ``D − 1`` (range 0..1) for comparing spectra of different
    lengths.

    sigmas: ``[D']`` or ``[..., D']`` (descending; the last axis is the spectrum).
    Returns a float (or ``[...]`` array). An all-zero spectrum (a dead node) gives NaN.
    """
    s = np.asarray(sigmas, dtype=np.float64)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise SLTInputError(f"auc_score needs a non-empty spectrum, got shape {s.shape}")
    if D is not None:
        if D < 2:
            raise SLTInputError(f"D must be ≥ 2 (one trapezoid needs two values), got {D}")
        if D > s.shape[-1]:
            raise SLTInputError(f"D={D} exceeds the spectrum length {s.shape[-1]}")
        s = s[..., :D]
    if s.shape[-1] < 2:
        raise SLTInputError("auc_score needs at least two singular values")
    if (s < 0).any():
        raise SLTInputError("singular values must be non-negative")
    first = s[..., :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(first > 0, s / np.where(first > 0, first, 1), np.nan)
    auc = (norm[..., :-1] + norm[..., 1:]).sum(-1) / 2.0
    if normalized:
        auc = auc / (s.shape[-1] - 1)
    return float(auc) if np.ndim(auc) == 0 else auc


def spectra_from_gram(gram: torch.Tensor) -> np.ndarray:
    """Singular values ``[..., F]`` (descending) from Gram matrices ``[..., F, F]``."""
    from threadpoolctl import threadpool_limits
    # numpy's LAPACK path: torch's batched eigvalsh is ~2x slower here on CPU. One BLAS thread: the
    # matrices are small, and threaded OpenBLAS on a shared machine is ~15x slower (measured, load 4-8)
    g = gram.detach().double().cpu().numpy()                         # general-path SLTs may carry grad
    workers = max(1, min(torch.get_num_threads(), g.shape[0] if g.ndim == 3 else 1))
    with threadpool_limits(1, user_api="blas"):
        if workers == 1 or g.ndim != 3 or g.shape[0] < 2 * workers:
            ev = np.linalg.eigvalsh(g)
        else:   # LAPACK releases the GIL: one single-threaded solver per core over slices of the batch
            from concurrent.futures import ThreadPoolExecutor
            parts = np.array_split(np.arange(g.shape[0]), workers)
            with ThreadPoolExecutor(workers) as pool:
                ev = np.concatenate(list(pool.map(lambda p: np.linalg.eigvalsh(g[p[0]:p[-1] + 1]), parts)))
    return np.sqrt(np.clip(ev, 0, None))[..., ::-1].copy()


def _auc_or_nan(sig: np.ndarray) -> np.ndarray:
    """AUC per row of ``sig [M, D]``; NaN when ``D = 1`` (a one-input model has no spectrum shape)."""
    return auc_score(sig) if sig.shape[1] >= 2 else np.full(len(sig), np.nan)


@dataclass
class NodeSpectra:
    """Per-node SLT spectra of one layer.

    sigmas: ``[M, F]`` singular values of each node's ``[N × F]`` SLT (descending);
    auc: ``[M]`` :func:`auc_score` of each (NaN for dead nodes); dead: ``[M]`` bool —
    the node's SLT is zero for every sample; n_samples: N.
    """

    layer: int | str
    sigmas: np.ndarray
    auc: np.ndarray
    dead: np.ndarray
    n_samples: int


def _gram_pass(model, data, layers, per: str, batch_size: int, chunk: int, dtype, device, progress):
    """Accumulate per-node (``per='node'``: ``[M, F, F]``) or per-input (``[F, M, M]``) Grams."""
    if not _is_chain(model):
        return _gram_pass_general(model, data, layers, per, batch_size, chunk, dtype, device, progress)
    try:
        return _gram_pass_chain(model, data, layers, per, batch_size, chunk, dtype, device, progress)
    except ChainMismatchError as e:
        return fall_back(model, e, False, lambda: _gram_pass_general(model, data, layers, per, batch_size, chunk,
                                                                     dtype, device, progress))


def _gram_pass_chain(model, data, layers, per, batch_size, chunk, dtype, device, progress):
    grams, counts, prep = {}, 0, None
    for prep, xb in _prepared_batches(model, data, batch_size, dtype, device, progress, f"{per} spectra"):
        targets = sorted({resolve_layer(prep.chain, l) for l in layers})
        with eval_mode(model):
            for s, e, rec in prep.records(xb, chunk):
                for t, a in _forward_chunk_major(prep, rec, xb[s:e], targets, per).items():   # [M, c, F] / [F, c, M]
                    prep.check_major(a, per, xb[s:e], rec, t)       # W(x)·x + b(x) = the model's values
                    if t not in grams:
                        grams[t] = GramSum(a.shape[0], a.shape[2])
                    grams[t].add(a)
        counts += len(xb)
    if prep is None:
        raise SLTInputError("node_spectra got no data (an empty dataset or iterator)")
    L = prep.chain.n_hidden
    for g in grams.values():            # free the float32 batch sums before the spectra are taken
        g.release()
    return {("output" if t == L + 1 else t): g for t, g in grams.items()}, counts


def _gram_pass_general(model, data, layers, per, batch_size, chunk, dtype, device, progress):
    """Grams for models off the chain path (conv nets, residual blocks): one general-path call per batch."""
    grams, counts = {}, 0
    for xb in iter_inputs(data, batch_size, progress=progress, desc=f"{per} spectra"):
        maps = slt_layers(model, xb, layers, chunk=chunk, dtype=dtype, device=device)
        for layer, m in maps.items():
            w = m.weight.detach().reshape(m.weight.shape[0], m.weight.shape[1], -1)   # [b, M, F]
            a = gram_operand(w.transpose(1, 2), per)
            if layer not in grams:
                grams[layer] = GramSum(a.shape[0], a.shape[2])
            grams[layer].add(a)
        counts += len(xb)
    if not grams:
        raise SLTInputError("node_spectra got no data (an empty dataset or iterator)")
    for g in grams.values():
        g.release()
    return grams, counts


def node_spectra(model, data, layers=None, *, batch_size: int = 2048, chunk: int = 128,
                 dtype=None, device=None, progress: bool = False) -> dict:
    """Streaming Σ_NODES: singular values of every node's SLT ``[N × F]`` for each layer.

    data: ``[N, F]`` tensor/array, a ``FrameDataset``, a ``DataLoader`` or any iterable of
    batches. layers: hidden layers and/or ``"output"`` (default: every hidden layer).
    Memory: ``M × F × F`` float64 per layer plus one chunk of SLTs. Returns
    ``{layer: NodeSpectra}``.
    """
    if layers is None:
        layers = list(range(1, to_chain(model).n_hidden + 1))
    grams, n = _gram_pass(model, data, layers, "node", batch_size, chunk, dtype, device, progress)
    out = {}
    for layer in list(grams):           # one layer's full Gram at a time
        sig = spectra_from_gram(grams.pop(layer).total())
        dead = sig[:, 0] <= 0
        out[layer] = NodeSpectra(layer, sig, _auc_or_nan(sig), dead, n)
    return out


def input_spectra(model, data, layers=None, *, batch_size: int = 2048, chunk: int = 128,
                  dtype=None, device=None, progress: bool = False) -> dict:
    """Streaming Σ_INPUTS: per input dimension f, singular values of the ``[N × M]`` slice.

    Returns ``{layer: NodeSpectra}`` whose ``sigmas`` is ``[F, M]`` (one row per input dim).
    """
    if layers is None:
        layers = list(range(1, to_chain(model).n_hidden + 1))
    grams, n = _gram_pass(model, data, layers, "input", batch_size, chunk, dtype, device, progress)
    out = {}
    for layer in list(grams):
        sig = spectra_from_gram(grams.pop(layer).total())
        out[layer] = NodeSpectra(layer, sig, _auc_or_nan(sig), sig[:, 0] <= 0, n)
    return out
