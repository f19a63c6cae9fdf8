"""Per-layer LDA (Table 2, Fig. 3A) and within-class spectra of LDA-projected activations (Fig. 3B/C).

LDA uses scikit-learn's SVD solver, trained on one split (dev) and tested on another (eval).
Its ``transform`` whitens the within-class covariance, so projected spaces ``H̃_l`` of
different layers (and of the input features ``X̃``) are comparable: the paper's reason for LDA.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..engine import auc_score
from ._checks import AnalysisError, as_labels, as_matrix, check_seed
from .activations import collect_activations, labels_of, resolve_layers, hidden_layers

__all__ = ["fit_lda", "LayerLDA", "LDAResult", "lda_layers", "within_class_spectra", "WithinClassSpectra",
           "pad_spectrum"]


def pad_spectrum(s, length: int) -> np.ndarray:
    """Singular values ``[d]`` zero-padded (exact: the rank is ``d``) or cut to ``[length]``."""
    s = np.asarray(s, dtype=np.float64)
    return np.pad(s, (0, length - len(s))) if len(s) < length else s[:length]


def fit_lda(x, y):
    """Fit ``LinearDiscriminantAnalysis(solver="svd")`` on ``x [n, F]``, ``y [n]`` (≥ 2 classes,
    more samples than classes). Collinearity warnings (dead nodes) are silenced: the SVD solver
    drops null directions by design. BLAS runs single-threaded here: the SVD of a tall
    ``[n, F]`` matrix gains little from threads and slows ~10× when cores are shared."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from threadpoolctl import threadpool_limits
    a = as_matrix(x, "x")
    lab = as_labels(y, len(a))
    classes = np.unique(lab)
    if len(classes) < 2:
        raise AnalysisError(f"LDA needs samples of ≥ 2 classes; got {len(classes)}")
    if len(a) <= len(classes):
        raise AnalysisError(f"LDA needs more samples ({len(a)}) than classes ({len(classes)}); "
                            "use a larger training split")
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore")
        return LinearDiscriminantAnalysis(solver="svd").fit(a, lab)


@dataclass(frozen=True)
class LayerLDA:
    """One layer's LDA. accuracy: eval accuracy; evr: ``[K − 1]`` explained-variance ratio (zero
    padded); projected: ``[n_eval, K − 1]`` eval activations in LDA space (``H̃``);
    predictions: ``[n_eval]``; model: the fitted scikit-learn estimator."""

    layer: object
    accuracy: float
    evr: np.ndarray
    projected: np.ndarray
    predictions: np.ndarray
    model: object


@dataclass(frozen=True)
class LDAResult:
    """Table 2 / Fig. 3A. layers: ``(L,)`` (``"input"`` then hidden ids); accuracy: ``[L]``;
    evr: ``[L, K − 1]``; per_layer: ``{layer: LayerLDA}``; eval_labels: ``[n_eval]``;
    eval_index: ``[n_eval]`` positions in the eval dataset; n_train: dev samples used."""

    layers: tuple
    accuracy: np.ndarray
    evr: np.ndarray
    per_layer: dict
    eval_labels: np.ndarray
    eval_index: np.ndarray
    n_train: int


def _sample(n: int, max_n: int | None, seed: int) -> np.ndarray:
    if max_n is None or n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


def lda_layers(model, train, test, layers=None, *, max_train: int | None = None, max_test: int | None = None,
               seed: int = 0, batch_size: int = 4096, progress: bool = False) -> LDAResult:
    """LDA per layer, trained on ``train`` (dev) activations, tested on ``test`` (eval).

    layers: default ``("input", 1, …, L)``. max_train / max_test subsample each split with
    ``seed`` (None = all). Returns :class:`LDAResult`; the eval accuracy of each layer equals
    ``LinearDiscriminantAnalysis(solver="svd").fit(H_dev, y_dev).score(H_eval, y_eval)``.
    """
    seed = check_seed(seed)
    layers = ("input",) + hidden_layers(model) if layers is None else resolve_layers(model, layers)
    itr = _sample(len(train), max_train, seed)
    ite = _sample(len(test), max_test, seed + 1)
    y_tr, y_te = labels_of(train)[itr], labels_of(test)[ite]
    if len(ite) == 0:
        raise AnalysisError("the test split is empty")
    h_tr = collect_activations(model, train, layers, itr, batch_size=batch_size, progress=progress, desc="LDA dev")
    h_te = collect_activations(model, test, layers, ite, batch_size=batch_size, progress=progress, desc="LDA eval")
    n_comp = len(np.unique(y_tr)) - 1
    per, acc, evr = {}, [], []
    for l in layers:
        m = fit_lda(h_tr[l], y_tr)
        proj = m.transform(h_te[l].astype(np.float64))
        proj = np.pad(proj, ((0, 0), (0, n_comp - proj.shape[1]))) if proj.shape[1] < n_comp else proj
        pred = m.predict(h_te[l].astype(np.float64))
        a = float((pred == y_te).mean())
        e = pad_spectrum(m.explained_variance_ratio_, n_comp)
        per[l] = LayerLDA(l, a, e, proj, pred.astype(np.int64), m)
        acc.append(a)
        evr.append(e)
    return LDAResult(layers=tuple(layers), accuracy=np.array(acc), evr=np.array(evr), per_layer=per,
                     eval_labels=y_te, eval_index=ite, n_train=len(itr))


@dataclass(frozen=True)
class WithinClassSpectra:
    """Fig. 3B. mean: ``[D]`` class-averaged σ₁-normalised spectrum; per_class: ``[C, D]``;
    classes: ``[C]`` class ids used; auc: :func:`auc_score` of ``mean``."""

    mean: np.ndarray
    per_class: np.ndarray
    classes: np.ndarray
    auc: float


def within_class_spectra(projected, labels, *, center: bool = False, min_samples: int = 2) -> WithinClassSpectra:
    """Per class, singular values of the rows of ``projected [n, D]`` of that class, normalised
    by their largest, zero-padded to ``D``, then averaged over classes.

    center: subtract the class mean first (False follows the paper: "SVD on each matrix").
    Classes with fewer than ``min_samples`` rows are skipped (listed out of ``classes``).
    """
    p = as_matrix(projected, "projected")
    y = as_labels(labels, len(p))
    D = p.shape[1]
    if D < 2:
        raise AnalysisError(f"within-class spectra need ≥ 2 dimensions, got {D}")
    rows, used = [], []
    for k in np.unique(y):
        m = p[y == k]
        if len(m) < min_samples:
            continue
        if center:
            m = m - m.mean(0)
        s = np.linalg.svd(m, compute_uv=False)
        if s[0] <= 0:
            continue
        rows.append(pad_spectrum(s / s[0], D))
        used.append(k)
    if not rows:
        raise AnalysisError(f"no class has ≥ {min_samples} samples with a non-zero spectrum")
    per = np.array(rows)
    mean = per.mean(0)
    return WithinClassSpectra(mean=mean, per_class=per, classes=np.array(used, dtype=np.int64),
                              auc=float(auc_score(mean)))
