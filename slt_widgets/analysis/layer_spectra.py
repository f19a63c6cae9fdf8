"""One summary of every layer for the LayerSummary widget (Fig. 3A–C and 7A side by side)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import auc_score
from ._checks import check_seed
from .activations import hidden_layers, resolve_layers
from .lda import lda_layers, within_class_spectra
from .slt_spectra import slt_spectra

__all__ = ["LayerSpectra", "layer_spectra"]


@dataclass(frozen=True)
class LayerSpectra:
    """Per-layer spectra, one row per entry of ``layers`` (``"input"`` first, then hidden ids).

    accuracy: ``[L]`` eval accuracy of the layer's LDA (Table 2);
    evr: ``[L, K − 1]`` LDA explained-variance ratio (Fig. 3A); evr_auc: ``[L]``;
    within: ``[L, K − 1]`` class-averaged σ₁-normalised spectra of the LDA-projected eval
    activations (Fig. 3B); within_auc: ``[L]``;
    node_sigma: ``[L, F]`` σ₁-normalised node SLT spectra averaged over live nodes (Fig. 7A;
    NaN row for ``"input"``; layer 1 is rank 1 by construction); node_auc: ``[L]`` mean node AUC
    (NaN for ``"input"``); n_dead: ``[L]`` nodes whose SLT is zero on every sample (0 for input);
    All AUCs are :func:`slt_widgets.auc_score` (trapezoid over the whole spectrum, σ₁ = 1).
    """

    layers: tuple
    accuracy: np.ndarray
    evr: np.ndarray
    evr_auc: np.ndarray
    within: np.ndarray
    within_auc: np.ndarray
    node_sigma: np.ndarray
    node_auc: np.ndarray
    n_dead: np.ndarray


def layer_spectra(model, dataset, layers=None, *, train=None, max_train: int | None = None,
                  max_eval: int | None = None, node_samples: int | None = 2000, seed: int = 0,
                  center: bool = False, progress: bool = False) -> LayerSpectra:
    """Compute :class:`LayerSpectra` for ``model`` on ``dataset`` (the eval split).

    train: the split the LDAs are fitted on (the paper's dev set; default ``dataset`` itself).
    layers: default ``("input", 1, …, L)``. max_train / max_eval / node_samples subsample with
    ``seed`` (None = all); center: passed to :func:`within_class_spectra`.
    """
    seed = check_seed(seed)
    layers = ("input",) + hidden_layers(model) if layers is None else resolve_layers(model, layers, allow=("input",))
    lda = lda_layers(model, dataset if train is None else train, dataset, layers, max_train=max_train,
                     max_test=max_eval, seed=seed, progress=progress)
    within, within_auc = [], []
    for l in layers:
        w = within_class_spectra(lda.per_layer[l].projected, lda.eval_labels, center=center)
        within.append(w.mean)
        within_auc.append(w.auc)
    hid = tuple(l for l in layers if l != "input")
    F = dataset.n_features if hasattr(dataset, "n_features") else np.asarray(dataset).shape[1]
    node_sigma = np.full((len(layers), F), np.nan)
    node_auc = np.full(len(layers), np.nan)
    n_dead = np.zeros(len(layers), dtype=np.int64)
    if hid:
        sp = slt_spectra(model, dataset, hid, inputs=False, max_samples=node_samples, seed=seed, progress=progress)
        for i, l in enumerate(layers):
            if l in hid:
                j = hid.index(l)
                node_sigma[i] = sp.node_mean[j]
                node_auc[i] = sp.node_auc_mean[j]
                n_dead[i] = int(sp.dead[l].sum())
    return LayerSpectra(layers=tuple(layers), accuracy=lda.accuracy, evr=lda.evr,
                        evr_auc=np.array([auc_score(e) for e in lda.evr]), within=np.array(within),
                        within_auc=np.array(within_auc), node_sigma=node_sigma, node_auc=node_auc, n_dead=n_dead)
