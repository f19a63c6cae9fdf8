"""The paper's per-layer measures of one network as one table: what ``Compare`` draws per model.

``layer_profile(model, dataset)`` runs, on the same seeded subsets every time:

* ``lda_accuracy`` — eval accuracy of an LDA per layer (Table 2; :func:`.lda_layers`);
* ``within_auc`` — AUC of the class-averaged within-class spectra of the LDA-projected
  activations (Fig. 3C; :func:`.within_class_spectra`);
* ``node_clusters`` — node clusters at correlation distance 0.5 (Fig. 2D; :func:`.node_cluster_counts`);
* ``slt_auc`` — mean node SLT AUC, layers 2..L and the output (Fig. 7A; :func:`.slt_spectra`);
* ``inc_minus_cor`` — AUC of Σ_INC − Σ_COR, mean over nodes (Fig. 7D; :func:`.inc_cor_difference`),
  COR/INC split by the input LDA as in METHODS §3.3.

Every value is keyed by the layer names ``"input"``, ``"HL1"`` … ``"HLL"``, ``"output"``; a measure
the paper does not define at a layer (SLT AUC at the input, …) is absent there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine import layer_label
from ._checks import AnalysisError, check_seed
from .activations import hidden_layers, predict
from .expansion import split_cor_inc
from .lda import lda_layers, within_class_spectra
from .selectivity import node_cluster_counts
from .slt_spectra import inc_cor_difference, slt_spectra

__all__ = ["MEASURES", "LayerProfile", "layer_profile"]

#: measure key → (label, paper figure)
MEASURES = {"lda_accuracy": ("LDA accuracy", "Table 2"), "within_auc": ("within-class AUC", "Fig. 3C"),
            "node_clusters": ("node clusters", "Fig. 2D"), "slt_auc": ("SLT AUC", "Fig. 7A"),
            "inc_minus_cor": ("INC − COR AUC", "Fig. 7D")}


@dataclass(frozen=True)
class LayerProfile:
    """One network's per-layer measures.

    values: ``{measure: {layer name: float}}`` (measures of :data:`MEASURES`); layers: every
    layer name of the network in order (``input``, ``HL1`` … ``HLL``, ``output``); n: the
    sample counts used (``lda_train``, ``lda_eval``, ``node_samples``, ``inc_cor_per_group``);
    notes: ``{measure: why it is missing}`` for a measure that could not be computed.
    """

    layers: tuple
    values: dict
    n: dict
    notes: dict = field(default_factory=dict)


def layer_profile(model, dataset, *, train=None, max_train: int | None = 4000, max_eval: int | None = 4000,
                  node_samples: int | None = 400, inc_cor_samples: int | None = 300, measures=None,
                  seed: int = 0) -> LayerProfile:
    """Compute :class:`LayerProfile` of ``model`` on ``dataset`` (the eval split; ``[N, D]`` frames).

    train: the split the LDAs are fitted on (default ``dataset``); max_train / max_eval: LDA
    subsets; node_samples: frames for Σ_NODES (Fig. 7A); inc_cor_samples: frames per group
    for Fig. 7D; measures: a subset of :data:`MEASURES` (default all). Each function is called
    exactly as a user would call it alone, with these arguments and ``seed``.
    """
    seed = check_seed(seed)
    measures = tuple(MEASURES) if measures is None else tuple(measures)
    bad = [m for m in measures if m not in MEASURES]
    if bad:
        raise AnalysisError(f"unknown measure(s) {bad}; choose from {list(MEASURES)}")
    hid = hidden_layers(model)
    layers = ("input",) + tuple(layer_label(l) for l in hid) + ("output",)
    values = {m: {} for m in measures}
    n, notes = {}, {}
    lda = None
    if {"lda_accuracy", "within_auc", "inc_minus_cor"} & set(measures):
        lda = lda_layers(model, dataset if train is None else train, dataset, max_train=max_train,
                         max_test=max_eval, seed=seed)
        n.update(lda_train=lda.n_train, lda_eval=len(lda.eval_labels))
        for l, acc in zip(lda.layers, lda.accuracy):
            if "lda_accuracy" in values:
                values["lda_accuracy"][layer_label(l)] = float(acc)
            if "within_auc" in values:
                values["within_auc"][layer_label(l)] = float(
                    within_class_spectra(lda.per_layer[l].projected, lda.eval_labels).auc)
    if "node_clusters" in values:
        nc = node_cluster_counts(model, dataset)
        values["node_clusters"] = {layer_label(l): float(c) for l, c in zip(nc.layers, nc.n_clusters)}
    if "slt_auc" in values:
        sp = slt_spectra(model, dataset, inputs=False, max_samples=node_samples, seed=seed)
        n["node_samples"] = sp.n_samples
        values["slt_auc"] = {layer_label(l): float(a) for l, a in zip(sp.layers, sp.node_auc_mean)}
    if "inc_minus_cor" in values:
        cor, inc = cor_inc_indices(model, dataset, lda)
        try:
            dd = inc_cor_difference(model, dataset, cor, inc, max_samples=inc_cor_samples, seed=seed)
        except AnalysisError as err:
            notes["inc_minus_cor"] = str(err)
        else:
            n["inc_cor_per_group"] = dd.n_per_group
            values["inc_minus_cor"] = {layer_label(l): float(a) for l, a in zip(dd.layers, dd.auc_mean)}
    return LayerProfile(layers=layers, values=values, n=n, notes=notes)


def cor_inc_indices(model, dataset, lda) -> tuple[np.ndarray, np.ndarray]:
    """Dataset indices ``(cor [n_c], inc [n_i])`` of the LDA eval subset (METHODS §3.3): frames the
    net classifies correctly, split by whether the input-feature LDA does too."""
    idx = lda.eval_index
    net = predict(model, dataset, index=idx)
    cor, inc = split_cor_inc(lda.eval_labels, net, lda.per_layer["input"].predictions)
    return idx[cor], idx[inc]
