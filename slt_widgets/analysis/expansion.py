"""Non-uniform expansion of the representation (Section 3.3, Fig. 5).

Eval samples the network classifies correctly are split into COR (the LDA trained on the input
features classifies them correctly: linearly separable) and INC (it does not). In the LDA space
of each layer, the distance between two class centroids (computed within a group) is divided by
the same distance in the LDA-projected input features: the *relative expansion*.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ._checks import AnalysisError, as_labels, as_matrix

__all__ = ["split_cor_inc", "confusion_matrix", "most_confused", "centroid_distance", "relative_expansion",
           "ExpansionResult", "expansion_by_confusion", "TripleExpansion", "triple_expansion"]


def split_cor_inc(labels, net_pred, input_pred) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(cor [n_c], inc [n_i])`` of the samples the net gets right (``net_pred == labels``),
    split by whether the input-feature LDA (``input_pred``) gets them right too. All ``[n]``."""
    y = as_labels(labels, len(np.asarray(labels)))
    net, inp = as_labels(net_pred, len(y), "net_pred"), as_labels(input_pred, len(y), "input_pred")
    ok = net == y
    return np.flatnonzero(ok & (inp == y)), np.flatnonzero(ok & (inp != y))


def confusion_matrix(labels, pred, n_classes: int) -> np.ndarray:
    """Counts ``[K, K]``: row = true class, column = predicted class."""
    y = as_labels(labels, len(np.asarray(labels)))
    p = as_labels(pred, len(y), "pred")
    if y.size and max(y.max(), p.max()) >= n_classes:
        raise AnalysisError(f"class ids go up to {max(y.max(), p.max())} but n_classes={n_classes}")
    c = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(c, (y, p), 1)
    return c


def most_confused(conf, fallback_centroids=None) -> np.ndarray:
    """For every class ``a`` the class ``b ≠ a`` it is most often predicted as (``[K]``, −1 when
    the class has no samples). A class never confused falls back to the nearest centroid in
    ``fallback_centroids [K, D]`` (NaN rows = absent), else −1."""
    c = np.asarray(conf)
    K = len(c)
    off = c.astype(np.float64).copy()
    np.fill_diagonal(off, -1)
    out = np.full(K, -1, dtype=np.int64)
    for a in range(K):
        if c[a].sum() == 0:
            continue
        if off[a].max() > 0:
            out[a] = int(off[a].argmax())
        elif fallback_centroids is not None:
            cen = np.asarray(fallback_centroids, dtype=np.float64)
            d = np.linalg.norm(cen - cen[a], axis=1)
            d[a] = np.inf
            d[~np.isfinite(d)] = np.inf
            if np.isfinite(d).any():
                out[a] = int(d.argmin())
    return out


def centroid_distance(points, labels, a: int, b: int) -> float:
    """Euclidean distance between the mean of the rows of class ``a`` and of class ``b`` in
    ``points [n, D]`` (NaN if either class has no rows)."""
    p = np.asarray(points, dtype=np.float64)
    y = np.asarray(labels)
    ma, mb = y == a, y == b
    if not ma.any() or not mb.any():
        return float("nan")
    return float(np.linalg.norm(p[ma].mean(0) - p[mb].mean(0)))


def relative_expansion(layer_points, base_points, labels, pairs, mask=None) -> np.ndarray:
    """Relative expansion ``[P]`` of class pairs: centroid distance in ``layer_points [n, D]`` over
    the same distance in ``base_points [n, D']`` (the LDA-projected inputs), using only rows with
    ``mask [n]`` (default all). NaN where a class has no rows or the base distance is 0."""
    lp, bp = as_matrix(layer_points, "layer_points"), as_matrix(base_points, "base_points")
    if len(lp) != len(bp):
        raise AnalysisError(f"layer_points ({len(lp)}) and base_points ({len(bp)}) need the same rows")
    y = as_labels(labels, len(lp))
    m = np.ones(len(y), bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.full(len(pairs), np.nan)
    for i, (a, b) in enumerate(pairs):
        d0 = centroid_distance(bp[m], y[m], a, b)
        if np.isfinite(d0) and d0 > 0:
            out[i] = centroid_distance(lp[m], y[m], a, b) / d0
    return out


@dataclass(frozen=True)
class ExpansionResult:
    """Fig. 5F. layers: ``(L,)`` hidden layers; classes: ``[C]`` classes with a partner;
    partner: ``[C]`` most-confused class at the output; cor / inc: ``[L, C]`` relative expansion of
    the pair's centroids using COR / INC samples (NaN where a group is empty); cor_mean /
    inc_mean: ``[L]`` nanmean over classes; share_inc_gt_cor: ``[L]`` share of classes (with both
    defined) whose INC ratio exceeds the COR ratio; n_valid: ``[L]`` such classes."""

    layers: tuple
    classes: np.ndarray
    partner: np.ndarray
    cor: np.ndarray
    inc: np.ndarray
    cor_mean: np.ndarray
    inc_mean: np.ndarray
    share_inc_gt_cor: np.ndarray
    n_valid: np.ndarray


def _nanmean_rows(a):
    return np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in a])


def expansion_by_confusion(projected: dict, base, labels, cor, inc, partner) -> ExpansionResult:
    """Relative expansion of every class ``a`` to ``partner[a]`` (``[K]``, −1 = skip) per layer.

    projected: ``{layer: [n, D]}`` LDA-projected activations; base: ``[n, D]`` projected input
    features; labels: ``[n]``; cor / inc: index arrays into the rows.
    """
    y = np.asarray(labels)
    partner = np.asarray(partner)
    classes = np.flatnonzero(partner >= 0)
    if len(classes) == 0:
        raise AnalysisError("no class has a confusion partner (are the labels all one class?)")
    pairs = [(int(a), int(partner[a])) for a in classes]
    masks = {}
    for name, idx in (("cor", cor), ("inc", inc)):
        m = np.zeros(len(y), bool)
        m[np.asarray(idx, dtype=np.int64)] = True
        masks[name] = m
    layers = tuple(projected)
    cor_r = np.array([relative_expansion(projected[l], base, y, pairs, masks["cor"]) for l in layers])
    inc_r = np.array([relative_expansion(projected[l], base, y, pairs, masks["inc"]) for l in layers])
    valid = np.isfinite(cor_r) & np.isfinite(inc_r)
    n_valid = valid.sum(1)
    share = np.where(n_valid > 0, ((inc_r > cor_r) & valid).sum(1) / np.maximum(n_valid, 1), np.nan)
    return ExpansionResult(layers=layers, classes=classes, partner=partner[classes], cor=cor_r, inc=inc_r,
                           cor_mean=_nanmean_rows(cor_r), inc_mean=_nanmean_rows(inc_r),
                           share_inc_gt_cor=share, n_valid=n_valid)


@dataclass(frozen=True)
class TripleExpansion:
    """Fig. 5A–E for one class triple. classes: ``(a, b, c)``; pairs: ``[(a, b), (a, c), (b, c)]``;
    layers: ``(L,)``; distance: ``{group: [L + 1, 3]}`` centroid distances (row 0 = input LDA
    space) for groups ``"all"``, ``"cor"``, ``"inc"``; ratio: ``{group: [L, 3]}`` relative to
    row 0; mean_ratio: ``{group: [L]}`` over the three pairs."""

    classes: tuple
    pairs: list
    layers: tuple
    distance: dict
    ratio: dict
    mean_ratio: dict


def triple_expansion(projected: dict, base, labels, classes, cor, inc) -> TripleExpansion:
    """Pairwise centroid distances and relative expansion of three classes, per group and layer.

    projected: ``{layer: [n, D]}``; base: ``[n, D]``; labels: ``[n]``; classes: three class ids;
    cor / inc: index arrays (the ``"all"`` group uses every row).
    """
    classes = tuple(int(c) for c in classes)
    if len(classes) != 3 or len(set(classes)) != 3:
        raise AnalysisError(f"a class triple needs three different classes, got {classes}")
    y = np.asarray(labels)
    pairs = list(combinations(classes, 2))
    layers = tuple(projected)
    groups = {"all": np.ones(len(y), bool)}
    for name, idx in (("cor", cor), ("inc", inc)):
        m = np.zeros(len(y), bool)
        m[np.asarray(idx, dtype=np.int64)] = True
        groups[name] = m
    dist, ratio, mean = {}, {}, {}
    for g, m in groups.items():
        rows = [[centroid_distance(np.asarray(base)[m], y[m], a, b) for a, b in pairs]]
        rows += [[centroid_distance(np.asarray(projected[l])[m], y[m], a, b) for a, b in pairs] for l in layers]
        d = np.array(rows)
        dist[g] = d
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio[g] = d[1:] / d[:1]
        mean[g] = _nanmean_rows(ratio[g])
    return TripleExpansion(classes=classes, pairs=pairs, layers=layers, distance=dist, ratio=ratio, mean_ratio=mean)
