"""Singular-value spectra and the complexity score (METHODS §2): the arithmetic.

The streamed spectra (:func:`~slt_widgets.engine.gram_pass.node_spectra`, Σ_NODES, and
:func:`~slt_widgets.engine.gram_pass.input_spectra`, Σ_INPUTS) never hold the
``[N × nodes × F]`` tensor: they accumulate one Gram matrix per node (input dimension) and take
eigenvalues at the end (:func:`spectra_from_gram`); singular values of the node's ``[N × F]`` SLT
matrix are their square roots.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import SLTInputError

__all__ = ["singular_spectrum", "auc_score", "NodeSpectra", "spectra_from_gram"]


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
