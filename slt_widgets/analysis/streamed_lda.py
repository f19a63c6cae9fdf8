"""LDA from streamed statistics (Table 2, Fig. 3A) without ever holding the activation matrix.

:func:`streamed_lda` fits ``LinearDiscriminantAnalysis(solver="svd")`` — scikit-learn's SVD solver
with empirical priors — from an :class:`~slt_widgets.engine.stats.ActivationStats` (class counts,
class means and the centred scatter the engine accumulates in one pass, or over a Dask cluster):
the solver's SVD of the scaled centred data is re-derived from the within-class scatter. Equal to
scikit-learn's fit on the same data to ≤ 1e-8 (tests/test_stats.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.stats import ActivationStats
from ._checks import AnalysisError, to_numpy

__all__ = ["StreamedLDA", "streamed_lda"]


def streamed_lda(stats, tol: float = 1e-4) -> "StreamedLDA":
    """LDA fitted from ``stats`` (an :class:`~slt_widgets.engine.stats.ActivationStats` of ``M``
    values per sample): needs ≥ 2 classes present and more samples than classes. tol: singular
    values below it (relative for the between-class step) are dropped, as scikit-learn does."""
    return StreamedLDA.from_stats(stats, tol)


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
            raise AnalysisError(f"LDA needs samples of ≥ 2 classes; got {len(present)}")
        if st.n <= len(present):
            raise AnalysisError(f"LDA needs more samples ({st.n}) than classes ({len(present)})")
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
    a = np.asarray(to_numpy(x), np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise AnalysisError(f"expected [n, {width}] activations, got shape {a.shape}")
    return a
